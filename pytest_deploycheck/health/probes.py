"""The health suite's probes: every request it makes, run concurrently under one rate cap, so
that the suite takes about as long as its slowest probe and never loads the target hard."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from pytest_deploycheck.config import HttpSettings
from pytest_deploycheck.core.model import Gate
from pytest_deploycheck.core.stats import percentile
from pytest_deploycheck.health.settings import Endpoint, HealthSettings
from pytest_deploycheck.net.http import (
    LIMIT_CODES,
    Exchange,
    ExchangeStopped,
    exchange_of,
    make_async_client,
)
from pytest_deploycheck.net.rate_limit import RateLimiter, SharedRateLimiter

if TYPE_CHECKING:
    import httpx

# OpenSSL verification results, by what they mean for the deployment.
UNTRUSTED_CODE = "tls-untrusted"  # any other refusal of the chain
_TLS_CODES = {
    10: "tls-expired",
    18: "tls-self-signed",
    19: "tls-self-signed",
    62: "tls-hostname",
    64: "tls-hostname",  # an IP address the certificate does not name
}


@dataclass(frozen=True)
class VersionResult:
    """What version the target reports, where it said so, and how long we waited for it;
    ``keys``: the top-level keys of a JSON answer that holds no ``version_field``."""

    reported: str | None
    source: str
    exchange: Exchange
    polls: int = 1
    keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TlsResult:
    """The certificate as a client sees it: a problem code, or the days it has left."""

    problem: str | None
    message: str
    days_left: int | None = None


@dataclass
class HealthReport:
    """Everything the health probes saw."""

    health: list[Exchange] = field(default_factory=list)
    version: VersionResult | None = None
    endpoints: list[Exchange] = field(default_factory=list)
    refused_unsafe: list[Endpoint] = field(default_factory=list)
    latency: dict[str, list[Exchange]] = field(default_factory=dict)
    burst: list[Exchange] = field(default_factory=list)
    tls: TlsResult | None = None
    redirect: Exchange | None = None
    answered_before: bool = False  # the last GO kept in the state directory checked this URL


class Prober:
    """Makes requests with bounded concurrency and a rate cap; retries a failed connection
    (refused, reset, closed before answering), never a request the target let time out; and
    stops sending once the target is unresponsive (a circuit breaker)."""

    def __init__(
        self, client: httpx.AsyncClient, settings: HealthSettings, shared_cap: Path | None = None
    ) -> None:
        self._client = client
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._limiter = (
            SharedRateLimiter(settings.max_rps, shared_cap)
            if shared_cap
            else RateLimiter(settings.max_rps)
        )
        self._silent = 0  # read timeouts in a row
        self._dragged = False  # an answer went on past the exchange's deadline
        self._out = 0  # requests sent and not yet answered
        self._settled = asyncio.Event()  # set when none is out
        self._settled.set()

    @property
    def unresponsive(self) -> bool:
        """The target let ``breaker_timeouts`` requests in a row time out, or kept one answer
        going past the whole exchange's deadline (a drip is never a blip)."""
        return self._dragged or self._silent >= self._settings.breaker_timeouts

    async def fetch(self, method: str, url: str) -> Exchange:
        """One request; an idempotent one whose connection failed is tried again."""
        import httpx

        attempts = 1 + (self._settings.retries if method in ("GET", "HEAD", "OPTIONS") else 0)
        full = str(self._client.base_url.join(url))
        error, sent = "", 0
        for attempt in range(1, attempts + 1):
            async with self._slots:
                if self._silent:  # after a timeout, the breaker decides on those still out
                    await self._settled.wait()
                if self.unresponsive:
                    break
                await self._limiter.wait()
                sent = attempt
                try:
                    response = await self._sent(method, url)
                except ExchangeStopped as stop:  # the gate's own limits: never retried
                    self._dragged |= stop.code == LIMIT_CODES["time"]
                    return Exchange.stopped(method, full, stop, attempt)
                except httpx.TimeoutException as exc:
                    error = _error(exc)
                    if not isinstance(exc, httpx.ConnectTimeout):  # the target let it time out
                        self._silent += 1
                        return Exchange(method, full, error=error, attempts=attempt)
                except httpx.TransportError as exc:  # refused, reset, closed before answering
                    error = _error(exc)
                else:
                    self._silent = 0
                    return exchange_of(response, attempt)
            if attempt < attempts:
                await asyncio.sleep(self._settings.retry_backoff_s * 2 ** (attempt - 1))
        if self.unresponsive and not error:
            why = (
                "an answer went on past the exchange's deadline"
                if self._dragged
                else f"{self._settings.breaker_timeouts} requests in a row timed out"
            )
            error = f"not sent: the target is unresponsive ({why})"
        return Exchange(method, full, error=error, attempts=sent)

    async def _sent(self, method: str, url: str) -> httpx.Response:
        self._out += 1
        self._settled.clear()
        try:
            return await self._client.request(method, url)
        finally:
            self._out -= 1
            if not self._out:
                self._settled.set()


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def probe(
    base_url: str,
    settings: HealthSettings,
    http: HttpSettings,
    expected_version: str | None,
    allow_destructive: bool,
    shared_cap: Path | None = None,
) -> HealthReport:
    """Run every health probe concurrently and return what they saw. With ``shared_cap`` the
    request-rate cap is shared with every process of the run that uses the same file."""
    return asyncio.run(
        _probe(base_url, settings, http, expected_version, allow_destructive, shared_cap)
    )


