"""The verdict engine, rule by rule, on hand-made results (pure logic, no pytest run)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_deploycheck.core.model import CheckResult, Gate, Outcome, Severity
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.policy import Policy
from pytest_deploycheck.signoff.engine import Run, Verdict, decide, error_rate_gate, override


def check(
    outcome: Outcome = Outcome.PASSED,
    severity: Severity = Severity.CRITICAL,
    message: str = "",
    suite: str = "health",
) -> CheckResult:
    return CheckResult(
        "health.endpoint", "t.py::t", suite, Phase.IMMEDIATE, severity, outcome, 0.1, message
    )


def run(*checks: CheckResult, **kwargs: object) -> Run:
    kwargs.setdefault("selected", len(checks))
    return Run(checks, **kwargs)  # type: ignore[arg-type]


def test_all_passed_is_go() -> None:
    decision = decide(run(check(), check(severity=Severity.MAJOR)))
    assert decision.verdict is Verdict.GO
    assert decision.reasons == ()


def test_critical_failure_rolls_back() -> None:
    decision = decide(run(check(), check(Outcome.FAILED, message="[health-status] 503")))
    assert decision.verdict is Verdict.ROLLBACK
    assert decision.reasons[0].text == "[critical-failure] health.endpoint: [health-status] 503"


def test_major_failure_holds() -> None:
    decision = decide(run(check(Outcome.FAILED, Severity.MAJOR, "[slow] p95 900 ms")))
    assert decision.verdict is Verdict.HOLD
    assert decision.reasons[0].text.startswith("[major-failure] health.endpoint")


def test_minor_failure_is_advisory() -> None:
    decision = decide(run(check(), check(Outcome.FAILED, Severity.MINOR, "[hsts-missing] x")))
    assert decision.verdict is Verdict.GO
    assert decision.advisories == ("health.endpoint: [hsts-missing] x",)


def test_error_holds_as_could_not_check() -> None:
    decision = decide(run(check(Outcome.ERROR, message="ConnectError: refused")))
    assert decision.verdict is Verdict.HOLD
    assert decision.reasons[0].text.startswith("[could-not-check]")


def test_plain_skip_does_not_block() -> None:
    assert decide(run(check(), check(Outcome.SKIPPED, message="https only"))).verdict is Verdict.GO


def test_unconfigured_suite_holds_once_per_suite() -> None:
    skipped = check(Outcome.SKIPPED, message="[not-configured] no db_url", suite="db")
    decision = decide(run(check(), skipped, skipped))
    assert decision.verdict is Verdict.HOLD
    assert [r.text for r in decision.reasons] == [
        "[not-configured] suite db was skipped: no db_url"
    ]


@pytest.mark.parametrize("selected", [0, None])
def test_nothing_collected_holds(selected: int | None) -> None:
    decision = decide(Run([], selected=selected, phases=[Phase.EXTENDED]))
    assert decision.verdict is Verdict.HOLD
    assert decision.reasons[0].text == "[nothing-collected] no checks selected for extended"


def test_partial_run_holds() -> None:
    decision = decide(run(check(), selected=3))
    assert decision.verdict is Verdict.HOLD
    assert decision.reasons[0].text == "[incomplete] 2 of 3 checks did not run"


def test_run_problem_holds() -> None:
    decision = decide(run(check(), problems=["[interrupted] stopped"]))
    assert decision.verdict is Verdict.HOLD


def test_worst_reason_comes_first() -> None:
    decision = decide(
        run(check(Outcome.ERROR), check(Outcome.FAILED), problems=["[interrupted] stopped"])
    )
    assert decision.verdict is Verdict.ROLLBACK
    assert [r.verdict for r in decision.reasons] == [Verdict.ROLLBACK, Verdict.HOLD, Verdict.HOLD]


@pytest.mark.parametrize(
    ("errors", "status", "verdict"),
    [
        (0, "pass", Verdict.GO),
        (1, "pass", Verdict.GO),
        (5, "hold", Verdict.HOLD),
        (11, "hold", Verdict.HOLD),  # above 10 % but not surely: the interval reaches 6 %
        (25, "rollback", Verdict.ROLLBACK),
    ],
)
def test_error_rate_gate_thresholds(errors: int, status: str, verdict: Verdict) -> None:
    gate = error_rate_gate("error_rate", errors, 100)
    assert gate.status == status
    assert decide(run(check(), gates=[gate])).verdict is verdict


def test_error_rate_without_samples_holds() -> None:
    gate = error_rate_gate("error_rate", 0, 0)
    assert (gate.status, gate.value, gate.samples) == ("hold", None, 0)


def test_too_few_samples_are_inconclusive() -> None:
    gate = error_rate_gate("error_rate", 0, 20)
    assert gate.status == "hold"
    assert gate.samples == 20
    assert gate.high == pytest.approx(0.161, abs=1e-3)
    assert gate.detail.endswith("inconclusive, need about 15 more samples")
    assert error_rate_gate("error_rate", 0, 35).status == "pass"


def test_policy_thresholds_are_configurable() -> None:
    strict = Policy(error_rate_hold=0.0, error_rate_rollback=0.02)
    assert error_rate_gate("e", 10, 100, strict).status == "rollback"


def test_failed_check_on_its_own_gate_takes_the_gate_level() -> None:
    gate = error_rate_gate("error_rate", 5, 100)
    failed = CheckResult(
        "health.error_rate",
        "t",
        "health",
        Phase.IMMEDIATE,
        Severity.CRITICAL,
        Outcome.FAILED,
        message="[error-rate] 5 %",
        gates=(gate,),
    )
    decision = decide(run(failed, gates=[gate]))
    assert decision.verdict is Verdict.HOLD
    assert [r.text.split(" = ")[0] for r in decision.reasons] == ["[gate-hold] error_rate"]


def test_flaky_checks_are_advisories() -> None:
    flaky = CheckResult(
        "health.endpoint",
        "t",
        "health",
        Phase.IMMEDIATE,
        Severity.CRITICAL,
        Outcome.PASSED,
        flaky="GET /api/health passed on attempt 2",
    )
    decision = decide(run(flaky))
    assert decision.verdict is Verdict.GO
    assert decision.advisories == ("[flaky] health.endpoint: GET /api/health passed on attempt 2",)


def test_policy_rejects_inverted_thresholds() -> None:
    with pytest.raises(ValueError, match="error_rate_hold must not exceed error_rate_rollback"):
        Policy(error_rate_hold=0.2, error_rate_rollback=0.1)


def test_severities_are_configurable() -> None:
    lenient = Policy(
        rollback_severities=frozenset(), hold_severities=frozenset({Severity.CRITICAL})
    )
    assert decide(run(check(Outcome.FAILED)), lenient).verdict is Verdict.HOLD


def test_gate_status_is_validated() -> None:
    with pytest.raises(ValueError, match="gate status"):
        Gate("x", 1.0, 1.0, "fine")


def test_override_keeps_the_original_reasons() -> None:
    decision = override(decide(run(check(Outcome.ERROR))), Verdict.GO, "known outage upstream")
    assert decision.verdict is Verdict.GO
    assert decision.reasons[0].text == "[override] HOLD -> GO: known outage upstream"
    assert decision.reasons[1].text.startswith("[could-not-check]")


def test_exit_codes() -> None:
    assert [v.exit_code for v in Verdict] == [0, 10, 20]


def test_one_cause_is_one_reason_naming_each_check() -> None:
    down = "[unreachable] GET http://127.0.0.1:9{}: ConnectError: refused"
    endpoint = check(Outcome.FAILED, message=down.format("/healthz"))
    endpoints = replace(endpoint, id="health.endpoints", message=down.format("/graph?x=1"))
    other = replace(endpoint, id="health.version", message="[version-mismatch] 1.0")
    decision = decide(run(endpoint, endpoints, other))
    assert [r.text for r in decision.reasons] == [
        "[critical-failure] health.endpoint and 1 more (health.endpoints): "
        + down.format("/healthz"),
        "[critical-failure] health.version: [version-mismatch] 1.0",
    ]
    elsewhere = replace(endpoints, message="[unreachable] GET http://127.0.0.1:8/graph: refused")
    assert len(decide(run(endpoint, elsewhere)).reasons) == 2  # another server: another cause


def test_gates_that_read_alike_are_one_reason() -> None:
    gates = [
        Gate(f"latency.p95 GET {path}", None, 1000.0, "hold", "no sample succeeded", unit="ms")
        for path in ("/a", "/b")
    ]
    gates.append(Gate("error_rate", 0.25, 0.1, "rollback", unit="ratio"))
    decision = decide(run(check(), gates=gates))
    assert [r.text for r in decision.reasons] == [
        "[gate-rollback] error_rate = 25.00% (limit 10.00%)",
        "[gate-hold] latency.p95 GET /a, /b = n/a (limit 1000 ms): no sample succeeded",
    ]
