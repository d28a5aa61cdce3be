"""Settings of the prebuilt health suite (``[targets.NAME.suites.health]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.core.settings_table import parse_table

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
class HealthSettings:
    """What the health suite checks and how hard it may push the target."""

    paths: tuple[str, ...] = ("/api/health",)
    expect: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    version_field: str = "version"
    version_header: str = "x-app-version"
    version_url: str | None = None
    version_wait_s: float = 0.0
    version_poll_s: float = 5.0
    endpoints: tuple[Endpoint, ...] = ()
    latency_samples: int = 5
    latency_budget_ms: float = 1000.0
    baseline_ratio: float = 1.5
    burst_requests: int = 100
    concurrency: int = 10
    max_rps: float = 50.0
    retries: int = 2
    retry_backoff_s: float = 0.2
    breaker_timeouts: int = 3
    tls_min_days: int = 14
    ca_bundle: str | None = None
    http_url: str | None = None

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> HealthSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        special = {"expect": _expect, "endpoints": _endpoints}
        settings = parse_table(cls, table, special)
        settings._validate()
        return settings

    def _validate(self) -> None:
        positive = (
            "latency_samples",
            "burst_requests",
            "concurrency",
            "max_rps",
            "version_poll_s",
            "breaker_timeouts",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be above 0")
        if self.baseline_ratio < 1:
            raise ValueError("baseline_ratio must be at least 1")
        if not self.paths:
            raise ValueError("paths must name at least one health path")


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
