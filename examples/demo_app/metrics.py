"""The demo's Prometheus metrics, as a real service exposes them: requests by route, method,
status and version, and a latency histogram, on ``/metrics`` (prometheus-client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

PATH = "/metrics"


class DemoMetrics:
    """One app's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "demo_http_requests",
            "HTTP requests answered, by route, method, status code and version",
            ["route", "method", "code", "version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "demo_http_request_duration_seconds",
            "Time to answer an HTTP request, by route and version",
            ["route", "version"],
            registry=self.registry,
        )

    def observe(self, route: str, method: str, code: int, version: str, seconds: float) -> None:
        self.requests.labels(route, method, str(code), version).inc()
        self.latency.labels(route, version).observe(seconds)

    def exposition(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_of(routes: list[BaseRoute], request: Request) -> str:
    """The route's template (``/api/notes/{note_id:int}``), so that ids do not become labels."""
    matches = [(route.matches(request.scope)[0], route) for route in routes]
    for wanted in (Match.FULL, Match.PARTIAL):  # PARTIAL: the path, another method
        for match, route in matches:
            if match is wanted:
                return str(getattr(route, "path", "unmatched"))
    return "unmatched"
