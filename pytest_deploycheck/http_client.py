"""The HTTP client checks use: bound to the base URL, explicit timeouts, connections reused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_deploycheck import __version__
from pytest_deploycheck.config import HttpSettings

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"pytest-deploycheck/{__version__}"


def make_client(base_url: str, settings: HttpSettings) -> httpx.Client:
    """A client for ``base_url``; redirects are not followed so checks can see them."""
    import httpx

    timeout = httpx.Timeout(
        settings.read_timeout_s, connect=settings.connect_timeout_s, pool=settings.connect_timeout_s
    )
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
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

    def json_field(self, name: str) -> object:
        """A top-level field of a JSON body, or None when the body is not a JSON object."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data.get(name) if isinstance(data, dict) else None


def get(client: httpx.Client, path: str, body_limit: int = 64 * 1024) -> Exchange:
    """GET ``path``; transport failures (refused, timed out) are reported, not raised."""
    import httpx

    url = str(client.base_url.join(path))
    try:
        response = client.get(path)
    except httpx.TransportError as exc:
        return Exchange("GET", url, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    return Exchange(
        "GET",
        url,
        response.status_code,
        dict(response.headers),
        response.text[:body_limit],
        response.elapsed.total_seconds(),
    )
