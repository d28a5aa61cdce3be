"""Asking the monitoring system: Prometheus' HTTP API, or any HTTP JSON API (``web``).

Each answer is a list of series, each with its labels and its values (one for an instant
query, several for a range). A provider that cannot answer raises :class:`MetricsError`; an
answer without a number is an empty list. Requests time out, and redirects are followed only
within the monitoring system's own origin. httpx and jmespath are imported on first use.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from pytest_deploycheck.config import HttpSettings
from pytest_deploycheck.metrics.settings import PLACEHOLDER, Query, duration_s
from pytest_deploycheck.net.http import ExchangeStopped, make_client

if TYPE_CHECKING:
    import httpx

REDIRECTS = 3  # same-origin redirects followed at most
UNAVAILABLE_CODE = "metrics-unavailable"
QUERY_ERROR_CODE = "metrics-query-error"


class MetricsError(Exception):
    """No answer to judge, with the reason code: the monitoring system could not be reached
    (``metrics-unavailable``), refused the query (``metrics-query-error``), had no number."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Series:
    """One series of an answer: its labels and its values (NaN and infinities dropped)."""

    labels: Mapping[str, str]
    values: tuple[float, ...]

    @property
    def key(self) -> str:
        """The series as Prometheus writes it (``{code="500",route="/"}``); ``{}`` alone."""
        return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items())) + "}"


@dataclass(frozen=True)
class Context:
    """What the placeholders stand for in one run."""

    target: str
    version: str | None = None
    baseline_version: str | None = None
    now: float = field(default_factory=time.time)


class MissingValue(Exception):
    """A placeholder the run has no value for (``{{version}}`` without a version)."""


def render(text: str, query: Query, context: Context, at: float, version: str | None) -> str:
    """``text`` with its placeholders filled: the query's window, the version (or the one
    asked for), the target's name and the window's start and end in Unix seconds."""
    values = {
        "window": query.window,
        "version": version if version is not None else context.version,
        "baseline_version": context.baseline_version,
        "target": context.target,
        "start": str(int(at - query.window_s)),
        "end": str(int(at)),
    }

    def fill(match: Any) -> str:
        value = values[match.group(1)]
        if value is None:
            raise MissingValue(match.group(1))
        return value

    return str(PLACEHOLDER.sub(fill, text))


@dataclass(frozen=True)
class Answer:
    """What the monitoring system answered, and where it was asked (for the evidence)."""

    series: list[Series]
    asked: str  # the request, as evidence


def ask(
    query: Query,
    context: Context,
    timeout_s: float,
    at: float | None = None,
    version: str | None = None,
) -> Answer:
    """One query at ``at`` (default: now), for ``version`` (default: the run's)."""
    when = context.now if at is None else at
    limits = HttpSettings(connect_timeout_s=timeout_s, read_timeout_s=timeout_s)
    with make_client("", limits, [query.url]) as client:
        if query.provider == "prometheus":
            return _prometheus(client, query, context, when, version, timeout_s)
        return _web(client, query, context, when, version)


def _prometheus(
    client: httpx.Client,
    query: Query,
    context: Context,
    at: float,
    version: str | None,
    timeout_s: float,
) -> Answer:
    promql = render(query.query, query, context, at, version)
    params: dict[str, str] = {"query": promql, "timeout": f"{timeout_s:g}s"}
    if query.range:
        span = duration_s(query.range)
        step = duration_s(query.step) if query.step else max(span / 60, 1.0)
        params.update(start=f"{at - span:.3f}", end=f"{at:.3f}", step=f"{step:g}")
        path = "/api/v1/query_range"
    else:
        params["time"] = f"{at:.3f}"
        path = "/api/v1/query"
    url = query.url.rstrip("/") + path
    response = _send(client, "GET", url, query.headers, params)
    data = _json(response)
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error", "") if isinstance(data, dict) else ""
        kind = data.get("errorType", "") if isinstance(data, dict) else ""
        code = QUERY_ERROR_CODE if kind in ("bad_data", "execution") else UNAVAILABLE_CODE
        raise MetricsError(code, f"Prometheus answered {response.status_code}: {kind} {error}")
    return Answer(_prometheus_series(data.get("data", {})), f"GET {url} query={promql}")


