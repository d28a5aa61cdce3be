"""The runbook's first checks after a deploy: is it up, the right version, fast, and sound.

All probes run once, concurrently, in the ``health`` fixture; each check judges its part.
Settings: ``[targets.NAME.suites.health]`` (see the README's health suite section).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from pytest_deploycheck.config import Settings
from pytest_deploycheck.fixtures import Record, not_configured, shared_rate_cap
from pytest_deploycheck.health.probes import HealthReport, latency_gate, probe
from pytest_deploycheck.health.settings import HealthSettings
from pytest_deploycheck.net.http import Exchange

pytestmark = pytest.mark.immediate


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
    return probe(
        str(target.base_url),
        settings,
        deploy_settings.http,
        target.version,
        deploy_settings.allow_destructive,
        shared_rate_cap(pytestconfig),
    )


def require(record: Record, ok: bool, message: str, exchanges: Iterable[Exchange] = ()) -> None:
    """Fail with ``message``, keeping the exchanges that show why as evidence."""
    if not ok:
        for exchange in exchanges:
            record.attach(f"{exchange.method} {exchange.url}", exchange.describe())
        pytest.fail(message, pytrace=False)


def require_answer(record: Record, exchange: Exchange, code: str, below: int) -> None:
    """The exchange got an answer, with a status from 200 up to ``below``."""
    where = f"{exchange.method} {exchange.url}"
    require(record, exchange.error is None, f"[unreachable] {where}: {exchange.error}", [exchange])
    ok = exchange.status is not None and 200 <= exchange.status < below
    require(record, ok, f"[{code}] {where} -> {exchange.status}", [exchange])


def note_retries(record: Record, exchanges: Iterable[Exchange]) -> None:
    retried = [e for e in exchanges if e.attempts > 1 and e.error is None]
    if retried:
        record.flaky(
            "; ".join(f"{e.method} {e.url} answered on attempt {e.attempts}" for e in retried)
        )


@pytest.mark.deploy_check(id="health.endpoint", severity="critical")
def test_endpoint(health: HealthReport, settings: HealthSettings, deploy_record: Record) -> None:
    for exchange in health.health:
        require_answer(deploy_record, exchange, "health-status", 300)
        where = f"{exchange.method} {exchange.url}"
        for name, healthy in settings.expect.items():
            value = exchange.json_field(name)
            wanted = " or ".join(map(repr, healthy))
            message = f"[health-body] {where}: {name} is {value!r}, expected {wanted}"
            require(deploy_record, value in healthy, message, [exchange])
    note_retries(deploy_record, health.health)


@pytest.mark.deploy_check(id="health.version", severity="critical")
def test_version(health: HealthReport, deploy_settings: Settings, deploy_record: Record) -> None:
    expected = deploy_settings.target.version
    if not expected:
        pytest.skip("no expected version given (--deploy-version or version in the target)")
    found = health.version
    assert found is not None
    exchange = found.exchange
    require(
        deploy_record,
        exchange.error is None,
        f"[unreachable] GET {exchange.url}: {exchange.error}",
        [exchange],
    )
    require(
        deploy_record,
        found.reported is not None,
        f"[version-unknown] {exchange.url} reports no version",
        [exchange],
    )
    waited = f" after {found.polls} polls" if found.polls > 1 else ""
    require(
        deploy_record,
        found.reported == expected,
        f"[version-mismatch] expected {expected}, got {found.reported} ({found.source}){waited}",
        [exchange],
    )


@pytest.mark.deploy_check(id="health.endpoints", severity="critical")
def test_critical_endpoints(
    health: HealthReport, settings: HealthSettings, deploy_record: Record
) -> None:
    if not settings.endpoints:
        pytest.skip("no critical endpoints configured (suites.health.endpoints)")
    if not health.endpoints:
        refused = ", ".join(map(str, health.refused_unsafe))
        pytest.skip(
            f"[destructive-not-allowed] {refused} would change the target;"
            " pass --deploy-allow-destructive"
        )
    for exchange in health.endpoints:
        require_answer(deploy_record, exchange, "endpoint-status", 400)
    note_retries(deploy_record, health.endpoints)


@pytest.mark.deploy_check(id="health.latency", severity="major")
def test_latency(
    health: HealthReport, settings: HealthSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    problems = []
    note_retries(deploy_record, [e for samples in health.latency.values() for e in samples])
    for name, exchanges in health.latency.items():
        gate, problem = latency_gate(name, exchanges, settings, dict(deploy_settings.baseline))
        deploy_record.gate(gate)
        problems += [problem] if problem else []
    require(deploy_record, not problems, "; ".join(problems))


@pytest.mark.deploy_check(id="health.error_rate", severity="critical")
def test_error_rate(health: HealthReport, deploy_record: Record) -> None:
    failed = [e for e in health.burst if e.server_error]
    gate = deploy_record.error_rate("error_rate", len(failed), len(health.burst))
    require(deploy_record, gate.status == "pass", f"[error-rate] {gate.detail}", failed[:5])


def https_only(health: HealthReport) -> None:
    if health.tls is None:
        pytest.skip("not an https target")


@pytest.mark.deploy_check(id="health.tls_certificate", severity="critical")
def test_tls_certificate(health: HealthReport, deploy_record: Record) -> None:
    https_only(health)
    assert health.tls is not None
    require(
        deploy_record, health.tls.problem is None, f"[{health.tls.problem}] {health.tls.message}"
    )


@pytest.mark.deploy_check(id="health.tls_expiry", severity="major")
def test_tls_expiry(health: HealthReport, settings: HealthSettings, deploy_record: Record) -> None:
    https_only(health)
    assert health.tls is not None
    if health.tls.days_left is None:
        pytest.skip("the certificate is not valid; see health.tls_certificate")
    days = health.tls.days_left
    message = (
        f"[tls-expiry-soon] certificate expires in {days} days"
        f" (minimum {settings.tls_min_days}): {health.tls.message}"
    )
    require(deploy_record, days >= settings.tls_min_days, message)


@pytest.mark.deploy_check(id="health.tls_redirect", severity="minor")
def test_tls_redirect(health: HealthReport, deploy_record: Record) -> None:
    https_only(health)
    exchange = health.redirect
    assert exchange is not None
    location = exchange.header("location") or ""
    ok = exchange.status in (301, 302, 307, 308) and location.startswith("https://")
    answer = exchange.status or exchange.error
    message = f"[tls-no-redirect] GET {exchange.url} -> {answer}, not a redirect to https"
    require(deploy_record, ok, message, [exchange])


@pytest.mark.deploy_check(id="health.tls_hsts", severity="minor")
def test_tls_hsts(health: HealthReport, deploy_record: Record) -> None:
    https_only(health)
    missing = [
        e for e in health.health if e.error is None and not e.header("strict-transport-security")
    ]
    require(
        deploy_record, not missing, "[tls-no-hsts] no Strict-Transport-Security header", missing
    )
