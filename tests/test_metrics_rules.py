"""The metrics suite's pure parts: its settings, and judging series against thresholds and
references."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.metrics import judge
from pytest_deploycheck.metrics.providers import Context, Series, render
from pytest_deploycheck.metrics.settings import MetricsSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SECTION = README.split("### Metrics suite", 1)[1].split("\n## ", 1)[0]


def settings(**query: Any) -> MetricsSettings:
    table = {"url": "http://prometheus:9090", "query": [{"name": "q", "query": "up", **query}]}
    return MetricsSettings.parse(table)


@pytest.mark.parametrize("example", re.findall(r"```toml\n(.*?)```", SECTION, re.S))
def test_the_readme_examples_are_valid_settings(example: str) -> None:
    example = example.replace("${PROMETHEUS_URL}", "http://prometheus:9090")
    table = tomllib.loads(example)["targets"]["production"]["suites"]["metrics"]
    table.setdefault("url", "http://prometheus:9090")  # an example of queries alone
    parsed = MetricsSettings.parse(table)
    assert parsed.query
    assert all(q.check_id.startswith("metrics.") for q in parsed.query)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"hold_above": 1, "query": "x{v='{{versoin}}'}"}, "unknown placeholder {{versoin}}"),
        ({}, "give a threshold (hold_above, rollback_above, ...) or compare"),
        ({"compare": "canary"}, "a canary query selects the version's series with {{version}}"),
        ({"hold_above": 1, "window": "five minutes"}, "window must be a duration like 30s"),
        ({"hold_above": 1, "offset": "1h"}, 'offset is for compare = "baseline"'),
        ({"hold_above": "1"}, "hold_above must be a number"),
        ({"hold_above": 1, "phases": ["soon"]}, "unknown phase 'soon'"),
        (
            {"compare": "baseline", "max_ratio": 0.5},
            "max_ratio must be above 1, at most 1000 (got 0.5)",
        ),
    ],
)
def test_a_bad_query_is_named_with_what_is_wrong(query: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)) as raised:
        settings(**query)
    assert str(raised.value).startswith("query 'q': ")


def test_queries_inherit_the_suites_provider_url_and_headers() -> None:
    table = {
        "provider": "web",
        "url": "https://api.example.com/",
        "headers": {"A": "1"},
        "query": [
            {"name": "n", "url": "/v1/x", "jmespath": "a", "headers": {"B": "2"}, "hold_above": 1}
        ],
    }
    [query] = MetricsSettings.parse(table).query
    assert (query.provider, query.url) == ("web", "https://api.example.com/v1/x")
    assert query.headers == {"A": "1", "B": "2"}


def test_placeholders_are_filled() -> None:
    [query] = settings(hold_above=1, window="10m").query
    context = Context("production", "2.0.0", "1.9.0")
    text = "{{target}} {{version}} {{ baseline_version }} [{{window}}] {{start}}..{{end}}"
    assert render(text, query, context, 1000.0, None) == ("production 2.0.0 1.9.0 [10m] 400..1000")
    assert render("{{version}}", query, context, 1000.0, "1.9.0") == "1.9.0"


def series(*values: float, **labels: str) -> Series:
    return Series(labels, values)


def test_every_series_is_judged_and_the_worst_named() -> None:
    [query] = settings(hold_above=0.01, rollback_above=0.1).query
    gate = judge.thresholds(
        query, [series(0.0, route="/"), series(0.05, 0.2, route="/checkout"), series(0.02)]
    )
    assert (gate.status, gate.value, gate.threshold) == ("rollback", 0.2, 0.1)
    assert gate.detail.startswith('worst of 3 series: {route="/checkout"} = 0.2 (4 points);')


def test_a_floor_is_judged_by_the_lowest_point() -> None:
    [query] = settings(hold_below=10, rollback_below=1).query
    gate = judge.thresholds(query, [series(50, 5, 40)])
    assert (gate.status, gate.value, gate.threshold) == ("hold", 5, 10)
    assert judge.judged_values(query, [series(50, 5, 40)]) == {"{}": 5}


def test_a_value_at_its_threshold_passes() -> None:
    [query] = settings(hold_above=0.01).query
    assert judge.thresholds(query, [series(0.01)]).status == "pass"


@pytest.mark.parametrize(
    ("now", "before", "status"),
    [
        (0.30, 0.10, "hold"),  # 3x higher
        (0.60, 0.10, "rollback"),  # 6x higher, past rollback_ratio
        (0.004, 0.001, "pass"),  # 4x higher, but by less than min_delta
        (0.05, 0.10, "pass"),  # better
        (0.02, 0.0, "rollback"),  # from nothing: infinitely higher
    ],
)
def test_a_comparison_holds_or_rolls_back_by_how_much_worse(
    now: float, before: float, status: str
) -> None:
    [query] = settings(compare="baseline", max_ratio=2, rollback_ratio=5, min_delta=0.01).query
    gate = judge.compared(query, {"{}": now}, {"{}": before}, "the baseline")
    assert gate is not None
    assert gate.status == status
    assert gate.value is None if before == 0 else gate.value == pytest.approx(max(now / before, 1))


def test_a_throughput_comparison_looks_down() -> None:
    [query] = settings(compare="baseline", direction="decrease").query
    gate = judge.compared(query, {"{}": 40.0}, {"{}": 100.0}, "the baseline")
    assert gate is not None
    assert (gate.status, gate.value) == ("hold", 2.5)
    assert "2.5x lower" in gate.detail


def test_no_matching_series_is_no_comparison() -> None:
    [query] = settings(compare="baseline").query
    assert judge.compared(query, {'{route="/a"}': 1.0}, {'{route="/b"}': 1.0}, "x") is None
