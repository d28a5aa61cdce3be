"""Settings of the prebuilt health suite (``[targets.NAME.suites.health]``), validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.core.settings_table import Ranged, number, parse_table

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Endpoint:
    """A critical endpoint that must answer 2xx or 3xx."""

    path: str
    method: str = "GET"

    @property
    def safe(self) -> bool:
        """Whether calling it cannot change the target."""
        return self.method in SAFE_METHODS

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class HealthSettings(Ranged):
    """What the health suite checks and how hard it may push the target."""

    paths: tuple[str, ...] = ("/api/health",)
    expect: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    version_field: str = "version"
    version_header: str = "x-app-version"
    version_url: str | None = None
    version_regex: str | None = None  # the version in a plain-text answer: group 1, else all
    version_wait_s: float = number(0.0, 0, 3600)
    version_poll_s: float = number(5.0, 0, 600, above=True)
    endpoints: tuple[Endpoint, ...] = ()
    latency_samples: int = number(5, 1, 1000)
    latency_budget_ms: float = number(1000.0, 0, 600_000, above=True)
    baseline_ratio: float = number(1.5, 1, 1000)
    burst_requests: int = number(100, 1, 10_000)
    concurrency: int = number(10, 1, 100)
    max_rps: float = number(50.0, 0, 10_000, above=True)
    retries: int = number(2, 0, 10)
    retry_backoff_s: float = number(0.2, 0, 60)
    breaker_timeouts: int = number(3, 1, 100)
    tls_min_days: int = number(14, 0, 3650)
    ca_bundle: str | None = None
    http_url: str | None = None

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> HealthSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        special = {"expect": _expect, "endpoints": _endpoints}
        settings = parse_table(cls, table, special)
        if not settings.paths:
            raise ValueError("paths must name at least one health path")
        if settings.version_regex is not None:
            try:
                re.compile(settings.version_regex)
            except re.error as exc:
                raise ValueError(f"version_regex is not a regular expression: {exc}") from None
        return settings


def _expect(value: Any) -> dict[str, tuple[Any, ...]]:
    if not isinstance(value, dict):
        raise ValueError("expect must be a table of field = value or [values]")
    return {k: tuple(v) if isinstance(v, list) else (v,) for k, v in value.items()}


def _endpoints(value: Any) -> tuple[Endpoint, ...]:
    if not isinstance(value, list):
        raise ValueError("endpoints must be a list")
    return tuple(_endpoint(item) for item in value)


def _endpoint(item: Any) -> Endpoint:
    if isinstance(item, str):
        return Endpoint(item)
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return Endpoint(item["path"], str(item.get("method", "GET")).upper())
    raise ValueError('each endpoint must be a path or {path = "...", method = "..."}')
