"""Under pytest-xdist the controller alone decides and writes: the same sign-off as a serial run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SignOffReader

MIXED = """
import pytest
from pytest_deploycheck import CouldNotCheck

@pytest.mark.parametrize("n", range(6))
def test_pass(n): pass

def test_critical(): assert False, "[health-status] 503"

@pytest.mark.short_term
def test_major(): pytest.fail("[slow] p95 over budget")

@pytest.mark.deploy_check(severity="minor")
def test_minor(): assert False, "[hsts-missing] no header"

def test_error(): raise CouldNotCheck("[db-unreachable] refused")

def test_skip(): pytest.skip("https only")

def test_rate(deploy_record):
    deploy_record.error_rate("error_rate", 3, 100)
    deploy_record.finding("rls_disabled_in_public", "public.notes", "RLS is off")
"""


def without_timing(document: dict[str, Any]) -> dict[str, Any]:
    checks = [{k: v for k, v in c.items() if k != "duration_s"} for c in document["checks"]]
    timed = ("started_at", "finished_at", "checks", "digest")  # the digest covers the times
    rest = {k: v for k, v in document.items() if k not in timed}
    return {**rest, "checks": checks}


def test_same_verdict_and_json_with_two_workers(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    serial = pytester.runpytest("--deploy-target=local", "--deploy-signoff=serial.json")
    parallel = pytester.runpytest_subprocess(
        "--deploy-target=local", "--deploy-signoff=parallel.json", "-n", "2"
    )
    assert serial.ret == parallel.ret == 20
    one = read_signoff(pytester.path / "serial.json")
    two = read_signoff(pytester.path / "parallel.json")
    assert without_timing(one) == without_timing(two)
    assert len(two["checks"]) == 12
    assert two["checks"][-1]["findings"] == [
        {"rule": "rls_disabled_in_public", "object": "public.notes", "message": "RLS is off"}
    ]
    parallel.stdout.fnmatch_lines(["*deploycheck sign-off*", "VERDICT: ROLLBACK (exit 20)*"])
    assert not list(pytester.path.glob("gw*"))


def test_empty_selection_holds_under_xdist(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess("--deploy-phase=extended", "-n", "2")
    assert result.ret == 10
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["reasons"] == ["[nothing-collected] no checks selected for extended"]


def test_sigterm_to_the_controller_writes_hold(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makepyfile(
        """
import os, signal, time
def test_stop_the_controller():
    controller = os.getppid()  # a worker's parent is the xdist controller
    os.kill(controller, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while os.getppid() == controller and time.monotonic() < deadline:
        time.sleep(0.05)  # until the controller, stopping, takes this worker down
def test_other(): pass
"""
    )
    result = pytester.runpytest_subprocess("--deploy-target=local", "-n", "2")
    assert result.ret == 10
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["reasons"][0] == "[interrupted] the run was stopped by SIGTERM before it ended"
