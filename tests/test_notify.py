"""Notifications: the decision block reaches a webhook (a real one on loopback, through
Apprise's JSON notifier), redacted, for the verdicts asked for; a receiver that fails never
changes the verdict or the exit code."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Deploy, LoopbackServer, Route

SECRET = "hunter2-Sm0ke"
FAILING = f"""
def test_login():
    assert False, "[login-failed] the dashboard refused {SECRET}"
"""
CONFIG = """
[targets.local.credentials]
password = "${SMOKE_PASSWORD}"

[notify]
urls = ["${HOOK_URL}"]
"""


@pytest.fixture
def hook(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    server.routes["/hook"] = Route(200, "{}")
    monkeypatch.setenv("HOOK_URL", server.url.replace("http://", "json://") + "/hook")
    monkeypatch.setenv("SMOKE_PASSWORD", SECRET)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    return server


def posts(server: LoopbackServer) -> list[dict[str, str]]:
    return [
        json.loads(body)
        for (method, path, _), body in zip(server.requests, server.bodies, strict=True)
        if (method, path) == ("POST", "/hook")
    ]


def test_a_rollback_is_sent_with_its_causes_and_the_run_redacted(
    deploy: Deploy, hook: LoopbackServer
) -> None:
    run = deploy("--deploy-target=local", config=CONFIG, checks=FAILING)
    assert run.code == 20
    [sent] = posts(hook)
    assert sent["title"] == "deploycheck: ROLLBACK - local"
    lines = sent["message"].splitlines()
    assert lines[0] == "VERDICT: ROLLBACK (exit 20) - target local"
    assert lines[1].startswith("next: roll back now, then: deploycheck postmortem ")
    assert "  ROLLBACK checks.login: [login-failed] the dashboard refused ***" in lines
    assert lines[-1] == "the run: https://github.example/acme/app/actions/runs/42"
    assert SECRET not in json.dumps(sent)
    assert run.signoff["notifications"] == [{"url": "json://***", "sent": True, "error": ""}]
    assert hook.url.split("//")[1] not in json.dumps(run.signoff)  # the URL is a credential


def test_a_go_is_not_sent_unless_asked(deploy: Deploy, hook: LoopbackServer) -> None:
    passing = "def test_ok(): pass\n"
    assert deploy("--deploy-target=local", config=CONFIG, checks=passing).code == 0
    assert posts(hook) == []
    every = CONFIG.replace('urls = ["${HOOK_URL}"]', 'urls = ["${HOOK_URL}"]\non = ["go"]')
    assert deploy("--deploy-target=local", config=every, checks=passing).code == 0
    assert [p["title"] for p in posts(hook)] == ["deploycheck: GO - local"]


def test_a_failing_receiver_never_changes_the_verdict(deploy: Deploy, hook: LoopbackServer) -> None:
    hook.routes["/hook"] = Route(500, "down")
    run = deploy("--deploy-target=local", config=CONFIG, checks=FAILING)
    assert (run.code, run.signoff["verdict"]) == (20, "ROLLBACK")
    [note] = run.signoff["notifications"]
    assert note == {
        "url": "json://***",
        "sent": False,
        "error": "the service refused or did not answer",
    }
    run.result.stdout.fnmatch_lines(
        ["deploycheck: the notification to json://*** failed (*); the verdict stands"]
    )


def test_a_literal_notification_url_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", deploycheck='[notify]\nurls = ["slack://T000/B000/XXXX"]\n')
    pytester.makepyfile(test_checks="def test_ok(): pass\n")
    result = pytester.runpytest("--deploy-target=local")
    assert result.ret == 4
    [line] = [line for line in result.stderr.lines if line.strip()]
    assert 'notify.urls[0] must be "${ENV_VAR}"' in line
    assert "XXXX" not in result.stdout.str() + result.stderr.str()
