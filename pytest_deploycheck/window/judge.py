"""Watch windows: pure judgement of the samples a window has taken so far.

A window re-runs the selected checks every interval. Two kinds of evidence accumulate: whether
each check passed in each round, and the requests the error-rate probes made. The error rate
is judged by anytime-valid confidence sequences (``core.stats.confidence_sequence``), which
stay valid however often the window looks: it stops early with a rollback only when the rate's
lower 99 % bound is above the rollback threshold, and passes at its end only when the upper 95 %
bound is below the hold threshold; anything else is a hold. Separately, a critical check that
fails several rounds in a row stops the window too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_deploycheck.core.model import Gate
from pytest_deploycheck.core.stats import confidence_sequence, requests_to_prove_below


@dataclass(frozen=True)
class Sample:
    """One check in one round: its outcome, and the requests it measured (if any)."""

    round: int
    t: float
    check: str
    outcome: str
    severity: str
    errors: int = 0
    requests: int = 0
    gate: str = ""  # the worst status of the gates the check measured, if it measured any
    p95_ms: float | None = None  # the slowest p95 latency the check measured this round

    @property
    def rollback_class(self) -> bool:
        """A failure that alone calls for a rollback: a critical check's, or a rollback gate's."""
        if self.outcome != "failed":
            return False
        return self.gate == "rollback" if self.gate else self.severity == "critical"


@dataclass(frozen=True)
class WindowPolicy:
    """Thresholds of the window's gates, and how sure each verdict on the error rate must be."""

    hold: float = 0.01
    rollback: float = 0.10
    rollback_alpha: float = 0.01  # the chance of a rollback at a rate at or under the threshold
    go_alpha: float = 0.05  # the chance of a GO at a rate at or above the hold threshold
    consecutive_critical: int = 3


@dataclass(frozen=True)
class RateBounds:
    """The error rate so far and its anytime-valid bounds."""

    errors: int
    requests: int
    low: float  # lower (1 - rollback_alpha) bound
    high: float  # upper (1 - go_alpha) bound

    @classmethod
    def of(cls, errors: int, requests: int, policy: WindowPolicy) -> RateBounds:
        low = confidence_sequence(errors, requests, policy.rollback_alpha)[0]
        high = confidence_sequence(errors, requests, policy.go_alpha)[1]
        return cls(errors, requests, low, high)

    @property
    def rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def above(self, policy: WindowPolicy) -> str:
        """Why the rate is surely above the rollback threshold, in numbers."""
        sure = 100 * (1 - policy.rollback_alpha)
        return (
            f"the error rate's lower {sure:.0f} % bound {self.low:.1%} > {policy.rollback:.0%}"
            f" after {self.requests} requests ({self.errors} failed, {self.rate:.1%})"
        )


@dataclass
class Judgement:
    """Where the window stands: its gates, whether to stop now, and why."""

    gates: list[Gate] = field(default_factory=list)
    stop_early: bool = False
    why: str = ""
    rounds: int = 0
    error_rate: tuple[int, int] = (0, 0)  # errors, requests
    bounds: RateBounds | None = None  # the error rate's, once requests were measured


def judge(samples: Sequence[Sample], policy: WindowPolicy) -> Judgement:
    """Judge every sample taken so far."""
    rounds = sorted({s.round for s in samples})
    judgement = Judgement(rounds=len(rounds))
    errors = sum(s.errors for s in samples)
    requests = sum(s.requests for s in samples)
    judgement.error_rate = (errors, requests)
    if requests:
        bounds = judgement.bounds = RateBounds.of(errors, requests, policy)
        judgement.gates.append(_error_gate(samples, bounds, policy))
        if bounds.low > policy.rollback:
            judgement.stop_early = True
            judgement.why = bounds.above(policy)
    for check in dict.fromkeys(s.check for s in samples):
        ran = [s for s in samples if s.check == check and s.outcome != "skipped"]
        if not ran:
            continue  # skipped every round: shown as skipped, never as a window that passed
        gate, streak = _check_gate(check, ran, policy)
        judgement.gates.append(gate)
        if streak >= policy.consecutive_critical and not judgement.stop_early:
            judgement.stop_early = True
            judgement.why = f"{check} failed {streak} rounds in a row"
    return judgement


def _error_gate(samples: Sequence[Sample], bounds: RateBounds, policy: WindowPolicy) -> Gate:
    """The window's error rate: rollback when surely above the rollback threshold, pass when
    surely under the hold threshold, hold otherwise — saying how many more requests a pass
    needs at the current rate."""
    rounds = len({s.round for s in samples if s.requests})
    go = 100 * (1 - policy.go_alpha)
    detail = (
        f"{bounds.errors} of {bounds.requests} requests failed over {rounds} rounds"
        f" ({bounds.rate:.2%})"
    )
    if bounds.low > policy.rollback:
        status, threshold = "rollback", policy.rollback
        detail += f"; {bounds.above(policy)}"
    elif bounds.high < policy.hold:
        status, threshold = "pass", policy.hold
        detail += f"; its upper {go:.0f} % bound {bounds.high:.2%} < {policy.hold:.0%}"
    else:
        status, threshold = "hold", policy.hold
        detail += (
            f"; anytime-valid bounds {bounds.low:.2%} to {bounds.high:.2%} (upper {go:.0f} %);"
            f" {more_for_go(bounds, policy)}"
        )
    return Gate(
        "window error_rate",
        bounds.rate,
        threshold,
        status,
        detail,
        bounds.requests,
        bounds.low,
        bounds.high,
        unit="ratio",
    )


def more_for_go(bounds: RateBounds, policy: WindowPolicy) -> str:
    """What a GO still needs: more requests at this rate, or a lower rate."""
    needed = requests_to_prove_below(bounds.rate, policy.hold, policy.go_alpha)
    if needed is None:
        return f"at {bounds.rate:.1%} no number of requests proves it under {policy.hold:.0%}"
    more = max(needed - bounds.requests, 1)
    return f"a GO needs about {more} more requests at this rate"


def _check_gate(check: str, samples: Sequence[Sample], policy: WindowPolicy) -> tuple[Gate, int]:
    failed = [s for s in samples if s.outcome in ("failed", "error")]
    streak = 0
    for s in reversed(samples):
        if not s.rollback_class:
            break
        streak += 1
    detail = f"failed in {len(failed)} of {len(samples)} rounds"
    status = "pass" if not failed else "hold"
    if streak >= policy.consecutive_critical:
        status = "rollback"
        detail += f", the last {streak} in a row"
    rate = len(failed) / len(samples)
    gate = Gate(f"window {check}", rate, 0.0, status, detail, len(samples), unit="ratio")
    return gate, streak
