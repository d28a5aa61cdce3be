"""HTTP for checks: clients bound to the base URL with explicit timeouts, and the exchanges
they record (redacted before they become evidence). httpx is imported on first use.

Every client goes through one bounded transport, so that no target can turn the gate against
itself: a request that would carry credentials (a cookie, an ``Authorization`` header, a body)
to an origin other than the ones it is meant for is never sent; a whole exchange (connecting,
the answer's headers, its body) has a deadline besides the per-read timeout; and a body is
read and decompressed piece by piece, up to a cap on the decoded bytes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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
# What an answer may be compressed with: the encodings decoded here within the cap. Others
# (br, zstd) are never asked for, and an answer sent in one anyway is kept as it came.
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_PORTS = {"http": 80, "https": 443}

UNREACHABLE_CODE = "unreachable"  # nothing came back: refused, reset, timed out
# The reason codes of an exchange the gate stopped, by what stopped it.
LIMIT_CODES = {
    "origin": "credentials-off-origin",
    "size": "body-too-large",
    "time": "too-slow",
}


class ExchangeStopped(Exception):
    """An exchange the gate stopped itself: never sent (credentials bound for another origin),
    or cut off (a body over the cap, an exchange past its deadline). ``code`` is the reason
    code; ``status`` and ``headers`` what had come back by then."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.headers = dict(headers or {})


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the port always written (``https://a.b:443``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass(frozen=True)
class Limits:
    """What one client may do: the origins it may send credentials to, how long a whole
    exchange may take, and how many decoded bytes a body may have."""

    origins: frozenset[str]
    deadline_s: float
    max_body: int

    @classmethod
    def of(cls, settings: HttpSettings, urls: Iterable[str]) -> Limits:
        allowed = frozenset(origin(url) for url in urls if "://" in url)
        max_body = round(settings.max_body_mb * 1024 * 1024)
        return cls(allowed, settings.deadline_s, max_body)

    def check_origin(self, method: str, url: str, headers: Mapping[str, str], body: bool) -> None:
        """Refuse a request that would carry credentials to an origin not allowed."""
        names = {name.lower() for name in headers}
        carried = [
            what
            for what, present in (
                ("a cookie", "cookie" in names),
                ("an Authorization header", "authorization" in names),
                ("a request body", body),
            )
            if present
        ]
        if carried and origin(url) not in self.origins:
            allowed = ", ".join(sorted(self.origins)) or "none"
            raise ExchangeStopped(
                LIMIT_CODES["origin"],
                f"not sent: {method} {url} would carry {' and '.join(carried)} to"
                f" {origin(url)}, which is not the target's origin (allowed: {allowed})",
            )


_PIECE = 64 * 1024  # decoded bytes made at a time


class _Decoder:
    """A body's bytes as sent (``Content-Encoding``) made into its bytes as meant, a piece at
    a time: a gzip bomb is never unpacked further than its reader reads."""

    def __init__(self, encoding: str) -> None:
        wbits = {
            "gzip": zlib.MAX_WBITS | 16,
            "deflate": zlib.MAX_WBITS,
            "x-gzip": zlib.MAX_WBITS | 16,
        }
        self.kind = encoding.strip().lower()
        self._zlib = zlib.decompressobj(wbits[self.kind]) if self.kind in wbits else None
        self._settled = False  # the stream's format is known: deflate wrapped or raw

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, at most ``_PIECE`` of them at a time."""
        if self._zlib is None:
            yield data
            return
        while True:
            try:
                piece = self._zlib.decompress(data, _PIECE)
            except zlib.error:
                if self.kind != "deflate" or self._settled:
                    raise
                self._settled = True  # deflate sent raw, as some servers do
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._settled = True
            yield piece
            data = self._zlib.unconsumed_tail
            if not data and len(piece) < _PIECE:  # a full piece may leave output pending
                return


def _escaped(value: bytes) -> str:
    """A header's bytes as text: ASCII as it is, anything else as escapes (``\\xe2``)."""
    return value.decode("ascii", "backslashreplace")


def headers_of(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Response headers as text, bytes that are not ASCII kept as escapes: a header no
    client may send back never raises."""
    found: dict[str, str] = {}
    for name, value in raw:
        key = _escaped(name)
        found[key] = f"{found[key]}, {_escaped(value)}" if key in found else _escaped(value)
    return found


def header_values(response: httpx.Response, name: str) -> list[str]:
    """Every value of one response header, as escaped text."""
    wanted = name.lower().encode()
    return [_escaped(v) for k, v in response.headers.raw if k.lower() == wanted]


async def _bounded(
    inner: httpx.AsyncBaseTransport, limits: Limits, request: httpx.Request
) -> httpx.Response:
    """One exchange through ``inner``, inside ``limits``: the whole answer read, decoded."""
    import anyio
    import httpx

    body = await request.aread()
    limits.check_origin(request.method, str(request.url), request.headers, bool(body))
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
    try:
        with anyio.fail_after(limits.deadline_s):
            response = await inner.handle_async_request(request)
            try:
                content = await _read(response, limits.max_body)
            finally:
                await response.aclose()
    except TimeoutError:
        raise ExchangeStopped(
            LIMIT_CODES["time"],
            f"no whole answer within {limits.deadline_s:g} s (the exchange's deadline:"
            " the target kept it going, too slowly)",
        ) from None
    dropped = (b"content-encoding", b"content-length", b"transfer-encoding")
    return httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.raw if k.lower() not in dropped],
        stream=httpx.ByteStream(content),  # read by the client, which times it
        request=request,
        extensions={
            k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")
        },
    )


async def _read(response: httpx.Response, cap: int) -> bytes:
    """The body, decoded piece by piece; ExchangeStopped past ``cap`` decoded bytes."""
    import httpx

    decoder = _Decoder(response.headers.get("content-encoding", "identity"))
    body: list[bytes] = []  # pieces, joined once: no buffer grown and copied again and again
    size = 0
    try:
        async for chunk in response.stream:  # type: ignore[union-attr]
            for piece in decoder.pieces(chunk):
                size += len(piece)
                if size > cap:
                    raise ExchangeStopped(
                        LIMIT_CODES["size"],
                        f"the answer's body is larger than {cap} bytes decoded: not read further",
                        response.status_code,
                        headers_of(response.headers.raw),
                    )
                body.append(piece)
    except zlib.error as exc:  # as httpx says it
        raise httpx.DecodingError(f"{decoder.kind}: {exc}", request=response.request) from None
    return b"".join(body)


@cache
def _transports() -> tuple[type[Any], type[Any]]:
    """The bounded transports, async and sync (httpx and anyio imported here, on first use)."""
    import httpx
    from anyio.from_thread import start_blocking_portal

    class AsyncBounded(httpx.AsyncBaseTransport):
        """httpx's own transport, inside the gate's limits."""

        def __init__(self, limits: Limits, verify: Any, connections: int = 100) -> None:
            self.limits = limits
            self.inner = httpx.AsyncHTTPTransport(
                verify=verify,
                limits=httpx.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                ),
            )

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await _bounded(self.inner, self.limits, request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    class Bounded(httpx.BaseTransport):
        """The same for a synchronous client: each exchange runs on an event loop of the
        client's own (a thread), where the deadline can stop it wherever it waits."""

        def __init__(self, limits: Limits, verify: Any) -> None:
            self._bounded = AsyncBounded(limits, verify)
            self._portal: Any = None
            self._portal_cm: Any = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            request.read()  # the body as bytes, which both kinds of stream can send
            if self._portal is None:
                self._portal_cm = start_blocking_portal(name="deploycheck-http")
                self._portal = self._portal_cm.__enter__()
            response: httpx.Response = self._portal.call(
                self._bounded.handle_async_request, request
            )
            return response

        def close(self) -> None:
            if self._portal is not None:
                self._portal.call(self._bounded.aclose)
                self._portal_cm.__exit__(None, None, None)
                self._portal = self._portal_cm = None

    return AsyncBounded, Bounded


class _PlainCookies(DefaultCookiePolicy):
    """Keeps only cookies a client can send back: names and values of printable ASCII."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        text = f"{cookie.name}{cookie.value or ''}"
        return text.isascii() and text.isprintable() and super().set_ok(cookie, request)


class _NoCookies(DefaultCookiePolicy):
    """Keeps no cookie: every probe is a first visit."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def make_client(base_url: str, settings: HttpSettings, origins: Iterable[str] = ()) -> httpx.Client:
    """A client for ``base_url``, within the gate's limits: credentials go only to its origin
    and ``origins``; redirects are not followed so checks can see them."""
    import httpx

    limits = Limits.of(settings, [base_url, *origins])
    client = httpx.Client(
        base_url=base_url,
        timeout=_timeout(settings),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        transport=_transports()[1](limits, True),
    )
    client.cookies.jar.set_policy(_PlainCookies())
    return client


def make_async_client(
    base_url: str, settings: HttpSettings, connections: int, verify: str | bool = True
) -> httpx.AsyncClient:
    """A cookieless client for concurrent probes of ``base_url``, holding at most
    ``connections`` connections."""
    import ssl

    import httpx

    context = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    transport = _transports()[0](Limits.of(settings, [base_url]), context, connections)
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=_timeout(settings),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        transport=transport,
    )
    client.cookies.jar.set_policy(_NoCookies())
    return client


def _timeout(settings: HttpSettings) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(
        settings.read_timeout_s, connect=settings.connect_timeout_s, pool=settings.connect_timeout_s
    )


@dataclass(frozen=True)
class Exchange:
    """One request and what came back; ``error`` is set when nothing (whole) came back, and
    ``code`` when the gate itself stopped the exchange (``LIMIT_CODES``)."""

    method: str
    url: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    elapsed_s: float = 0.0
    error: str | None = None
    attempts: int = 1
    code: str | None = None

    @classmethod
    def stopped(cls, method: str, url: str, stop: ExchangeStopped, attempts: int = 1) -> Exchange:
        """An exchange the gate stopped, with what had come back by then."""
        return cls(
            method,
            url,
            stop.status,
            stop.headers,
            error=str(stop),
            attempts=attempts,
            code=stop.code,
        )

    @property
    def server_error(self) -> bool:
        """A transport failure or a 5xx: what an error rate counts."""
        return self.error is not None or (self.status is not None and self.status >= 500)

    @property
    def failure_code(self) -> str:
        """The reason code of a failed exchange: the gate's own limit, else unreachable."""
        return self.code or UNREACHABLE_CODE

    def header(self, name: str) -> str | None:
        """A response header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> object:
        """The body as JSON; None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def json_field(self, name: str) -> object:
        """A top-level field of a JSON body, or None when the body is not a JSON object."""
        data = self.json()
        return data.get(name) if isinstance(data, dict) else None

    def evidence(self) -> Evidence:
        """The exchange as a piece of evidence, named after the request."""
        return Evidence(f"{self.method} {self.url}", self.describe())

    def describe(self) -> str:
        """The exchange as evidence: credentials masked, body capped."""
        lines = [f"{self.method} {self.url}"]
        if self.status is not None:
            lines.append(f"-> {self.status} in {self.elapsed_s * 1000:.0f} ms")
            lines += [
                f"{name}: {'***' if name.lower() in SENSITIVE_HEADERS else value}"
                for name, value in self.headers.items()
            ]
        if self.error is not None:
            lines.append(f"-> no response: {self.error}" if self.status is None else self.error)
        else:
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
        headers_of(response.headers.raw),
        response.text[:BODY_LIMIT],
        response.elapsed.total_seconds(),
        attempts=attempts,
    )
