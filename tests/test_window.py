"""Watch-window statistics on known cases (pure logic)."""

from __future__ import annotations

import pytest

from pytest_deploycheck.core.durations import parse_duration
from pytest_deploycheck.window.judge import Sample, WindowPolicy, judge, sprt

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
    assert "inconclusive, need about" in gate.detail


def test_enough_clean_samples_pass() -> None:
    judgement = judge(rounds([0] * 4), POLICY)  # 400 requests, none failed
    assert [g.status for g in judgement.gates] == ["pass", "pass"]
    assert not judgement.stop_early


def test_a_bad_round_holds_even_when_the_average_is_fine() -> None:
    judgement = judge(rounds([0] * 9 + [3]), POLICY)  # 0.3 % overall, 3 % in one round
    assert judgement.gates[0].status == "hold"
    assert "did not stay under the threshold throughout" in judgement.gates[0].detail


def test_sprt_stops_early_on_a_rollback_class_rate() -> None:
    assert sprt(20, 100, POLICY) == "rollback"
    assert sprt(0, 100, POLICY) == "acceptable"
    assert sprt(5, 100, POLICY) == "continue"
    judgement = judge(rounds([20]), POLICY)
    assert judgement.stop_early
    assert judgement.gates[0].status == "rollback"


def test_sprt_does_not_cry_wolf_at_the_hold_threshold() -> None:
    # At exactly 1 % errors, looking after every round never reaches the rollback boundary.
    assert all(sprt(n, 100 * n, POLICY) != "rollback" for n in range(1, 200))


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
