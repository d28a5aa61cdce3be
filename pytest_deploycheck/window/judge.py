"""Watch windows: pure judgement of the samples a window has taken so far.

A window re-runs the selected checks every interval. Two kinds of evidence accumulate: whether
each check passed in each round, and the requests the error-rate probes made. The judgement
stops early only on a rollback-class breach, proven by Wald's sequential probability ratio test
(which keeps its error rates however often it looks) or by a critical check failing several
rounds in a row; it passes only when the condition held throughout and the evidence is enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_deploycheck.core.model import Gate
from pytest_deploycheck.core.stats import samples_needed, wilson_interval


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
    """Thresholds of the window's gates and the sequential test's error rates."""

    hold: float = 0.01
    rollback: float = 0.10
    alpha: float = 0.01  # chance of an early rollback when the rate is at the hold threshold
    beta: float = 0.05  # chance of missing a rate at the rollback threshold
    consecutive_critical: int = 3


def sprt(errors: int, total: int, policy: WindowPolicy) -> str:
    """Wald's test of "rate at the hold threshold" against "at the rollback threshold":
    ``rollback``, ``acceptable`` or ``continue``."""
    p0, p1 = max(policy.hold, 1e-6), policy.rollback
    llr = errors * math.log(p1 / p0) + (total - errors) * math.log((1 - p1) / (1 - p0))
    if llr >= math.log((1 - policy.beta) / policy.alpha):
        return "rollback"
    if llr <= math.log(policy.beta / (1 - policy.alpha)):
        return "acceptable"
    return "continue"


@dataclass
class Judgement:
    """Where the window stands: its gates, whether to stop now, and why."""

    gates: list[Gate] = field(default_factory=list)
    stop_early: bool = False
    why: str = ""
    rounds: int = 0
    error_rate: tuple[int, int] = (0, 0)  # errors, requests


def judge(samples: Sequence[Sample], policy: WindowPolicy) -> Judgement:
    """Judge every sample taken so far."""
    rounds = sorted({s.round for s in samples})
    judgement = Judgement(rounds=len(rounds))
    errors = sum(s.errors for s in samples)
    requests = sum(s.requests for s in samples)
    judgement.error_rate = (errors, requests)
    if requests:
        judgement.gates.append(_error_gate(samples, errors, requests, policy))
        if sprt(errors, requests, policy) == "rollback":
            judgement.stop_early = True
            judgement.why = (
                f"the error rate is above {policy.rollback:.0%} ({errors} of {requests})"
            )
    for check in dict.fromkeys(s.check for s in samples):
        mine = [s for s in samples if s.check == check]
        gate, streak = _check_gate(check, mine, policy)
        judgement.gates.append(gate)
        if streak >= policy.consecutive_critical and not judgement.stop_early:
            judgement.stop_early = True
            judgement.why = f"{check} failed {streak} rounds in a row"
    return judgement


def _error_gate(
    samples: Sequence[Sample], errors: int, requests: int, policy: WindowPolicy
) -> Gate:
    low, high = wilson_interval(errors, requests)
    rate = errors / requests
    by_round: dict[int, list[int]] = {}
    for s in samples:
        if s.requests:
            by_round.setdefault(s.round, [0, 0])
            by_round[s.round][0] += s.errors
            by_round[s.round][1] += s.requests
    worst = max((e / r for e, r in by_round.values()), default=0.0)
    detail = (
        f"{errors} of {requests} requests failed over {len(by_round)} rounds"
        f" (95 % interval {low:.2%} to {high:.2%}; worst round {worst:.1%})"
    )
    if low > policy.rollback or sprt(errors, requests, policy) == "rollback":
        status, threshold = "rollback", policy.rollback
    elif worst > policy.hold:
        status, threshold = "hold", policy.hold
        detail += "; the rate did not stay under the threshold throughout"
    elif high > policy.hold:
        status, threshold = "hold", policy.hold
        more = samples_needed(rate, policy.hold) - requests if rate < policy.hold else 0
        detail += f"; inconclusive, need about {more} more requests"
    else:
        status, threshold = "pass", policy.hold
    return Gate("window error_rate", rate, threshold, status, detail, requests, low, high)


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
    return Gate(f"window {check}", rate, 0.0, status, detail, len(samples)), streak
