"""Shared fixtures: a hermetic environment, a loopback HTTP server and a real PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any

# Imported once here: pytester's in-process runs drop modules first imported inside them,
# and a second import of httpcore (which httpx loads lazily) would no longer match the
# exception map httpx caches.
import httpcore  # noqa: F401
import httpx  # noqa: F401
import jsonschema
import psycopg
import pytest

# The window chart's matplotlib imports numpy, whose C core cannot be imported a second time in
# a process ("cannot load module more than once"): imported once here, not inside the first
# in-process run that draws a chart (pytester drops it afterwards).
if find_spec("matplotlib") is not None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

# The one pytest11 plugin the outer run leaves off (-p no:playwright): imported here, not anew
# and assertion-rewritten inside every in-process run, where CPython 3.11 (gh-106905) once
# failed the import with "AST constructor recursion depth mismatch" while a server thread ran.
import pytest_playwright.pytest_playwright  # noqa: F401
from psycopg import sql

from examples.demo_app.database import open_database
from examples.demo_app.faults import Faults
from examples.demo_app.launcher import RunningDemo, running_demo
from examples.prometheus import binary, running_prometheus
from tests.django_site import running_django
from tests.served import Site

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


# The modules that take longest, heaviest first (worker-seconds on 2 cores, bench/README.md):
# xdist hands modules out in collection order (PYTEST_ARGS: --no-loadscope-reorder), so these
# start at once and no worker is left alone with one of them at the end. A stale order only
# costs time.
HEAVY_FIRST = (
    "test_login_suite.py",
    "test_demo.py",
    "test_init.py",
    "test_watch.py",
    "test_frameworks.py",
    "test_allure_report.py",
    "test_fault_matrix.py",
    "test_migration_histories.py",
    "test_hostile_target.py",
    "test_login_django.py",
    "test_health_suite.py",
    "test_rls_apps.py",
    "test_fleet.py",
    "test_metrics_prometheus.py",
    "test_secrets_every_encoding.py",
    "test_packaging.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def weight(item: pytest.Item) -> int:
        name = item.path.name
        return HEAVY_FIRST.index(name) if name in HEAVY_FIRST else len(HEAVY_FIRST)

    items.sort(key=weight)  # stable: the order within a module is kept


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs under test see none of the caller's deploycheck settings."""
    for name in list(os.environ):
        if name.startswith("DEPLOYCHECK_") or name in ("PYTEST_ADDOPTS", "PYTEST_BASE_URL"):
            monkeypatch.delenv(name)


@dataclass
class Route:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop_first: int = 0  # close the connection without answering the first N requests
    fail_every: int = 0  # answer 500 to every Nth request
    then: Route | None = None  # after `switch_after` requests, answer like this
    switch_after: int = 0


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops concurrent connects for a second
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a gate giving up on a slow target) is what some
        # tests do on purpose: not a traceback on the run's output.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """A real HTTP(S) server on 127.0.0.1 whose answers a test sets per path."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, float]] = []  # (method, path, arrival time)
        self.headers: list[dict[str, str]] = []  # each request's headers, in order
        self.bodies: list[bytes] = []  # each request's body, in order
        self.in_flight = 0
        self.peak = 0  # the most requests it was answering at once
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._answer(self)

            def do_POST(self) -> None:
                server._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.requests.append((handler.command, path, time.monotonic()))
            self.headers.append(dict(handler.headers.items()))
            self.bodies.append(body)
            seen = sum(1 for _, p, _ in self.requests if p == path)
        try:
            self._respond(handler, path, seen)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, handler: BaseHTTPRequestHandler, path: str, seen: int) -> None:
        route = self.routes.get(path, Route(404, "not found"))
        if route.then is not None and seen > route.switch_after:
            route = route.then
        if seen <= route.drop_first:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if route.delay_s:
            time.sleep(route.delay_s)
        status = 500 if route.fail_every and seen % route.fail_every == 0 else route.status
        payload = route.body.encode()
        handler.send_response(status)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def health(self, status: int = 200, version: str = "1.0.0", **route: Any) -> None:
        """Answer /api/health like a deployed app."""
        body = json.dumps({"status": "ok" if status < 300 else "down", "version": version})
        headers = {"Content-Type": "application/json", **route.pop("headers", {})}
        self.routes["/api/health"] = Route(status, body, headers, **route)

    def count(self, path: str, method: str = "GET") -> int:
        """How many requests reached ``path``."""
        return sum(1 for m, p, _ in self.requests if p == path and m == method)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A healthy target on loopback, version 1.0.0."""
    srv = LoopbackServer()
    srv.health()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def pg_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A superuser DSN: TEST_PG_URL, else the server on 127.0.0.1:5432, else an embedded one."""

    dsn = os.environ.get("TEST_PG_URL", LOCAL_PG)
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError:
        import pgserver

        embedded = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
        yield embedded.get_uri()
        embedded.cleanup()
        return
    yield dsn


@pytest.fixture
def pg_database(pg_admin: str) -> Iterator[str]:
    """A fresh, uniquely named database, dropped after the test."""
    name = f"deploycheck_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(pg_admin, dbname=name)
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template(pg_admin: str) -> Iterator[str]:
    """The demo's Supabase-style schema (roles, auth.users, user-owned and tenant tables), built
    once, as a template database."""
    database = open_database(pg_admin, "pw", Faults.parse([]))
    yield database.name
    database.close()


