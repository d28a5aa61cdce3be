"""What a target's HTTP side is, asked the way a first visitor would: GET requests only, no
credentials, redirects followed on the target's own origin. Each fact keeps how it was found."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

from pytest_deploycheck.login.judge import SetCookie
from pytest_deploycheck.login.pages import LOGOUT_NAME, Page
from pytest_deploycheck.net.http import ExchangeStopped, header_values, make_client

if TYPE_CHECKING:
    import httpx

    from pytest_deploycheck.config import HttpSettings

# Where frameworks, Kubernetes-style probes and monitoring servers answer "I am up".
HEALTH_PATHS = (
    "/api/health",
    "/health",
    "/healthz",
    "/health/ready",
    "/readyz",
    "/livez",
    "/_health",
    "/api/healthz",
    "/actuator/health",
    "/-/healthy",
    "/-/ready",
    "/status",
    "/api/status",
    "/ping",
)
# Where a version is reported when the health answer does not say it.
VERSION_PATHS = (
    "/version",
    "/api/version",
    "/api/v1/status/buildinfo",
    "/actuator/info",
    "/info",
    "/build-info",
    "/__version__",
    "/api",  # Jupyter Server's {"version": ...}
)
VERSION_HEADERS = ("x-app-version", "x-version", "x-build-version", "x-release")
VERSION_KEYS = ("version", "app_version", "appversion", "build_version", "buildversion")
LOGIN_PATHS = (
    "/login",
    "/signin",
    "/sign-in",
    "/auth/login",
    "/accounts/login/",
    "/admin/login/",
    "/users/sign_in",
    "/user/login",
    "/",
)
# Pages only a signed-in user sees: one that sends a first visitor to the login page or
# answers 401/403 tells a login that worked from one that did not.
PROTECTED_PATHS = (
    "/dashboard",
    "/account",
    "/profile",
    "/admin/",
    "/api/me",
    "/api/user",
    "/api/status",
    "/me",
    "/home",
)
# Log-out pages a browser opens with GET (one that must be POSTed is found on the page).
LOGOUT_PATHS = ("/logout", "/signout", "/sign-out", "/auth/logout", "/users/sign_out")
# Where frameworks publish their API's OpenAPI document (FastAPI, springdoc, others).
OPENAPI_PATHS = ("/openapi.json", "/api/openapi.json", "/v3/api-docs", "/swagger.json")
USERNAME_KEYS = ("email", "username", "login", "user", "user_name")
TOKEN_FIELDS = ("access_token", "token", "accessToken", "jwt", "id_token")
HEALTHY = {"ok", "up", "pass", "healthy", "success", "green", "alive", "ready", "true"}
MAX_REDIRECTS = 5
MAX_FAILURES = 3
_VERSION_TEXT = re.compile(r"\bv?(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?)\b")


@dataclass(frozen=True)
class Answer:
    """What one GET ended on: the path asked, where it landed, its status and body."""

    path: str
    url: str
    status: int | None
    content_type: str = ""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: tuple[tuple[SetCookie, str], ...] = ()  # each cookie set, and its value's kind
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> object:
        """The body as JSON, whatever its content type says (as the health suite reads it)."""
        if not self.body.lstrip().startswith(("{", "[")):
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name), None)

    @property
    def said(self) -> str:
        """How it answered, for a comment: ``200 (application/json)``, or the error."""
        if self.status is None:
            return f"no answer ({self.error})"
        kind = self.content_type.split(";")[0].strip()
        return f"{self.status}" + (f" ({kind})" if kind else "")


@dataclass(frozen=True)
class Version:
    """Where the target reports its version, and what it reports now."""

    found: str
    how: str  # the comment: where it was read
    url: str | None = None  # version_url, when not a health path
    field: str | None = None  # version_field, a JMESPath expression
    header: str | None = None  # version_header
    regex: str | None = None  # version_regex, for a plain-text answer


@dataclass(frozen=True)
class LoginPage:
    """A page with a password form."""

    path: str  # login_url
    answer: Answer
    username_field: str | None  # None: the form asks for a password alone
    protected: str | None  # where the login page says it leads (its next=)
    protected_how: str = "where the login page leads (its next=)"
    logout: str | None = None  # a log-out page that answers GET


@dataclass(frozen=True)
class TokenApi:
    """A JSON token endpoint, as the app's OpenAPI document describes it."""

    document: str  # where the document is
    url: str  # token_url
    username_key: str | None
    password_key: str
    token_field: str
    protected: str | None  # a GET operation that asks for the token
    logout: str | None  # a POST operation that ends it


