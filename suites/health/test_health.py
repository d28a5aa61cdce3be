"""The runbook's first checks after a deploy: is it up, the right version, fast, and sound.

All probes run once, concurrently, in the ``health`` fixture; each check judges its part.
Settings: ``[targets.NAME.suites.health]`` (see the README's health suite section).
"""

from __future__ import annotations

import pytest

from pytest_deploycheck.config import Settings
from pytest_deploycheck.fixtures import Record, catalogued, not_configured, shared_rate_cap
from pytest_deploycheck.health import judge
from pytest_deploycheck.health.catalogue import CATALOGUE
from pytest_deploycheck.health.probes import HealthReport, probe
from pytest_deploycheck.health.settings import HealthSettings


@pytest.fixture(scope="module")
def settings(deploy_settings: Settings) -> HealthSettings:
    return HealthSettings.parse(deploy_settings.target.suite("health"))


@pytest.fixture(scope="module")
def health(
    pytestconfig: pytest.Config, deploy_settings: Settings, settings: HealthSettings
) -> HealthReport:
    target = deploy_settings.target
    if not target.base_url:
        not_configured(f"target {target.name} has no base_url")
    report = probe(
        str(target.base_url),
        settings,
        deploy_settings.http,
        target.version,
        deploy_settings.allow_destructive,
        shared_rate_cap(pytestconfig),
    )
    report.answered_before = deploy_settings.baseline.base_url == target.base_url
    return report


@catalogued(CATALOGUE["health.endpoint"])
def test_endpoint(health: HealthReport, settings: HealthSettings, deploy_record: Record) -> None:
    deploy_record.conclude(judge.endpoint(health, settings))


@catalogued(CATALOGUE["health.version"])
def test_version(
    health: HealthReport,
    settings: HealthSettings,
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    deploy_record.conclude(judge.version(health, deploy_settings.target.version, settings))


@catalogued(CATALOGUE["health.endpoints"])
def test_critical_endpoints(
    health: HealthReport, settings: HealthSettings, deploy_record: Record
) -> None:
    deploy_record.conclude(judge.endpoints(health, settings))


@catalogued(CATALOGUE["health.latency"])
def test_latency(
    health: HealthReport, settings: HealthSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    deploy_record.conclude(judge.latency(health, settings, deploy_settings.baseline.figures))


@catalogued(CATALOGUE["health.error_rate"])
def test_error_rate(health: HealthReport, deploy_settings: Settings, deploy_record: Record) -> None:
    deploy_record.conclude(judge.error_rate(health, deploy_settings.policy))


@catalogued(CATALOGUE["health.tls_certificate"])
def test_tls_certificate(health: HealthReport, deploy_record: Record) -> None:
    deploy_record.conclude(judge.tls_certificate(health))


@catalogued(CATALOGUE["health.tls_expiry"])
def test_tls_expiry(health: HealthReport, settings: HealthSettings, deploy_record: Record) -> None:
    deploy_record.conclude(judge.tls_expiry(health, settings))


@catalogued(CATALOGUE["health.tls_redirect"])
def test_tls_redirect(health: HealthReport, deploy_record: Record) -> None:
    deploy_record.conclude(judge.tls_redirect(health))


@catalogued(CATALOGUE["health.tls_hsts"])
def test_tls_hsts(health: HealthReport, deploy_record: Record) -> None:
    deploy_record.conclude(judge.tls_hsts(health))
