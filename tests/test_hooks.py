"""The pytest_deploycheck_* hooks, each implemented by a conftest."""

from __future__ import annotations

import pytest

from tests.conftest import SignOffReader


def test_gates_hook_adds_a_gate(pytester: pytest.Pytester, read_signoff: SignOffReader) -> None:
    pytester.makeconftest(
        """
from pytest_deploycheck import Gate
from pytest_deploycheck.signoff.engine import error_rate_gate

def pytest_deploycheck_gates(config, checks):
    assert [c.id for c in checks] == ["checks.a"]
    return [error_rate_gate("monitoring.error_rate", 25, 100), Gate("p95_ms", 120.0, 500.0, "pass")]
"""
    )
    pytester.makepyfile(test_checks="def test_a(): pass\n")
    result = pytester.runpytest("--deploy-target=local")
    assert result.ret == 20
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert [g["name"] for g in document["gates"]] == ["monitoring.error_rate", "p95_ms"]
    assert document["reasons"][0].startswith(
        "[gate-rollback] monitoring.error_rate = 25.00% (limit 10.00%)"
    )


def test_override_hook_replaces_the_verdict(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makeconftest(
        """
from pytest_deploycheck.signoff.engine import Verdict

def pytest_deploycheck_override_verdict(config, decision):
    if decision.verdict is Verdict.HOLD:
        return Verdict.GO, "staging tolerates unconfigured suites"
    return None
"""
    )
    pytester.makepyfile(test_checks="def test_needs_db(db): pass\n")
    result = pytester.runpytest("--deploy-target=local")
    assert result.ret == 0
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "GO"
    assert document["reasons"][0] == (
        "[override] HOLD -> GO: staging tolerates unconfigured suites"
    )
    assert document["reasons"][1].startswith("[not-configured]")


def test_override_hook_returning_none_keeps_the_verdict(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "def pytest_deploycheck_override_verdict(config, decision):\n    return None\n"
    )
    pytester.makepyfile(test_checks="def test_a(): assert False\n")
    assert pytester.runpytest("--deploy-target=local").ret == 20


def test_signoff_hook_receives_the_final_signoff(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import json, pathlib

def pytest_deploycheck_signoff(config, signoff):
    written = json.loads(pathlib.Path("deploycheck-signoff.json").read_text())
    pathlib.Path("notified.txt").write_text(
        f"{signoff.decision.verdict.value} {signoff.target_name} {written['verdict']}"
    )
"""
    )
    pytester.makepyfile(test_checks="def test_a(): pass\n")
    pytester.runpytest("--deploy-target=local")
    assert (pytester.path / "notified.txt").read_text() == "GO local GO"


def test_hooks_run_once_in_the_xdist_controller(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
def pytest_deploycheck_signoff(config, signoff):
    with open("calls.txt", "a") as out:
        out.write(("worker" if hasattr(config, "workerinput") else "controller") + "\\n")
"""
    )
    pytester.makepyfile(
        test_checks="import pytest\n@pytest.mark.parametrize('n', range(4))\ndef test_a(n): pass\n"
    )
    assert pytester.runpytest_subprocess("--deploy-target=local", "-n", "2").ret == 0
    assert (pytester.path / "calls.txt").read_text() == "controller\n"