@dataclass(frozen=True)
class Exposition:
    """The Prometheus metrics the app exposes itself."""

    path: str
    requests: str | None  # a counter of HTTP requests
    status_label: str | None  # its label holding the status code
    duration: str | None  # a histogram of request durations (its name, without _bucket)


@dataclass
class Web:
    """Everything found over HTTP; ``tried`` every answer, for drift and for the record."""

    base_url: str
    health: list[Answer] = field(default_factory=list)
    expect: dict[str, str] = field(default_factory=dict)
    version: Version | None = None
    login: LoginPage | None = None
    token: TokenApi | None = None
    metrics: Exposition | None = None
    tried: list[Answer] = field(default_factory=list)
    reachable: bool = False


def discover(
    base_url: str,
    settings: HttpSettings,
    health: Iterable[str] = (),
    version: Iterable[str] = (),
    login: Iterable[str] = (),
) -> Web:
    """Ask ``base_url`` what it is, with GET requests a first visitor would make; the paths
    given (a configuration's, for drift) are asked first."""
    web = Web(base_url.rstrip("/"))
    with make_client(web.base_url, settings) as client:
        ask = _Asker(client, web)
        web.health = [a for a in map(ask, _first(health, HEALTH_PATHS)) if a.ok]
        web.expect = _expect(web.health)
        versions = _first(version, VERSION_PATHS)
        web.version = _version(web.health) or _version(
            [a for a in map(ask, versions) if a.ok], separate=True
        )
        candidates = _first(login, LOGIN_PATHS)
        web.login = next(filter(None, (_login(ask(path)) for path in candidates)), None)
        if web.login is not None:
            web.login = _around_login(web.login, ask)
        web.token = next(filter(None, (_token_api(ask(p)) for p in OPENAPI_PATHS)), None)
        web.metrics = _exposition(ask("/metrics"))
    return web


def _around_login(login: LoginPage, ask: _Asker) -> LoginPage:
    """A page the login opens (where the login page leads, else a usual page that turns a
    first visitor away) and a log-out page that answers GET."""
    found = replace(login)
    if found.protected is None:
        for path in PROTECTED_PATHS:
            answer = ask(path)
            if answer.status in (401, 403) or urlsplit(answer.url).path == _path(login.path):
                how = (
                    f"GET {path} signed out: {answer.said}"
                    if answer.status in (401, 403)
                    else f"GET {path} signed out leads to the login page"
                )
                found = replace(found, protected=path, protected_how=how)
                break
    for path in LOGOUT_PATHS:
        answer = ask(path)
        if answer.status is not None and 200 <= answer.status < 400:
            return replace(found, logout=path)
    return found


def _token_api(answer: Answer) -> TokenApi | None:
    """The first POST operation of an OpenAPI document that takes a password in JSON and
    answers a token; the GET operation that asks for a token (no path parameter) and a POST
    one named like a log-out, beside it."""
    document = answer.json() if answer.ok else None
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, dict):
        return None
    schemas = _dig(document, "components", "schemas")
    for path, item in paths.items():
        post = _dig(item, "post")
        asked = _properties(
            _dig(post, "requestBody", "content", "application/json", "schema"), schemas
        )
        password = next((k for k in asked if "password" in k.lower()), None)
        answers = _dig(post, "responses")
        ok = next((v for k, v in (answers or {}).items() if str(k).startswith("2")), None)
        given = _properties(_dig(ok, "content", "application/json", "schema"), schemas)
        token = next((k for k in TOKEN_FIELDS if k in given), None)
        if password is None or token is None:
            continue
        secured = [
            (p, method)
            for p, i in paths.items()
            for method in ("get", "post")
            if "{" not in p and _dig(i, method, "security")
        ]
        return TokenApi(
            answer.path,
            str(path),
            next((k for k in USERNAME_KEYS if k in asked), None),
            password,
            token,
            next((p for p, m in secured if m == "get"), None),
            next((p for p, m in secured if m == "post" and LOGOUT_NAME.search(p)), None),
        )
    return None