async def _probe(
    base_url: str,
    settings: HealthSettings,
    http: HttpSettings,
    expected_version: str | None,
    allow_destructive: bool,
    shared_cap: Path | None,
) -> HealthReport:
    report = HealthReport()
    allowed = [e for e in settings.endpoints if e.safe or allow_destructive]
    report.refused_unsafe = [e for e in settings.endpoints if e not in allowed]
    sampled = [Endpoint(path) for path in settings.paths] + [e for e in allowed if e.safe]
    verify = settings.ca_bundle or True
    async with make_async_client(base_url, http, settings.concurrency, verify) as client:
        prober = Prober(client, settings, shared_cap)
        health = [asyncio.create_task(prober.fetch("GET", path)) for path in settings.paths]
        version = asyncio.create_task(_version(prober, settings, expected_version, health[0]))
        endpoints = asyncio.gather(*(prober.fetch(e.method, e.path) for e in allowed))
        latency = asyncio.create_task(_latency(prober, sampled, settings.latency_samples))
        burst = asyncio.create_task(
            _burst(prober, [e for e in allowed if e.safe] or sampled, settings)
        )
        tasks: list[asyncio.Future[Any]] = [*health, version, endpoints, latency, burst]
        tls = redirect = None
        if urlsplit(base_url).scheme == "https":
            tls = asyncio.create_task(asyncio.to_thread(_tls, base_url, settings.ca_bundle, http))
            plain = settings.http_url or _plain_url(base_url)
            redirect = asyncio.create_task(prober.fetch("GET", plain))
            tasks += [tls, redirect]
        await asyncio.gather(*tasks)
    report.health = [task.result() for task in health]
    report.version = version.result()
    report.endpoints = list(endpoints.result())
    report.latency = latency.result()
    report.burst = burst.result()
    report.tls = tls.result() if tls else None
    report.redirect = redirect.result() if redirect else None
    return report


async def _version(
    prober: Prober,
    settings: HealthSettings,
    expected: str | None,
    first_health: asyncio.Task[Exchange],
) -> VersionResult:
    """The reported version; with ``version_wait_s``, polled until it matches or time is up
    (counted from the first answer: the wait is for a rollout seen under way)."""
    exchange = await (
        prober.fetch("GET", settings.version_url) if settings.version_url else first_health
    )
    deadline = time.monotonic() + settings.version_wait_s
    result = _reported_version(exchange, settings)
    polls = 1
    while expected and result.reported != expected and time.monotonic() < deadline:
        await asyncio.sleep(min(settings.version_poll_s, max(0.0, deadline - time.monotonic())))
        exchange = await prober.fetch("GET", settings.version_url or settings.paths[0])
        result = _reported_version(exchange, settings)
        polls += 1
    return replace(result, polls=polls)


def _reported_version(exchange: Exchange, settings: HealthSettings) -> VersionResult:
    """Where the answer reports its version: ``version_field`` of a JSON answer (a top-level
    key, or a JMESPath expression: ``data.version``, ``build.version``), else the
    ``version_header``, else — answering ``version_url`` in plain text — the body, or what
    ``version_regex`` finds in it. A JSON answer without the field never has its whole body
    taken for a version."""
    data = exchange.json()
    value = _field(data, settings.version_field)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return VersionResult(str(value), f"JSON field {settings.version_field!r}", exchange)
    header = exchange.header(settings.version_header)
    if header is not None:
        return VersionResult(header, f"header {settings.version_header}", exchange)
    if data is not None:
        keys = tuple(data) if isinstance(data, dict) else ()
        return VersionResult(None, "nowhere", exchange, keys=keys)
    text = exchange.body.strip()
    if settings.version_url and exchange.status == 200 and text:
        found = re.search(settings.version_regex, text) if settings.version_regex else None
        if settings.version_regex and found is None:
            return VersionResult(None, "nowhere", exchange)
        reported = (found.group(1) if found.groups() else found.group()) if found else text
        return VersionResult(reported, f"body of {settings.version_url}", exchange)
    return VersionResult(None, "nowhere", exchange)


