"""Each health check's judgement of what the probes saw: pure functions from the probes' report
to a result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from pytest_deploycheck.core.policy import Policy
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.health.probes import HealthReport, latency_gate
from pytest_deploycheck.health.settings import HealthSettings
from pytest_deploycheck.net.http import DEFAULT_PORTS, Exchange
from pytest_deploycheck.signoff.engine import error_rate_gate

FIELD_MISSING_CODE = "version-field-missing"  # the JSON answer lacks version_field: HOLD


def _answered(
    result: Result, exchange: Exchange, code: str, below: int, answered_before: bool
) -> bool:
    """The exchange got an answer, with a status from 200 up to ``below``."""
    where = f"{exchange.method} {exchange.url}"
    evidence = exchange.evidence()
    message = f"{where}: {exchange.error}{_refused_hint(exchange, answered_before)}"
    if not result.require(exchange.error is None, exchange.failure_code, message, evidence):
        return False
    ok = exchange.status is not None and 200 <= exchange.status < below
    return result.require(ok, code, f"{where} -> {exchange.status}", evidence)


def _refused_hint(exchange: Exchange, answered_before: bool) -> str:
    """Where a person would look when nothing listens at the address: the port."""
    if not (exchange.error or "").startswith("ConnectError"):
        return ""
    parts = urlsplit(exchange.url)
    at = f"{parts.hostname}:{parts.port or DEFAULT_PORTS.get(parts.scheme, 0)}"
    if answered_before:
        return f" (nothing listens at {at}, which answered at the last GO: the service is down)"
    return (
        f" (nothing listens at {at}, and no GO kept in the state directory shows it ever"
        " answered there: is the port in base_url right?)"
    )


def _retries(result: Result, exchanges: Iterable[Exchange]) -> Result:
    """Note the requests that answered only on a retry: the check passed, but flakily."""
    retried = [e for e in exchanges if e.attempts > 1 and e.error is None]
    result.flaky = "; ".join(
        f"{e.method} {e.url} answered on attempt {e.attempts}" for e in retried
    )
    return result


def endpoint(report: HealthReport, settings: HealthSettings) -> Result:
    """Every health path answers 2xx with the JSON values ``expect`` names."""
    result = Result()
    for exchange in report.health:
        if not _answered(result, exchange, "health-status", 300, report.answered_before):
            return result
        for name, healthy in settings.expect.items():
            value = exchange.json_field(name)
            wanted = " or ".join(map(repr, healthy))
            message = f"{exchange.method} {exchange.url}: {name} is {value!r}, expected {wanted}"
            if not result.require(value in healthy, "health-body", message, exchange.evidence()):
                return result
    return _retries(result, report.health)


def version(report: HealthReport, expected: str | None, settings: HealthSettings) -> Result:
    """The target reports the expected version."""
    if not expected:
        return Result(skip="no expected version given (--deploy-version or version in the target)")
    found = report.version
    assert found is not None
    exchange = found.exchange
    evidence = exchange.evidence()
    result = Result()
    if not result.require(
        exchange.error is None,
        exchange.failure_code,
        f"GET {exchange.url}: {exchange.error}{_refused_hint(exchange, report.answered_before)}",
        evidence,
    ):
        return result
    if found.reported is None and found.keys is not None:
        keys = ", ".join(found.keys[:20]) or "none"
        result.undecided = (
            FIELD_MISSING_CODE,
            f"{exchange.url} answers JSON without {settings.version_field!r} (its top-level keys:"
            f" {keys}): set version_field to where the version is (JMESPath: data.version)",
        )
        result.evidence.append(evidence)
        return result
    if not result.require(
        found.reported is not None,
        "version-unknown",
        f"{exchange.url} reports no version",
        evidence,
    ):
        return result
    waited = f" after {found.polls} polls" if found.polls > 1 else ""
    message = f"expected {expected}, got {found.reported} ({found.source}){waited}"
    result.require(found.reported == expected, "version-mismatch", message, evidence)
    return result


def endpoints(report: HealthReport, settings: HealthSettings) -> Result:
    """Every critical endpoint answers 2xx or 3xx; unsafe ones only when allowed."""
    if not settings.endpoints:
        return Result(skip="no critical endpoints configured (suites.health.endpoints)")
    if not report.endpoints:
        refused = ", ".join(map(str, report.refused_unsafe))
        return Result(
            skip=f"[destructive-not-allowed] {refused} would change the target;"
            " pass --deploy-allow-destructive"
        )
    result = Result()
    for exchange in report.endpoints:
        if not _answered(result, exchange, "endpoint-status", 400, report.answered_before):
            return result
    return _retries(result, report.endpoints)


def latency(
    report: HealthReport, settings: HealthSettings, baseline: Mapping[str, float]
) -> Result:
    """Each path's p95 within the budget and, with a baseline, within its ratio of it."""
    result = _retries(Result(), [e for samples in report.latency.values() for e in samples])
    problems = []
    for name, exchanges in report.latency.items():
        gate, problem = latency_gate(name, exchanges, settings, dict(baseline))
        result.gates.append(gate)
        problems += [problem] if problem else []
    if problems:
        result.fail(problems[0][0], "; ".join(message for _, message in problems))
    return result


def error_rate(report: HealthReport, policy: Policy) -> Result:
    """The burst's error rate passes its gate (5xx answers and transport failures count; a
    request never sent to an unresponsive target does not)."""
    sent = [e for e in report.burst if e.attempts]
    failed = [e for e in sent if e.server_error]
    gate = error_rate_gate("error_rate", len(failed), len(sent), policy)
    result = Result(gates=[gate])
    evidence = [e.evidence() for e in failed[:5]]
    result.require(gate.status == "pass", "error-rate", gate.detail, *evidence)
    return result


NOT_HTTPS = "not an https target"


def tls_certificate(report: HealthReport) -> Result:
    """A trusted, valid certificate that names the host."""
    if report.tls is None:
        return Result(skip=NOT_HTTPS)
    result = Result()
    if report.tls.problem is not None:
        result.fail(report.tls.problem, report.tls.message)
    return result


def tls_expiry(report: HealthReport, settings: HealthSettings) -> Result:
    """At least ``tls_min_days`` left on the certificate."""
    if report.tls is None:
        return Result(skip=NOT_HTTPS)
    days = report.tls.days_left
    if days is None:
        return Result(skip="the certificate is not valid; see health.tls_certificate")
    result = Result()
    message = (
        f"certificate expires in {days} days"
        f" (minimum {settings.tls_min_days}): {report.tls.message}"
    )
    result.require(days >= settings.tls_min_days, "tls-expiry-soon", message)
    return result


def tls_redirect(report: HealthReport) -> Result:
    """Plain http redirects to https."""
    exchange = report.redirect
    if report.tls is None or exchange is None:
        return Result(skip=NOT_HTTPS)
    location = exchange.header("location") or ""
    ok = exchange.status in (301, 302, 307, 308) and location.startswith("https://")
    answer = exchange.status or exchange.error
    result = Result()
    message = f"GET {exchange.url} -> {answer}, not a redirect to https"
    result.require(ok, "tls-no-redirect", message, exchange.evidence())
    return result


def tls_hsts(report: HealthReport) -> Result:
    """Health answers carry Strict-Transport-Security."""
    if report.tls is None:
        return Result(skip=NOT_HTTPS)
    missing = [
        e for e in report.health if e.error is None and not e.header("strict-transport-security")
    ]
    result = Result()
    evidence = [e.evidence() for e in missing]
    result.require(not missing, "tls-no-hsts", "no Strict-Transport-Security header", *evidence)
    return result