def _prometheus_series(data: Mapping[str, Any]) -> list[Series]:
    kind, result = data.get("resultType"), data.get("result", [])
    if kind == "scalar":
        return _kept([Series({}, _numbers([result[1]]))])
    if kind == "vector":
        return _kept([Series(item["metric"], _numbers([item["value"][1]])) for item in result])
    if kind == "matrix":
        return _kept(
            [Series(item["metric"], _numbers([v for _, v in item["values"]])) for item in result]
        )
    raise MetricsError(
        QUERY_ERROR_CODE, f"Prometheus answered a {kind} where a number was expected"
    )


def _web(
    client: httpx.Client, query: Query, context: Context, at: float, version: str | None
) -> Answer:
    import jmespath
    from jmespath.exceptions import JMESPathError

    url = render(query.url, query, context, at, version)
    params = {k: render(v, query, context, at, version) for k, v in query.params.items()}
    body = render(query.body, query, context, at, version) if query.body else None
    headers = {**query.headers, **({"Content-Type": "application/json"} if body else {})}
    response = _send(client, query.method, url, headers, params, body)
    data = _json(response)
    try:
        found = jmespath.search(query.jmespath, data)
    except JMESPathError as exc:
        raise MetricsError(QUERY_ERROR_CODE, f"jmespath {query.jmespath!r}: {exc}") from None
    asked = f"{query.method} {url}"
    if isinstance(found, list):
        series = [Series({"index": str(i)}, _numbers([v])) for i, v in enumerate(found)]
        return Answer(_kept(series), asked)
    return Answer(_kept([Series({}, _numbers([found]))]), asked)


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    body: str | None = None,
) -> httpx.Response:
    """The request, following redirects that stay on its origin; MetricsError otherwise."""
    import httpx

    origin = urlsplit(url)[:2]
    request = client.build_request(method, url, headers=dict(headers), params=params, content=body)
    for _ in range(REDIRECTS + 1):
        try:
            response = client.send(request)
        except httpx.TimeoutException:
            raise MetricsError(UNAVAILABLE_CODE, f"no answer from {_origin(url)} in time") from None
        except ExchangeStopped as stop:
            raise MetricsError(UNAVAILABLE_CODE, f"{_origin(url)}: {stop}") from None
        except httpx.HTTPError as exc:
            raise MetricsError(UNAVAILABLE_CODE, f"{_origin(url)}: {_plain(exc)}") from None
        if not response.is_redirect:
            break
        location = urljoin(str(response.url), response.headers.get("location", ""))
        if urlsplit(location)[:2] != origin:
            raise MetricsError(
                UNAVAILABLE_CODE, f"{_origin(url)} redirected to {_origin(location)}; not followed"
            )
        request = client.build_request(method, location, headers=dict(headers), content=body)
    else:
        raise MetricsError(
            UNAVAILABLE_CODE, f"{_origin(url)} redirected more than {REDIRECTS} times"
        )
    if response.status_code in (400, 422):
        raise MetricsError(QUERY_ERROR_CODE, _refused(response))
    if response.status_code >= 300:
        raise MetricsError(UNAVAILABLE_CODE, _refused(response))
    return response


def _refused(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:300]
    return f"{_origin(str(response.url))} answered {response.status_code}: {text}"


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.text)
    except ValueError:
        raise MetricsError(
            UNAVAILABLE_CODE, f"{_origin(str(response.url))} answered something that is not JSON"
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _plain(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _numbers(values: Sequence[Any]) -> tuple[float, ...]:
    """The finite numbers among ``values`` (Prometheus writes them as strings)."""
    numbers = []
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            numbers.append(number)
    return tuple(numbers)


def _kept(series: list[Series]) -> list[Series]:
    return [s for s in series if s.values]