def _field(data: object, field: str) -> object:
    """A field of a JSON answer: the top-level key named so, else the JMESPath expression."""
    if isinstance(data, dict) and field in data:
        return data[field]
    import jmespath

    try:
        return jmespath.search(field, data) if data is not None else None
    except jmespath.exceptions.JMESPathError:
        return None


async def _latency(
    prober: Prober, endpoints: list[Endpoint], samples: int
) -> dict[str, list[Exchange]]:
    runs = [
        asyncio.gather(*(prober.fetch(e.method, e.path) for _ in range(samples))) for e in endpoints
    ]
    return {str(e): list(r) for e, r in zip(endpoints, await asyncio.gather(*runs), strict=True)}


async def _burst(
    prober: Prober, endpoints: list[Endpoint], settings: HealthSettings
) -> list[Exchange]:
    count = settings.burst_requests
    targets = [endpoints[i % len(endpoints)] for i in range(count)]
    return list(await asyncio.gather(*(prober.fetch(e.method, e.path) for e in targets)))


def _plain_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"http://{parts.hostname}/"


def _tls(base_url: str, ca_bundle: str | None, http: HttpSettings) -> TlsResult:
    """Handshake as a browser would: trusted chain, matching host name, then days to expiry."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=ca_bundle)
    try:
        with (
            socket.create_connection((host, port), timeout=http.connect_timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        code = _TLS_CODES.get(exc.verify_code, UNTRUSTED_CODE)
        names = _names(host, port, ca_bundle, http) if code == "tls-hostname" else ""
        return TlsResult(code, f"{host}:{port}: {exc.verify_message}{names}")
    except (OSError, ssl.SSLError) as exc:
        return TlsResult("tls-handshake", f"{host}:{port}: {exc}")
    not_after = datetime.fromtimestamp(
        ssl.cert_time_to_seconds(str(cert["notAfter"])), timezone.utc
    )
    days = (not_after - datetime.now(timezone.utc)).days
    return TlsResult(None, f"{host}:{port}: valid until {not_after:%Y-%m-%d}", days)


def _names(host: str, port: int, ca_bundle: str | None, http: HttpSettings) -> str:
    """The names a trusted certificate that does not name ``host`` gives instead."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.check_hostname = False  # the chain is still verified: only the name is not
    try:
        with (
            socket.create_connection((host, port), timeout=http.connect_timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert() or {}
    except (OSError, ssl.SSLError):
        return ""
    names = [
        str(value)
        for kind, value in cast("tuple[tuple[str, str], ...]", cert.get("subjectAltName", ()))
        if kind in ("DNS", "IP Address")
    ]
    return f" (the certificate names {', '.join(names)}, not {host})" if names else ""


LATENCY_CODES = {
    "unmeasured": "latency-unmeasured",
    "budget": "latency-budget",
    "regression": "latency-regression",
}


def latency_gate(
    name: str,
    exchanges: list[Exchange],
    settings: HealthSettings,
    baseline: dict[str, float] | None = None,
) -> tuple[Gate, tuple[str, str] | None]:
    """p95 of the successful samples against the budget and, when known, the baseline.

    Returns the gate and, when it does not pass, the reason code and message.
    """
    gate_name = f"latency.p95 {name}"
    times = [e.elapsed_s * 1000 for e in exchanges if not e.server_error]
    if not times:
        gate = Gate(
            gate_name, None, settings.latency_budget_ms, "hold", "no sample succeeded", 0, unit="ms"
        )
        return gate, (LATENCY_CODES["unmeasured"], f"{name}: no sample succeeded")
    p50, p95 = percentile(times, 50), percentile(times, 95)
    limit, why, code = settings.latency_budget_ms, "the budget", LATENCY_CODES["budget"]
    earlier = (baseline or {}).get(gate_name)
    if earlier is not None and earlier * settings.baseline_ratio < limit:
        limit, code = earlier * settings.baseline_ratio, LATENCY_CODES["regression"]
        why = f"{settings.baseline_ratio}x the baseline {earlier:.0f} ms"
    status = "pass" if p95 <= limit else "hold"
    detail = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(times)} samples; limit: {why}"
    gate = Gate(gate_name, round(p95, 1), round(limit, 1), status, detail, len(times), unit="ms")
    message = f"{name}: p95 {p95:.0f} ms over {limit:.0f} ms ({why})"
    return gate, None if status == "pass" else (code, message)