def clone(pg_admin: str, template: str) -> str:
    """A uniquely named copy of a template database whose API exposes ``public``."""
    name = f"deploycheck_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        conn.execute(
            sql.SQL(
                "ALTER ROLE authenticator IN DATABASE {} SET pgrst.db_schemas = 'public'"
            ).format(sql.Identifier(name))
        )
    return name


@pytest.fixture
def supa(pg_admin: str, template: str) -> Iterator[dict[str, Any]]:
    """A fresh copy of the clean schema: a superuser connection and the checker's DSN."""
    name = clone(pg_admin, template)
    admin_url = psycopg.conninfo.make_conninfo(pg_admin, dbname=name)
    checker = psycopg.conninfo.make_conninfo(pg_admin, dbname=name, user="deploycheck")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        yield {"admin": admin, "admin_url": admin_url, "checker": checker, "name": name}
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def database_state(admin: psycopg.Connection[Any]) -> dict[Any, Any]:
    """A fingerprint of every table's content and every sequence's position (its value, and
    whether it was ever called) in a database."""
    content = sql.SQL("SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))")
    tables = admin.execute(
        "SELECT schemaname, tablename FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    ).fetchall()
    found: dict[Any, Any] = {
        table: admin.execute(
            content + sql.SQL(" FROM {} t").format(sql.Identifier(*table))
        ).fetchone()
        for table in tables
    }
    sequences = admin.execute("SELECT schemaname, sequencename FROM pg_sequences ORDER BY 1, 2")
    found["sequences"] = {
        name: admin.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(*name))
        ).fetchone()
        for name in sequences.fetchall()
    }
    return found


def wait_until(ready: Callable[[], bool], what: str, deadline_s: float = 15.0) -> None:
    """Poll ``ready`` until it holds; fail, naming ``what``, when the deadline passes first."""
    deadline = time.monotonic() + deadline_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {deadline_s} s")
        time.sleep(0.05)


SignOffReader = Callable[[Path], dict[str, Any]]


@pytest.fixture
def read_signoff() -> SignOffReader:
    """Reads the sign-off a run wrote, checked against the shipped JSON Schema."""
    from pytest_deploycheck.signoff.document import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())

    def read(path: Path) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(path.read_text())
        jsonschema.validate(document, schema)
        return document

    return read


@dataclass
class DeployRun:
    """A deploy run in pytester's directory: pytest's result and the sign-off it wrote."""

    result: pytest.RunResult
    signoff: dict[str, Any]

    @property
    def code(self) -> int:
        return int(self.result.ret)


Deploy = Callable[..., DeployRun]


@pytest.fixture
def deploy(pytester: pytest.Pytester, read_signoff: SignOffReader) -> Deploy:
    """Runs pytest as a deploy run in pytester's directory: ``config`` written to
    deploycheck.toml and ``checks`` to test_checks.py when given, in this process or, with
    ``subprocess=True``, in a new one; the sign-off is read and checked against the schema."""

    def run(
        *args: str, config: str | None = None, checks: str | None = None, subprocess: bool = False
    ) -> DeployRun:
        if config is not None:
            pytester.makefile(".toml", deploycheck=config)
        if checks is not None:
            pytester.makepyfile(test_checks=checks)
        runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
        result = runner(*args)
        return DeployRun(result, read_signoff(pytester.path / "deploycheck-signoff.json"))

    return run


def db_suite(pytester: pytest.Pytester, dsn: str, *args: str) -> pytest.RunResult:
    """The db suite against ``dsn`` as target ``t`` (configured in pytester's directory)."""
    return pytester.runpytest(
        "--deploy-target=t", "--deploy-suites=db", f"--deploy-db-url={dsn}", *args
    )


StartDemo = Callable[..., RunningDemo]


@pytest.fixture(scope="session")
def demo(pg_admin: str) -> Iterator[StartDemo]:
    """Starts the demo target with the given faults, once per set of faults in a session, on
    the tests' PostgreSQL server (a database of its own: no embedded server to start)."""
    with ExitStack() as stack:
        started: dict[tuple[str, ...], RunningDemo] = {}

        def start(*faults: str) -> RunningDemo:
            key = tuple(sorted(faults))
            if key not in started:
                started[key] = stack.enter_context(running_demo(key, pg_admin))
            return started[key]

        yield start


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """A Prometheus server of its own, scraping nothing: its HTTP API, a server nobody here
    wrote."""
    if binary() is None:
        pytest.skip("no Prometheus server here: `make prometheus` installs Debian's")
    with running_prometheus({}) as url:
        yield url


def file_holds(path: Path, secret: str) -> bool:
    """Whether a file holds ``secret``, looking inside zip members (a compressed zip hides it)."""
    import zipfile

    data = path.read_bytes()
    if secret.encode() in data:
        return True
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(secret.encode() in archive.read(name) for name in archive.namelist())
    return False


DJANGO_PASSWORD = "p@ss w0rd/&\"é\\'%+"  # every character an encoding treats specially


@pytest.fixture(scope="session")
def django_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Django's admin site, served on loopback for the session; its superuser's password is
    ``DJANGO_PASSWORD``."""
    with running_django(tmp_path_factory.mktemp("django"), DJANGO_PASSWORD) as site:
        yield site