def _dig(data: object, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _properties(schema: object, schemas: object) -> dict[str, Any]:
    """A JSON schema's properties, through one ``$ref`` to the document's components."""
    ref = _dig(schema, "$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        schema = _dig(schemas, ref.rsplit("/", 1)[1])
    found = _dig(schema, "properties")
    return found if isinstance(found, dict) else {}


def _path(url: str) -> str:
    return urlsplit(url).path


def _first(given: Iterable[str], usual: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys([*given, *usual]))


class _Asker:
    """GET a path, following redirects on the target's origin; every answer is kept. After
    ``MAX_FAILURES`` requests that got no answer (a target that is down, or drips), nothing
    more is asked: a stalling target costs that many deadlines, not one per path."""

    def __init__(self, client: httpx.Client, web: Web) -> None:
        self.client = client
        self.web = web
        self.failures = 0

    def __call__(self, path: str) -> Answer:
        import httpx

        url = path
        cookies: list[tuple[SetCookie, str]] = []
        for _ in range(MAX_REDIRECTS + 1):
            if self.failures >= MAX_FAILURES:
                answer = Answer(path, url, None, error=f"not asked after {MAX_FAILURES} failures")
                break
            try:
                response = self.client.get(url)
            except (httpx.HTTPError, ExchangeStopped) as exc:
                self.failures += 1
                answer = Answer(path, url, None, error=f"{type(exc).__name__}: {exc}")
                break
            self.web.reachable = True
            for header in header_values(response, "set-cookie"):
                value = header.split(";", 1)[0].partition("=")[2].strip()
                cookies.append((SetCookie.parse(header), cookie_kind(value)))
            location = response.headers.get("location")
            if response.is_redirect and location and _same_origin(self.web.base_url, location):
                url = urljoin(str(response.url), location)
                continue
            answer = Answer(
                path,
                str(response.url),
                response.status_code,
                response.headers.get("content-type", ""),
                response.text,
                dict(response.headers),
                tuple(cookies),
            )
            break
        else:
            answer = Answer(path, url, None, error="too many redirects")
        self.web.tried.append(replace(answer, body=""))  # what drift needs; never the bodies
        return answer


def _same_origin(base_url: str, location: str) -> bool:
    target = urlsplit(urljoin(base_url + "/", location))
    base = urlsplit(base_url)
    return (target.scheme, target.netloc) == (base.scheme, base.netloc)


def _expect(health: list[Answer]) -> dict[str, str]:
    """What the first JSON health answer says of itself, as the suite's ``expect``: its
    top-level ``status`` when that reads healthy."""
    for answer in health:
        data = answer.json()
        if isinstance(data, dict) and str(data.get("status", "")).lower() in HEALTHY:
            return {"status": str(data["status"])}
    return {}


def _version(answers: list[Answer], separate: bool = False) -> Version | None:
    """The first answer that reports a version: in a header, a JSON field at any depth (as a
    JMESPath expression), or a version-like plain text."""
    for answer in answers:
        url = answer.path if separate else None
        for name in VERSION_HEADERS:
            if said := answer.header(name):
                how = f"header {name} of GET {answer.path}"
                return Version(said, how, url=url, header=name)
        data = answer.json()
        if data is not None:
            for path, value in _fields(data):
                if path[-1].lower() in VERSION_KEYS:
                    expression = ".".join(_jmespath_key(key) for key in path)
                    how = f"field {expression} of GET {answer.path}"
                    return Version(str(value), how, url=url, field=expression)
        elif (
            separate
            and answer.content_type.startswith("text/plain")
            and (match := _VERSION_TEXT.search(answer.body[:200]))
        ):
            how = f"the text of GET {answer.path}"
            return Version(match.group(1), how, url=url, regex=_VERSION_TEXT.pattern)
    return None


def _fields(
    data: object, path: tuple[str, ...] = (), depth: int = 4
) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every scalar field of a JSON document with its path, shallow ones first."""
    if not isinstance(data, dict) or depth == 0:
        return
    nested = []
    for key, value in data.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            yield (*path, str(key)), value
        elif isinstance(value, dict):
            nested.append((str(key), value))
    for key, value in nested:
        yield from _fields(value, (*path, key), depth - 1)


def _jmespath_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key)


def _login(answer: Answer) -> LoginPage | None:
    """The login page an answer shows, if it shows a password form."""
    if answer.status is None or not answer.body:
        return None
    form = Page(answer.url, answer.status, answer.body).login_form
    if form is None:
        return None
    landed = urlsplit(answer.url)
    nexts = parse_qs(landed.query).get("next")
    protected = nexts[0] if nexts and nexts[0].startswith("/") else None
    path = landed.path + (f"?{landed.query}" if landed.query and not protected else "")
    return LoginPage(path, answer, form.user_field, protected)


def _exposition(answer: Answer) -> Exposition | None:
    """Prometheus' text format at /metrics: its HTTP request counter and duration histogram."""
    if not answer.ok or "# TYPE" not in answer.body:
        return None
    types = dict(re.findall(r"^# TYPE (\S+) (\w+)", answer.body, re.MULTILINE))
    counters = [n for n, t in types.items() if t == "counter" and "request" in n]
    histograms = [n for n, t in types.items() if t == "histogram" and "duration" in n]
    requests = next(iter(counters), None)
    status_label = None
    if requests:
        series = re.search(rf"^{re.escape(requests)}(?:_total)?{{([^}}]*)}}", answer.body, re.M)
        labels = re.findall(r"(\w+)=", series.group(1)) if series else []
        status_label = next((n for n in ("code", "status", "status_code") if n in labels), None)
        requests = requests if requests.endswith("_total") else f"{requests}_total"
    return Exposition(answer.path, requests, status_label, next(iter(histograms), None))


def cookie_kind(value: str) -> str:
    """``signed`` when a cookie's value carries its own data under a signature (a JWT, or the
    payload.timestamp.signature of Flask's and itsdangerous' sessions), else ``opaque`` (an id
    the server looks up). The value itself is never kept."""
    parts = value.lstrip(".").split(".")
    if len(parts) >= 3 and all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts[:3]):
        try:
            head = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        except (binascii.Error, ValueError):
            return "opaque"
        if value.startswith(".") or head.startswith(b"{"):
            return "signed"
    return "opaque"


@dataclass(frozen=True)
class Series:
    """What a Prometheus server holds of the app's exposition: the ``job`` of the app's series
    (the one scraping its host and port, else the first)."""

    url: str
    job: str | None
    requests: bool  # the request counter has series there
    duration: bool  # the duration histogram has series there
    error: str | None = None


def prometheus_series(url: str, web: Web, settings: HttpSettings) -> Series:
    """Ask Prometheus' series API (GET) whether it holds the app's metrics."""
    import httpx

    exposed = web.metrics
    names = {
        "requests": exposed.requests if exposed else None,
        "duration": f"{exposed.duration}_bucket" if exposed and exposed.duration else None,
    }
    host = urlsplit(web.base_url).netloc
    found: dict[str, list[dict[str, str]]] = {}
    with make_client(url.rstrip("/"), settings) as client:
        for kind, name in names.items():
            if name is None:
                found[kind] = []
                continue
            try:
                answer = client.get("/api/v1/series", params={"match[]": name})
                answer.raise_for_status()
                found[kind] = list(answer.json().get("data") or [])
            except (httpx.HTTPError, ExchangeStopped, ValueError, AttributeError) as exc:
                return Series(url, None, False, False, f"{type(exc).__name__}: {exc}")
    every = found["requests"] + found["duration"]
    mine = [s for s in every if s.get("instance") == host] or every
    job = mine[0].get("job") if mine else None
    return Series(url, job, bool(found["requests"]), bool(found["duration"]))
