"""Settings of the prebuilt metrics suite (``[targets.NAME.suites.metrics]``), validated.

The suite table says where the monitoring system is (``provider``, ``url``, ``headers``); each
``[[...metrics.query]]`` is one gate, placed in phases like every check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_deploycheck.core.durations import parse_duration
from pytest_deploycheck.core.phases import AFTER_DEPLOY, Phase
from pytest_deploycheck.core.settings_table import Ranged, number, parse_table

PROVIDERS = ("prometheus", "web")
COMPARES = ("", "baseline", "canary")
DIRECTIONS = ("increase", "decrease")
PLACEHOLDERS = ("window", "version", "baseline_version", "target", "start", "end")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
_PROMETHEUS_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class Query(Ranged):
    """One gate on one figure of the monitoring system."""

    name: str
    query: str = ""  # prometheus: PromQL
    phases: tuple[Phase, ...] = AFTER_DEPLOY
    provider: str = ""  # default: the suite's
    url: str = ""  # web: the API's URL, absolute or relative to the suite's
    params: Mapping[str, str] = field(default_factory=dict)  # web: query string
    method: str = "GET"
    body: str = ""  # web: a JSON body (New Relic's NerdGraph takes its query so)
    jmespath: str = ""  # web: where the value is in the answer (jmespath.org)
    headers: Mapping[str, str] = field(default_factory=dict)  # added to the suite's
    window: str = "5m"  # {{window}}, and the span {{start}}..{{end}}
    range: str = ""  # prometheus: judge every point over this span, not only the latest
    step: str = ""  # prometheus: between a range's points (default: a 60th of the range)
    hold_above: float | None = number(None)
    hold_below: float | None = number(None)
    rollback_above: float | None = number(None)
    rollback_below: float | None = number(None)
    compare: str = ""  # "baseline": against an earlier GO (or offset); "canary": old version
    offset: str = ""  # compare = "baseline": the same query this long ago instead
    max_ratio: float = number(2.0, 1, 1000, above=True)  # compare: past this ratio, holds
    rollback_ratio: float | None = number(None, 1, 1000, above=True)  # past this, rolls back
    # compare: changes smaller than this, in the value's unit, pass
    min_delta: float = number(0.0, 0)
    direction: str = "increase"  # compare: which change is the regression
    # failed attempts tolerated in a row before "could not check"
    consecutive_errors: int = number(2, 0, 100)
    unit: str = ""  # shown after the value: "%", "ms", "s", "errors"

    @property
    def slug(self) -> str:
        """The name as a check id's last part: ``http error rate`` → ``http_error_rate``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")

    @property
    def check_id(self) -> str:
        return f"metrics.{self.slug}"

    @property
    def window_s(self) -> float:
        return duration_s(self.window)

    @property
    def uses(self) -> set[str]:
        """The placeholders the query's text, URL, parameters and body use."""
        texts = [self.query, self.url, self.body, *self.params.values()]
        return {name for text in texts for name in PLACEHOLDER.findall(text)}


@dataclass(frozen=True)
class MetricsSettings(Ranged):
    """Where the monitoring system is and the queries that gate the deployment."""

    provider: str = "prometheus"
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = number(10.0, 0, 600, above=True)
    # between the attempts of a query that errored
    retry_pause_s: float = number(1.0, 0, 600)
    baseline_version: str = ""  # canary: the version running before; default: the last GO's
    query: tuple[Query, ...] = ()

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> MetricsSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        special = {"headers": _strings("headers"), "query": _queries}
        settings = parse_table(cls, table, special)
        if settings.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}")
        names = [q.slug for q in settings.query]
        if len(set(names)) < len(names):
            raise ValueError("two queries have the same name")
        queries = tuple(_inherit(q, settings) for q in settings.query)
        return replace(settings, query=queries)


def _inherit(query: Query, suite: MetricsSettings) -> Query:
    """A query with the suite's provider, URL and headers where it gives none; checked whole."""
    provider = query.provider or suite.provider
    url = query.url
    if "://" not in url:
        url = suite.url.rstrip("/") + ("/" + url.lstrip("/") if url else "")
    done = replace(query, provider=provider, url=url, headers={**suite.headers, **query.headers})
    _check(done)
    return done


def _check(query: Query) -> None:
    """Raise ValueError with the first thing wrong with a query."""
    thresholds = (query.hold_above, query.hold_below, query.rollback_above, query.rollback_below)
    unknown = sorted(query.uses - set(PLACEHOLDERS))
    durations = [k for k in ("window", "range", "step", "offset") if getattr(query, k)]
    wrong = [
        (query.provider not in PROVIDERS, f"provider must be one of {', '.join(PROVIDERS)}"),
        (
            not query.url.startswith(("http://", "https://")),
            "needs the monitoring system's http(s) url",
        ),
        (query.provider == "prometheus" and not query.query, "needs query = 'PromQL'"),
        (query.provider == "web" and not query.jmespath, "needs jmespath = 'where.the.value.is'"),
        (
            query.provider == "web" and bool(query.range or query.offset),
            "range and offset are for prometheus queries",
        ),
        (
            bool(unknown),
            f"unknown placeholder {braced(unknown[0] if unknown else '')} (known: "
            + ", ".join(braced(name) for name in PLACEHOLDERS)
            + ")",
        ),
        (
            not query.compare and all(t is None for t in thresholds),
            "give a threshold (hold_above, rollback_above, ...) or compare",
        ),
        (query.compare not in COMPARES, 'compare must be "baseline" or "canary"'),
        (
            query.compare == "canary" and "version" not in query.uses,
            f"a canary query selects the version's series with {braced('version')}",
        ),
        (bool(query.offset) and query.compare != "baseline", 'offset is for compare = "baseline"'),
        (query.direction not in DIRECTIONS, f"direction must be one of {', '.join(DIRECTIONS)}"),
        *(
            (
                not _PROMETHEUS_DURATION.match(getattr(query, key)),
                f"{key} must be a duration like 30s, 5m, 2h",
            )
            for key in durations
        ),
    ]
    problem = next((message for bad, message in wrong if bad), None)
    if problem:
        raise ValueError(f"query {query.name!r}: {problem}")


def braced(name: str) -> str:
    """A placeholder as the config writes it: ``{{name}}``."""
    return "{{" + name + "}}"


def duration_s(text: str) -> float:
    """Seconds in a Prometheus duration (``1h30m``)."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    scale = {"w": "7d", "y": "365d"}
    total = 0.0
    for count, unit in parts:
        total += int(count) * parse_duration(scale.get(unit, "1" + unit))
    return total


def _strings(key: str) -> Any:
    def convert(value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f'{key} must be a table of name = "value"')
        return dict(value)

    return convert


_NUMBERS = ("hold_above", "hold_below", "rollback_above", "rollback_below", "rollback_ratio")


def _queries(value: Any) -> tuple[Query, ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("query must be a list of [[...metrics.query]] tables")
    return tuple(_query(item) for item in value)


def _query(table: Mapping[str, Any]) -> Query:
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError('each [[...metrics.query]] needs a name = "..."')
    special: dict[str, Any] = {
        "phases": _phases,
        "params": _strings("params"),
        "headers": _strings("headers"),
        **{key: _number(key) for key in _NUMBERS},
    }
    try:
        return parse_table(Query, table, special)
    except ValueError as exc:
        raise ValueError(f"query {name!r}: {exc}") from None


def _number(key: str) -> Any:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number")
        return float(value)

    return convert


def _phases(value: Any) -> tuple[Phase, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('phases must be a list like ["immediate", "short_term"]')
    return tuple(Phase.parse(str(name)) for name in value)
