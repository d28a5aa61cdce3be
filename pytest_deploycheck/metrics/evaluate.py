"""One metrics check: ask the monitoring system (again, up to the tolerated errors), fetch the
reference a comparison needs, judge, and say what it saw."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from pytest_deploycheck.core.model import NOT_CONFIGURED_CODE, Evidence
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.metrics import judge
from pytest_deploycheck.metrics.providers import (
    QUERY_ERROR_CODE,
    Answer,
    Context,
    MetricsError,
    MissingValue,
    Series,
    ask,
)
from pytest_deploycheck.metrics.settings import MetricsSettings, Query, braced, duration_s

NO_DATA_CODE = "metrics-no-data"
NO_BASELINE_CODE = "metrics-no-baseline"


def evaluate(
    query: Query,
    settings: MetricsSettings,
    context: Context,
    earlier: Mapping[str, float] | None,
) -> Result:
    """Judge ``query``; ``earlier`` is each series' value at the last GO (``compare =
    "baseline"`` without an offset), None when there is no such run."""
    result = Result()
    try:
        _judge(result, query, settings, context, earlier)
    except MetricsError as exc:
        result.undecided = (exc.code, f"{query.name}: {exc}")
    except MissingValue as exc:
        if exc.args[0] == "baseline_version":
            result.undecided = (NO_BASELINE_CODE, f"{query.name}: {_NO_OLD_VERSION}")
        else:
            result.skip = (
                f"[{NOT_CONFIGURED_CODE}] {query.name} uses {braced(exc.args[0])},"
                " which this run has no value for (--deploy-version)"
            )
    return result


_FIRST_RUN = (
    "no earlier GO measured this query, so this run's values start the comparison: the next"
    " run compares with them (--deploy-state keeps the last GO; --deploy-baseline names one)"
)
_NO_OLD_VERSION = (
    "a canary comparison needs the version that ran before: set baseline_version in the"
    " metrics suite, or give --deploy-baseline (a GO sign-off names its version)"
)


def _judge(
    result: Result,
    query: Query,
    settings: MetricsSettings,
    context: Context,
    earlier: Mapping[str, float] | None,
) -> None:
    answer = _asked(result, query, settings, lambda: ask(query, context, settings.timeout_s))
    if not answer.series:
        raise MetricsError(NO_DATA_CODE, f"no number in the answer ({_nothing(query)})")
    now = judge.judged_values(query, answer.series)
    result.data["series"] = now
    if any(
        t is not None
        for t in (query.hold_above, query.hold_below, query.rollback_above, query.rollback_below)
    ):
        result.gates.append(judge.thresholds(query, answer.series))
    if query.compare == "baseline" and not query.offset and not earlier:
        # The first run of a comparison has nothing to compare with: its values start it.
        if not result.gates:
            result.skip = f"{query.name}: {_FIRST_RUN}"
            return
        result.evidence.append(Evidence("baseline", _FIRST_RUN))
    elif query.compare:
        before, against = _reference(result, query, settings, context, earlier)
        versions = {v for v in (context.version, context.baseline_version) if v}
        gate = judge.compared(query, _keyed(now, versions), _keyed(before, versions), against)
        if gate is None:
            raise MetricsError(NO_BASELINE_CODE, f"no series matches one of {against}")
        result.gates.append(gate)
    judge.conclude(result, query)


def _reference(
    result: Result,
    query: Query,
    settings: MetricsSettings,
    context: Context,
    earlier: Mapping[str, float] | None,
) -> tuple[Mapping[str, float], str]:
    """The values to compare with, and what they are."""
    if query.compare == "canary":
        old = context.baseline_version
        if not old:
            raise MetricsError(NO_BASELINE_CODE, _NO_OLD_VERSION)

        def asked() -> Answer:
            return ask(query, context, settings.timeout_s, version=old)

        against = f"version {old}"
    elif query.offset:
        at = context.now - duration_s(query.offset)

        def asked() -> Answer:
            return ask(query, context, settings.timeout_s, at=at)

        against = f"{query.offset} ago"
    else:
        return earlier or {}, "the baseline"
    answer = _asked(result, query, settings, asked)
    if not answer.series:
        raise MetricsError(NO_BASELINE_CODE, f"{against} has no number to compare with")
    return judge.judged_values(query, answer.series), against


def _asked(
    result: Result, query: Query, settings: MetricsSettings, asking: Callable[[], Answer]
) -> Answer:
    """The answer, asking again after an error up to ``consecutive_errors`` times (never after
    a refused query: asking again cannot fix it); what was asked and seen is the evidence."""
    for attempt in range(query.consecutive_errors + 1):
        try:
            answer = asking()
        except MetricsError as exc:
            last = query.consecutive_errors == attempt or exc.code == QUERY_ERROR_CODE
            if last:
                tried = f" (tried {attempt + 1} times)" if attempt else ""
                raise MetricsError(exc.code, f"{exc}{tried}") from None
            time.sleep(settings.retry_pause_s)
            continue
        if attempt:
            result.flaky = f"{query.name}: the monitoring system answered on attempt {attempt + 1}"
        result.evidence.append(Evidence(answer.asked, _table(query, answer.series)))
        return answer
    raise AssertionError("unreachable")  # pragma: no cover


def _keyed(values: Mapping[str, float], versions: set[str]) -> dict[str, float]:
    """Series keys without the labels that only name a version (a canary's series match the
    old version's by their other labels)."""
    keyed = {}
    for key, value in values.items():
        labels = [part for part in key.strip("{}").split(",") if part]
        kept = [part for part in labels if part.split("=", 1)[1].strip('"') not in versions]
        keyed["{" + ",".join(kept) + "}"] = value
    return keyed


def _table(query: Query, series: Sequence[Series]) -> str:
    if not series:
        return "(no series)"
    lines = [f"{s.key} {', '.join(judge.shown(v, query) for v in s.values[-5:])}" for s in series]
    return "\n".join(lines[:50]) + (
        f"\n... ({len(lines) - 50} more series)" if len(lines) > 50 else ""
    )


def _nothing(query: Query) -> str:
    if query.provider == "web":
        return f"jmespath {query.jmespath!r} found no number"
    return "the query returned no series; is there traffic, and do its labels match?"
