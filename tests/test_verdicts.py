"""Every verdict rule, end to end: pytest runs checks and the sign-off decides."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from tests.conftest import Deploy, SignOffReader


def deploy_checks(
    deploy: Deploy, source: str, *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    run = deploy("--deploy-target=local", *args, checks=source)
    return run.result, run.signoff


def test_go_when_everything_passes(deploy: Deploy) -> None:
    result, document = deploy_checks(deploy, "def test_a(): pass\ndef test_b(): pass\n")
    assert result.ret == 0
    assert document["verdict"] == "GO"
    assert document["reasons"] == []
    assert [c["outcome"] for c in document["checks"]] == ["passed", "passed"]
    result.stdout.fnmatch_lines(["*deploycheck sign-off*", "VERDICT: GO (exit 0) - target local"])


def test_smoke_failure_in_immediate_rolls_back(deploy: Deploy) -> None:
    source = "def test_login():\n    assert False, '[login-failed] dashboard did not open'\n"
    result, document = deploy_checks(deploy, source)
    assert result.ret == 20
    assert document["verdict"] == "ROLLBACK"
    assert document["checks"][0]["severity"] == "critical"
    assert document["checks"][0]["message"] == "[login-failed] dashboard did not open"
    assert document["reasons"] == [
        "[critical-failure] checks.login: [login-failed] dashboard did not open"
    ]
    result.stdout.fnmatch_lines(
        ["VERDICT: ROLLBACK (exit 20) - target local", "  [critical-failure]*"]
    )


def test_major_failure_holds(deploy: Deploy) -> None:
    source = """
import pytest
@pytest.mark.short_term
def test_latency():
    pytest.fail("[latency-budget] p95 900 ms over 500 ms")
"""
    result, document = deploy_checks(deploy, source)
    assert result.ret == 10
    assert document["checks"][0]["severity"] == "major"
    assert document["reasons"] == [
        "[major-failure] checks.latency: [latency-budget] p95 900 ms over 500 ms"
    ]


def test_minor_failure_is_listed_but_go(deploy: Deploy) -> None:
    source = """
import pytest
@pytest.mark.deploy_check(id="tls.hsts", severity="minor")
def test_hsts():
    assert False, "[hsts-missing] no Strict-Transport-Security header"
