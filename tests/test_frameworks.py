"""The health and login suites on servers nobody here wrote, configured only as the README says:
a healthy app must never be rolled back for how its framework works.

- Prometheus' own HTTP API reports its version two levels down (``data.version`` of
  ``/api/v1/status/buildinfo``): read with a JMESPath ``version_field``.
- Flask-Security-Too's login (``tests/flask_security_site``), on Flask's default session: a
  signed cookie. Logging out clears the browser's copy; the server keeps nothing to end, so a
  copy taken before stays good ("the session is implemented on top of cookies", Flask's docs).
  HOLD until ``sessions = "stateless"`` says so; with server-side sessions (Flask-Session)
  logging out ends the session, and a deploy that goes back to cookies is rolled back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Deploy, file_holds
from tests.flask_security_site import running_flask_security
from tests.jupyter_site import running_jupyter
from tests.served import Site, free_port

PASSWORD = "Sm0ke pw/&é+%"  # every character an encoding treats specially


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in document["checks"]}


# -- the version, where a framework puts it -----------------------------------------------------


def health_run(deploy: Deploy, url: str, version: str, **health: str) -> tuple[int, Any]:
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in health.items())
    config = (
        f'[targets.t]\nbase_url = "{url}"\nversion = "{version}"\n'
        f'[targets.t.suites.health]\npaths = ["/-/healthy"]\n'
        f'version_url = "/api/v1/status/buildinfo"\n{table}\n'
    )
    run = deploy("--deploy-target=t", "--deploy-suites=health", config=config)
    return run.code, run.signoff


def test_a_version_two_levels_down(deploy: Deploy, prometheus: str) -> None:
    answer = httpx.get(f"{prometheus}/api/v1/status/buildinfo").json()
    running = answer["data"]["version"]  # {"status": "success", "data": {"version": ...}}
    code, document = health_run(deploy, prometheus, running, version_field="data.version")
    assert by_id(document)["health.version"]["outcome"] == "passed", document["reasons"]
    code, document = health_run(deploy, prometheus, "0.0.1", version_field="data.version")
    assert code == 20
    assert by_id(document)["health.version"]["message"] == (
        f"[version-mismatch] expected 0.0.1, got {running} (JSON field 'data.version')"
    )
    # Where the field is not, the whole answer is never taken for the version: HOLD, naming
    # what the answer has.
    code, document = health_run(deploy, prometheus, running, version_field="build.version")
    version = by_id(document)["health.version"]
    assert version["outcome"] == "error"
    assert version["message"].startswith("[version-field-missing] http://127.0.0.1:")
    assert "without 'build.version' (its top-level keys: status, data)" in version["message"]
    assert code == 10, document["reasons"]


# -- sessions, where a framework keeps them -----------------------------------------------------


def login_run(
    deploy: Deploy,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    *args: str,
    username: str | None = "smoke@deploycheck.dev",
    password: str = PASSWORD,
    **login: Any,
) -> Any:
    monkeypatch.setenv("SMOKE_PASSWORD", password)
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in login.items())
    user = f'username = "{username}"\n' if username is not None else ""
    config = (
        f'artifacts = "artifacts"\n[targets.t]\nbase_url = "{url}"\n'
        f'[targets.t.credentials]\n{user}password = "${{SMOKE_PASSWORD}}"\n'
        f"[targets.t.suites.login]\n{table}\n"
    )
    return deploy("--deploy-target=t", "--deploy-suites=login", *args, config=config)


BOTH = {"modes": ["browser", "api"]}
API = {"modes": ["api"]}  # where only the session gate is asked: it reads whichever mode ran


def test_a_signed_cookie_session_is_a_hold_acknowledged_in_one_line(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    with running_flask_security(tmp_path / "site", "smoke@deploycheck.dev", PASSWORD) as site:
        held = login_run(deploy, monkeypatch, site.base_url, **BOTH)
        acknowledged = login_run(deploy, monkeypatch, site.base_url, sessions="stateless")
    assert held.code == 10, held.signoff["reasons"]
    [reason] = held.signoff["reasons"]
    assert reason.startswith(
        "[major-failure] login.session_revocation: [session-not-revoked] a copy of the session"
        f" taken before logging out still opens {site.base_url}/ after it"
    )
    assert reason.endswith('say so: sessions = "stateless"')
    assert acknowledged.code == 0, acknowledged.signoff["reasons"]
    assert [a for a in acknowledged.signoff["advisories"] if "[session-not-revoked]" in a]
    outcomes = {c["id"]: c["outcome"] for c in acknowledged.signoff["checks"]}
    assert outcomes.pop("login.session_revocation") == "failed"  # said, as an advisory
    # Flask-Security tells an unknown user apart unless SECURITY_RETURN_GENERIC_RESPONSES is
    # set (its documentation): true, and minor, so an advisory as well.
    assert outcomes.pop("login.user_enumeration") == "failed"
    assert outcomes.pop("login.api") == "skipped"  # the browser alone, this time
    assert set(outcomes.values()) == {"passed"}


def test_a_deploy_that_stops_the_server_ending_sessions_is_rolled_back(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    port = free_port()
    site = tmp_path / "site"
    with running_flask_security(site, "smoke@deploycheck.dev", PASSWORD, True, port) as served:
        before = login_run(deploy, monkeypatch, served.base_url, "--deploy-state=state", **API)
    assert before.code == 0, before.signoff["reasons"]  # server-side sessions: revoked
    with running_flask_security(site, "smoke@deploycheck.dev", PASSWORD, False, port) as served:
        after = login_run(
            deploy,
            monkeypatch,
            served.base_url,
            "--deploy-state=state",
            sessions="stateless",
            **API,
        )
    assert after.code == 20, after.signoff["reasons"]
    assert [r for r in after.signoff["reasons"] if "login.session_revocation" in r]


# -- a password and nothing else ----------------------------------------------------------------

JUPYTER_PASSWORD = "Jup pw/&é+%K3rnel"
JUPYTER_CORE = "K3rnel"  # every textual encoding keeps it; base64 is searched for as itself
JUPYTER = {
    "modes": ["browser", "api"],
    "protected_url": "/api/status",  # 403 signed out: the server's own API
    "logout_url": "/logout",
    "api_logout_url": "/logout",
    "api_logout_method": "GET",
    "sessions": "stateless",  # a signed cookie, as its documentation says
}


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_jupyter(tmp_path_factory.mktemp("jupyter"), JUPYTER_PASSWORD) as site:
        yield site


def test_a_password_only_login_is_go_in_both_modes(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch, jupyter: Site
) -> None:
    run = login_run(
        deploy, monkeypatch, jupyter.base_url, username=None, password=jupyter.password, **JUPYTER
    )
    assert (run.code, run.signoff["reasons"]) == (0, []), run.result.stdout.str()
    outcomes = {c["id"]: c["outcome"] for c in run.signoff["checks"]}
    assert outcomes.pop("login.session_revocation") == "failed"  # acknowledged: an advisory
    assert outcomes.pop("login.user_enumeration") == "skipped"  # no user to tell apart
    assert set(outcomes.values()) == {"passed"}, outcomes


def test_a_wrong_password_on_a_password_only_login_is_rollback_and_never_written(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch, jupyter: Site, pytester: pytest.Pytester
) -> None:
    configured = f"not-{jupyter.password}"
    run = login_run(
        deploy, monkeypatch, jupyter.base_url, username=None, password=configured, **JUPYTER
    )
    assert run.code == 20, run.signoff["reasons"]
    reasons = run.signoff["reasons"]
    assert [r for r in reasons if r.startswith("[critical-failure] login.browser: [login-failed]")]
    assert [r for r in reasons if r.startswith("[critical-failure] login.api: [api-login-failed]")]
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix != ".py"]
    assert [p.name for p in written if p.name.startswith("trace-")], "no evidence was kept"
    forms = [JUPYTER_CORE, base64.b64encode(configured.encode()).decode()]
    output = run.result.stdout.str() + run.result.stderr.str()
    assert not any(form in output for form in forms)
    assert [p.name for p in written if any(file_holds(p, form) for form in forms)] == []
