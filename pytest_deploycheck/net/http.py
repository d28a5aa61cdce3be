"""HTTP for checks: clients bound to the base URL with explicit timeouts, and the exchanges
they record (redacted before they become evidence). httpx is imported on first use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_deploycheck import __version__
from pytest_deploycheck.config import HttpSettings
from pytest_deploycheck.core.model import Evidence

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"pytest-deploycheck/{__version__}"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "apikey"}
)
BODY_LIMIT = 64 * 1024  # characters of a response body kept
EVIDENCE_BODY = 2000  # characters of it shown as evidence


def _timeout(settings: HttpSettings) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(
        settings.read_timeout_s, connect=settings.connect_timeout_s, pool=settings.connect_timeout_s
    )


def make_client(base_url: str, settings: HttpSettings) -> httpx.Client:
    """A client for ``base_url``; redirects are not followed so checks can see them."""
    import httpx

    return httpx.Client(
        base_url=base_url,
        timeout=_timeout(settings),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def make_async_client(
    base_url: str, settings: HttpSettings, connections: int, verify: str | bool = True
) -> httpx.AsyncClient:
    """The same client for concurrent probes, holding at most ``connections`` connections."""
    import ssl

    import httpx

    context = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=_timeout(settings),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        verify=context,
    )


@dataclass(frozen=True)
class Exchange:
    """One request and what came back; ``error`` is set when nothing came back."""

    method: str
    url: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    elapsed_s: float = 0.0
    error: str | None = None
    attempts: int = 1

    @property
    def server_error(self) -> bool:
        """A transport failure or a 5xx: what an error rate counts."""
        return self.error is not None or (self.status is not None and self.status >= 500)

    def header(self, name: str) -> str | None:
        """A response header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json_field(self, name: str) -> object:
        """A top-level field of a JSON body, or None when the body is not a JSON object."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data.get(name) if isinstance(data, dict) else None

    def evidence(self) -> Evidence:
        """The exchange as a piece of evidence, named after the request."""
        return Evidence(f"{self.method} {self.url}", self.describe())

    def describe(self) -> str:
        """The exchange as evidence: credentials masked, body capped."""
        lines = [f"{self.method} {self.url}"]
        if self.error is not None:
            lines.append(f"-> no response: {self.error}")
        else:
            lines.append(f"-> {self.status} in {self.elapsed_s * 1000:.0f} ms")
            lines += [
                f"{name}: {'***' if name.lower() in SENSITIVE_HEADERS else value}"
                for name, value in self.headers.items()
            ]
            body = self.body[:EVIDENCE_BODY]
            more = len(self.body) - len(body)
            lines += ["", body + (f"\n... ({more} more characters)" if more > 0 else "")]
        if self.attempts > 1:
            lines.append(f"(attempt {self.attempts})")
        return "\n".join(lines)


def exchange_of(response: httpx.Response, attempts: int = 1) -> Exchange:
    """Record a response."""
    return Exchange(
        response.request.method,
        str(response.request.url),
        response.status_code,
        dict(response.headers),
        response.text[:BODY_LIMIT],
        response.elapsed.total_seconds(),
        attempts=attempts,
    )