def test_ok(): pass
"""
    result, document = deploy_checks(deploy, source)
    assert (result.ret, document["verdict"]) == (0, "GO")
    assert document["advisories"] == [
        "tls.hsts: [hsts-missing] no Strict-Transport-Security header"
    ]


def test_each_check_keeps_the_level_it_calls_for(deploy: Deploy) -> None:
    """Six checks stopped by the same cause share one reason line, which names only a few of
    them; each check still records its own level, which reports read (Allure's level label)."""
    alike = "".join(
        f"def test_down_{n}():\n    raise RuntimeError('[unreachable] the target is down')\n"
        for n in range(6)
    )
    minor = "@pytest.mark.deploy_check(severity='minor')\ndef test_hsts():\n    assert False\n"
    result, document = deploy_checks(deploy, f"import pytest\n{alike}{minor}")
    assert result.ret == 10
    [reason] = document["reasons"]
    assert "and 5 more" in reason
    levels = {c["id"]: c.get("level") for c in document["checks"]}
    assert levels == {**{f"checks.down_{n}": "HOLD" for n in range(6)}, "checks.hsts": None}


def test_severity_override_from_config(deploy: Deploy, pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", deploycheck='[severity]\n"checks.flaky*" = "minor"\n')
    result, _ = deploy_checks(deploy, "def test_flaky_widget():\n    assert False\n")
    assert result.ret == 0


def test_the_config_overrides_a_checks_own_severity(deploy: Deploy) -> None:
    source = """
import pytest

@pytest.mark.deploy_check(id="api.reports", severity="critical")
def test_reports():
    assert False, "[report-slow] over budget"

@pytest.mark.deploy_check(id="api.orders", severity="critical")
def test_orders(): pass

@pytest.mark.short_term
def test_search(): pass
"""
    config = '[severity]\n"api.rep*" = "minor"\n[phase_severity]\nshort_term = "critical"\n'
    run = deploy("--deploy-target=local", checks=source, config=config)
    assert (run.code, run.signoff["verdict"]) == (0, "GO")  # the critical check is advisory now
    sources = {c["id"]: (c["severity"], c["severity_source"]) for c in run.signoff["checks"]}
    assert sources == {
        "api.reports": ("minor", 'config: severity."api.rep*"'),
        "api.orders": ("critical", "check"),
        "checks.search": ("critical", "config: phase_severity.short_term"),
    }


def test_could_not_check_holds(deploy: Deploy) -> None:
    source = """
import pytest
from pytest_deploycheck import CouldNotCheck

@pytest.fixture
def target():
    raise ConnectionRefusedError("[Errno 111] Conn refused")

def test_setup_error(target): pass

def test_raised():
    raise CouldNotCheck("[db-unreachable] timeout after 5 s")

def test_crashed():
    {}["missing"]
"""
    result, document = deploy_checks(deploy, source)
    assert result.ret == 10
    assert [c["outcome"] for c in document["checks"]] == ["error", "error", "error"]
    assert document["reasons"] == [
        "[could-not-check] checks.setup_error: ConnectionRefusedError: [Errno 111] Conn refused",
        "[could-not-check] checks.raised: [db-unreachable] timeout after 5 s",
        "[could-not-check] checks.crashed: KeyError: 'missing'",
    ]


def test_error_rate_above_ten_percent_rolls_back(deploy: Deploy) -> None:
    source = "def test_burst(deploy_record):\n    deploy_record.error_rate('error_rate', 30, 100)\n"
    result, document = deploy_checks(deploy, source)
    assert result.ret == 20
    gate = document["gates"][0]
    assert (gate["name"], gate["value"], gate["threshold"]) == ("error_rate", 0.3, 0.1)
    assert (gate["status"], gate["samples"], gate["check"]) == ("rollback", 100, "checks.burst")
    assert document["reasons"] == [
        "[gate-rollback] error_rate = 30.00% (limit 10.00%): 30 of 100 requests failed"
        " (lower 99 % bound 19.8%, upper 95 % 39.6%)"
    ]


def test_error_rate_between_one_and_ten_percent_holds(deploy: Deploy) -> None:
    source = "def test_burst(deploy_record):\n    deploy_record.error_rate('error_rate', 5, 100)\n"
    result, document = deploy_checks(deploy, source)
    assert (result.ret, document["gates"][0]["status"]) == (10, "hold")


def test_unconfigured_suite_holds(deploy: Deploy) -> None:
    result, document = deploy_checks(deploy, "def test_q(db): pass\n")
    assert result.ret == 10
    assert document["reasons"] == [
        "[not-configured] suite checks was skipped: target local has no db_url"
    ]


def test_destructive_checks_skip_without_permission(
    deploy: Deploy, pytester: pytest.Pytester
) -> None:
    source = (
        "import pytest\n@pytest.mark.destructive\ndef test_write(): pass\ndef test_ok(): pass\n"
    )
    result, document = deploy_checks(deploy, source)
    assert (result.ret, document["checks"][0]["outcome"]) == (0, "skipped")
    assert document["checks"][0]["message"].startswith("[destructive-not-allowed]")
    result = pytester.runpytest("--deploy-target=local", "--deploy-allow-destructive")
    result.assert_outcomes(passed=2)


def test_partial_run_holds(deploy: Deploy) -> None:
    source = (
        "import pytest\n@pytest.mark.short_term\ndef test_a(): assert False\ndef test_b(): pass\n"
    )
    result, document = deploy_checks(deploy, source, "-x")
    assert result.ret == 10
    assert "[incomplete] 1 of 2 checks did not run" in document["reasons"]


def test_collection_error_holds(deploy: Deploy, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken="import nonexistent_module_xyz\n")
    result, document = deploy_checks(deploy, "def test_a(): pass\n")
    assert result.ret == 10
    assert "[collection-error] test_broken.py failed to collect" in document["reasons"]


def test_keyboard_interrupt_writes_hold(deploy: Deploy) -> None:
    source = "def test_a(): pass\ndef test_b(): raise KeyboardInterrupt\ndef test_c(): pass\n"
    result, document = deploy_checks(deploy, source)
    assert result.ret == 10
    assert document["verdict"] == "HOLD"
    assert document["reasons"][0] == "[interrupted] the run was interrupted before it ended"
    assert [c["id"] for c in document["checks"]] == ["checks.a"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_writes_hold(pytester: pytest.Pytester, read_signoff: SignOffReader) -> None:
    source = f"""
import os, signal
def test_a(): pass
def test_b(): os.kill(os.getpid(), {int(signal.SIGTERM)})
def test_c(): pass
"""
    pytester.makepyfile(test_checks=source)
    result = pytester.runpytest_subprocess("--deploy-target=local")
    assert result.ret == 10
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["reasons"][0] == "[interrupted] the run was stopped by SIGTERM before it ended"
    assert [c["outcome"] for c in document["checks"]] == ["passed"]


def test_signoff_path_option(pytester: pytest.Pytester, read_signoff: SignOffReader) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest("--deploy-signoff=out/signoff.json")
    assert result.ret == 0
    assert read_signoff(pytester.path / "out" / "signoff.json")["verdict"] == "GO"
    assert not (pytester.path / "deploycheck-signoff.json").exists()


def test_ordinary_runs_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): assert False\n")
    result = pytester.runpytest()
    assert result.ret == 1
    assert "sign-off" not in result.stdout.str()
    assert not (pytester.path / "deploycheck-signoff.json").exists()


def test_collect_only_writes_no_signoff(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n@pytest.mark.extended\ndef test_a(): pass\ndef test_b(): pass\n"
    )
    result = pytester.runpytest("--deploy-phase=immediate", "--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*::test_b", "1/2 tests collected (1 deselected)*"])
    assert not (pytester.path / "deploycheck-signoff.json").exists()


def test_job_summary_for_the_pipeline(
    deploy: Deploy, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for name, value in {  # as GitHub Actions sets them
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "42",
        "DEPLOYCHECK_ARTIFACT": "deploycheck",
    }.items():
        monkeypatch.setenv(name, value)
    source = (
        "import pytest\n@pytest.mark.short_term\n"
        "def test_a(): assert False, '[slow] p95'\ndef test_b(): pass\n"
    )
    deploy_checks(deploy, source)
    text = summary.read_text()
    assert text.startswith("earlier step\n## Deployment sign-off: HOLD\n\n```text\nVERDICT: HOLD")
    assert "  HOLD     checks.a: [slow] p95\n" in text  # the decision block, as in the terminal
    assert "| immediate | checks | 1 | 0 | 0 | 0 |" in text
    assert "| short_term | checks | 0 | 1 | 0 | 0 |" in text
    assert text.endswith(
        "Evidence: `deploycheck-signoff.json`, in the artifact `deploycheck` of"
        " [run 42](https://github.com/acme/shop/actions/runs/42).\n"
    )


def test_junit_xml_carries_the_verdict(deploy: Deploy, pytester: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    source = "def test_a(): assert False, '[x] broken'\n"
    deploy_checks(deploy, source, "--junitxml=junit.xml")
    properties = {
        p.get("name"): p.get("value")
        for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")
    }
    assert properties["deploycheck_verdict"] == "ROLLBACK"
    assert properties["deploycheck_exit_code"] == "20"


def test_a_hold_exits_with_the_status_asked_for(deploy: Deploy, pytester: pytest.Pytester) -> None:
    """For an engine that pauses on its own (Argo Rollouts' inconclusive analysis): the HOLD
    stays a HOLD in the sign-off; only the process's status changes."""
    holding = "def test_q(db): pass\n"  # no db_url: not configured, a HOLD
    result, document = deploy_checks(deploy, holding, "--deploy-hold-exit=0")
    assert (result.ret, document["verdict"], document["exit_code"]) == (0, "HOLD", 10)
    result.stdout.fnmatch_lines(["the process exits 0 on this HOLD (--deploy-hold-exit)"])
    failing = "def test_login():\n    assert False, '[login-failed] no'\n"
    assert deploy_checks(deploy, failing, "--deploy-hold-exit=0")[0].ret == 20  # not a ROLLBACK
    pytester.makepyfile(test_checks=holding)
    refused = pytester.runpytest("--deploy-target=local", "--deploy-hold-exit=ten")
    assert refused.ret == 4
    assert "--deploy-hold-exit: 'ten' is not an exit status (0 to 255)" in refused.stderr.str()
