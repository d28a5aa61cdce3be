"""Watch-window statistics on known cases (pure logic)."""

from __future__ import annotations

import pytest

from pytest_deploycheck.core.durations import parse_duration
from pytest_deploycheck.window.judge import Sample, WindowPolicy, judge

POLICY = WindowPolicy()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1.5", 1.5), ("250ms", 0.25)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def rounds(
    errors_per_round: list[int], requests: int = 100, outcome: str = "passed"
) -> list[Sample]:
    return [
        Sample(r, float(r), "health.error_rate", outcome, "critical", e, requests)
        for r, e in enumerate(errors_per_round)
    ]


def test_zero_failures_in_thirty_samples_cannot_prove_one_percent() -> None:
    judgement = judge(rounds([0], requests=30), POLICY)
    gate = judgement.gates[0]
    assert gate.status == "hold"
    assert "a GO needs about" in gate.detail


def test_enough_clean_samples_pass() -> None:
    judgement = judge(rounds([0] * 12), POLICY)  # 1,200 requests, none failed
    assert [g.status for g in judgement.gates] == ["pass", "pass"]
    assert not judgement.stop_early
    assert judge(rounds([0] * 4), POLICY).gates[0].status == "hold"  # 400 are not enough


def test_a_steady_five_percent_holds_and_never_stops_the_window() -> None:
    for n in range(1, 61):  # a 30-minute window of 30 s rounds, looked at after each
        judgement = judge(rounds([5] * n), POLICY)
        assert not judgement.stop_early
        assert judgement.gates[0].status == "hold"
    assert "no number of requests proves it under 1%" in judgement.gates[0].detail


def test_a_rate_surely_above_the_threshold_stops_early_and_says_why() -> None:
    assert not judge(rounds([20]), POLICY).stop_early  # 20 of 100: not sure yet
    judgement = judge(rounds([20, 20]), POLICY)
    assert judgement.stop_early
    assert judgement.gates[0].status == "rollback"
    assert judgement.why.startswith("the error rate's lower 99 % bound 10.")
    assert judgement.why.endswith("> 10% after 200 requests (40 failed, 20.0%)")


def test_no_false_alarm_at_exactly_the_rollback_threshold() -> None:
    # At exactly 10 % errors, looking after every round never proves the rate above 10 %.
    assert not any(judge(rounds([10] * n), POLICY).stop_early for n in range(1, 120))


def test_consecutive_critical_failures_stop_early() -> None:
    samples = [Sample(r, float(r), "login.browser", "failed", "critical") for r in range(3)]
    judgement = judge(samples, POLICY)
    assert judgement.stop_early
    assert judgement.why == "login.browser failed 3 rounds in a row"
    assert judgement.gates[0].status == "rollback"


def test_sporadic_failures_hold() -> None:
    outcomes = ["passed", "failed", "passed"]
    samples = [Sample(r, float(r), "login.browser", o, "critical") for r, o in enumerate(outcomes)]
    judgement = judge(samples, POLICY)
    assert not judgement.stop_early
    assert (judgement.gates[0].status, judgement.gates[0].detail) == (
        "hold",
        "failed in 1 of 3 rounds",
    )


def test_a_rate_check_failing_at_hold_level_every_round_only_holds() -> None:
    samples = [
        Sample(r, float(r), "health.error_rate", "failed", "critical", 3, 100, "hold")
        for r in range(5)
    ]
    judgement = judge(samples, POLICY)
    assert not judgement.stop_early
    assert {g.status for g in judgement.gates} == {"hold"}


def test_a_check_skipped_every_round_has_no_window_gate() -> None:
    """A skipped check is shown as skipped, never as a window it passed (0 % failed, n=4)."""
    skipped = [Sample(r, float(r), "health.tls_certificate", "skipped", "major") for r in range(4)]
    sometimes = [
        Sample(r, float(r), "login.browser", o, "critical")
        for r, o in enumerate(["skipped", "passed", "failed", "skipped"])
    ]
    judgement = judge(skipped + sometimes, POLICY)
    assert [(g.name, g.samples, g.detail) for g in judgement.gates] == [
        ("window login.browser", 2, "failed in 1 of 2 rounds")  # the rounds it ran
    ]
