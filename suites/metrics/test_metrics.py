"""The runbook's production figures — error rate, latency, new errors — read from the
monitoring system, one gate per configured query, each in the phases its query names.

Settings: ``[targets.NAME.suites.metrics]`` and its ``[[...metrics.query]]`` tables (see the
README's Metrics section).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_deploycheck.config import Settings
from pytest_deploycheck.fixtures import Record, marks, not_configured, settings_of
from pytest_deploycheck.metrics.catalogue import CATALOGUE
from pytest_deploycheck.metrics.evaluate import evaluate
from pytest_deploycheck.metrics.providers import Context
from pytest_deploycheck.metrics.settings import MetricsSettings, Query

CHECK = CATALOGUE["metrics.*"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per configured query, carrying its own phases and id."""
    if "query" not in metafunc.fixturenames:
        return
    settings = MetricsSettings.parse(settings_of(metafunc.config).target.suite("metrics"))
    params = [
        pytest.param(q, marks=marks(replace(CHECK, id=q.check_id, phases=q.phases)), id=q.slug)
        for q in settings.query
    ] or [pytest.param(None, marks=marks(replace(CHECK, id="metrics.queries")), id="none")]
    metafunc.parametrize("query", params)


@pytest.fixture(scope="module")
def metrics_settings(deploy_settings: Settings) -> MetricsSettings:
    return MetricsSettings.parse(deploy_settings.target.suite("metrics"))


def test_query(
    query: Query | None,
    metrics_settings: MetricsSettings,
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    target = deploy_settings.target
    if query is None:
        not_configured(f"target {target.name} has no [[suites.metrics.query]]")
    baseline = deploy_settings.baseline
    context = Context(
        target.name, target.version, metrics_settings.baseline_version or baseline.version
    )
    earlier = baseline.data.get(query.check_id, {}).get("series")
    deploy_record.conclude(evaluate(query, metrics_settings, context, earlier))
