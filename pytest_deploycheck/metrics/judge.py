"""Judging what the monitoring system answered: pure functions from series to gates.

Every series is judged and the worst one named. A threshold gate grades the worst value of
each series (the highest against ``*_above``, the lowest against ``*_below``); a comparison
gate grades each series' change against the same series of a reference (an earlier GO, the
same query an offset ago, or the version that ran before), in the direction that hurts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_deploycheck.core.model import GATE_STATUSES, Gate
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.metrics.providers import Series
from pytest_deploycheck.metrics.settings import Query

THRESHOLD_CODE = "metrics-threshold"
REGRESSION_CODE = "metrics-regression"


def shown(value: float, query: Query) -> str:
    """A value as people read it, with the query's unit."""
    if query.unit == "ratio":
        return f"{value:.2%}"
    if query.unit == "%":
        return f"{value:.4g} %"
    return f"{value:.4g}" + (f" {query.unit}" if query.unit else "")


def high_is_bad(query: Query) -> bool:
    """Whether the worst value of a series is its highest."""
    if query.hold_above is not None or query.rollback_above is not None:
        return True
    if query.hold_below is not None or query.rollback_below is not None:
        return False
    return query.direction == "increase"


def judged_values(query: Query, series: Sequence[Series]) -> dict[str, float]:
    """Each series' worst value: what a later run compares with."""
    pick = max if high_is_bad(query) else min
    return {s.key: pick(s.values) for s in series}


@dataclass(frozen=True)
class Grade:
    status: str
    threshold: float | None
    value: float
    key: str


def _grade(query: Query, key: str, value: float) -> Grade:
    over = [
        ("rollback", query.rollback_above, value > (query.rollback_above or 0)),
        ("rollback", query.rollback_below, value < (query.rollback_below or 0)),
        ("hold", query.hold_above, value > (query.hold_above or 0)),
        ("hold", query.hold_below, value < (query.hold_below or 0)),
    ]
    for status, limit, crossed in over:
        if limit is not None and crossed:
            return Grade(status, limit, value, key)
    limits = [query.hold_above, query.rollback_above, query.hold_below, query.rollback_below]
    return Grade("pass", next(t for t in limits if t is not None), value, key)


def thresholds(query: Query, series: Sequence[Series]) -> Gate:
    """The threshold gate over every point of every series; the worst names itself."""
    grades = [_grade(query, s.key, v) for s in series for v in s.values]
    sign = 1 if high_is_bad(query) else -1
    worst = max(grades, key=lambda g: (GATE_STATUSES.index(g.status), sign * g.value))
    points = sum(len(s.values) for s in series)
    limits = ", ".join(
        f"{name} {shown(limit, query)}"
        for name in ("hold_above", "hold_below", "rollback_above", "rollback_below")
        if (limit := getattr(query, name)) is not None
    )
    detail = f"{_which(len(series), worst.key)} = {shown(worst.value, query)}"
    detail += f" ({points} point{'s' if points > 1 else ''}); {limits}"
    return Gate(
        f"metrics {query.name}",
        worst.value,
        worst.threshold,
        worst.status,
        detail,
        samples=points,
        check=query.check_id,
        unit=query.unit,
    )


def compared(
    query: Query, now: Mapping[str, float], before: Mapping[str, float], against: str
) -> Gate | None:
    """The comparison gate: each series' change against the same series ``before`` (matched by
    labels; ``None`` when none match). A change smaller than ``min_delta`` passes."""
    pairs = [(key, now[key], before[key]) for key in now if key in before]
    if not pairs:
        return None
    sign = 1 if query.direction == "increase" else -1
    graded = []
    for key, value, earlier in pairs:
        ratio = _ratio(value, earlier, sign)
        status = "pass"
        if sign * (value - earlier) > query.min_delta:
            if query.rollback_ratio is not None and ratio > query.rollback_ratio:
                status = "rollback"
            elif ratio > query.max_ratio:
                status = "hold"
        graded.append((GATE_STATUSES.index(status), ratio, key, value, earlier, status))
    _, ratio, key, value, earlier, status = max(graded)
    limit = query.rollback_ratio if status == "rollback" else query.max_ratio
    worse = "higher" if sign > 0 else "lower"
    detail = (
        f"{_which(len(pairs), key)} = {shown(value, query)} against"
        f" {shown(earlier, query)} {against}, {_times(ratio)} {worse}"
        f" (holds past {query.max_ratio:g}x"
        + (f", rolls back past {query.rollback_ratio:g}x" if query.rollback_ratio else "")
        + (f", changes under {shown(query.min_delta, query)} pass)" if query.min_delta else ")")
    )
    return Gate(
        f"metrics {query.name} vs {against}",
        None if ratio == float("inf") else ratio,
        limit,
        status,
        detail,
        samples=len(pairs),
        check=query.check_id,
        unit="x",
    )


def conclude(result: Result, query: Query) -> None:
    """Fail the check when one of its gates did not pass, with the worst such gate's detail."""
    failing = [g for g in result.gates if g.status != "pass"]
    if failing:
        gate = max(failing, key=lambda g: GATE_STATUSES.index(g.status))
        code = REGRESSION_CODE if " vs " in gate.name else THRESHOLD_CODE
        result.fail(code, f"{query.name}: {gate.detail}")


def _ratio(value: float, earlier: float, sign: int) -> float:
    """How many times worse ``value`` is than ``earlier`` (1.0: the same or better)."""
    worse, better = (value, earlier) if sign > 0 else (earlier, value)
    if worse <= better:
        return 1.0
    return worse / better if better > 0 else float("inf")


def _times(ratio: float) -> str:
    return "infinitely" if ratio == float("inf") else f"{ratio:.3g}x"


def _which(count: int, key: str) -> str:
    """The series a detail is about: the only one, or the worst of several."""
    named = "" if key == "{}" else f" {key}"
    return f"the value{named}" if count == 1 else f"worst of {count} series:{named}"
