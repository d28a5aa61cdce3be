"""The demo's web front end and JSON API. API queries run as the signed-in user through Row
Level Security exactly as PostgREST runs them: ``SET LOCAL ROLE`` plus ``request.jwt.claims``
inside a transaction."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any

from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from examples.demo_app.database import check_password
from examples.demo_app.faults import Faults
from examples.demo_app.metrics import DemoMetrics, route_of
from examples.demo_app.traffic import USERS_AGENT

SESSION_COOKIE = "demo_session"
CSRF_COOKIE = "demo_csrf"
ROLES = ("anon", "authenticated", "service_role")


@dataclass
class DemoState:
    """What the running app knows: its version, faults, database and signed-in sessions."""

    version: str
    faults: Faults
    app_url: str
    on_ready: Callable[[], None] = lambda: None
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (id, email)
    requests_seen: dict[tuple[bool, str], int] = field(default_factory=dict)  # by user?, path
    pool: AsyncConnectionPool | None = None
    metrics: DemoMetrics = field(default_factory=DemoMetrics)

    @property
    def reported_version(self) -> str:
        return self.faults.value("wrong-version") or self.version


def create_app(state: DemoState) -> Starlette:
    """The ASGI application."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.pool = AsyncConnectionPool(
            state.app_url,
            min_size=1,
            # many demos on one server (bench_fleet.py) share its connection slots
            max_size=int(os.environ.get("DEMO_DB_POOL_MAX", "8")),
            open=False,
            kwargs={
                "row_factory": dict_row,
                "options": "-c statement_timeout=5000 -c lock_timeout=2000",
            },
        )
        await state.pool.open(wait=True, timeout=10)
        state.on_ready()
        yield
        await state.pool.close()

    routes = [
        Route("/api/health", health),
        Route("/", lambda request: RedirectResponse("/dashboard", 303)),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/dashboard", dashboard),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/auth/token", api_token, methods=["POST"]),
        Route("/api/auth/logout", api_logout, methods=["POST"]),
        Route("/api/me", api_me),
        Route("/api/notes", api_notes, methods=["GET", "POST"]),
        Route("/api/notes/{note_id:int}", api_note, methods=["GET", "PATCH", "DELETE"]),
        Route("/api/organisations", api_table("organisations")),
        Route("/api/documents", api_table("documents")),
        Route("/api/profiles", api_table("profiles")),
        Route("/api/announcements", api_table("announcements")),
        Route("/metrics", state.metrics.exposition),
        Route("/openapi.json", lambda request: JSONResponse(OPENAPI)),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            errors.InsufficientPrivilege: denied,
            errors.LockNotAvailable: unavailable,
            errors.QueryCanceled: unavailable,
        },
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=inject_faults)],
    )
    app.state.demo = state
    return app


def _state(request: Request) -> DemoState:
    demo: DemoState = request.app.state.demo
    return demo


async def inject_faults(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Slow responses and a deterministic fraction of 500s; the version header on every answer;
    every answer but a scrape's counted and timed in the metrics."""
    state = _state(request)
    if request.url.path == "/metrics":
        return await call_next(request)
    started = time.perf_counter()
    response = await _faulty(state, request, call_next)
    response.headers["X-App-Version"] = state.reported_version
    route = route_of(request.app.routes, request)
    elapsed = time.perf_counter() - started
    state.metrics.observe(
        route, request.method, response.status_code, state.reported_version, elapsed
    )
    return response


async def _faulty(
    state: DemoState, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if delay := state.faults.number("slow", 0.0):
        await asyncio.sleep(delay)
    rate = state.faults.number("error-rate", 0.0)
    if rate and request.url.path != "/api/health":
        # Counted by path, and apart for the simulated users: exactly `rate` of any run of
        # requests to one path fails, so the failures fall where the traffic is (a path asked
        # twice in a login is not hit by chance) and no check's requests move another's.
        user = request.headers.get("user-agent", "").startswith(USERS_AGENT)
        seen = (user, request.url.path)
        n = state.requests_seen[seen] = state.requests_seen.get(seen, 0) + 1
        if int(n * rate) > int((n - 1) * rate):
            return JSONResponse({"error": "injected failure"}, 500)
    return await call_next(request)


async def query(
    state: DemoState,
    role: str,
    user_id: str | None,
    statement: str | sql.Composed,
    params: Any = (),
) -> list[dict[str, Any]]:
    """Run ``statement`` as an API role with the user's claims, as PostgREST does."""
    assert role in ROLES
    assert state.pool is not None
    claims = {"role": role, **({"sub": user_id} if user_id else {})}
    async with state.pool.connection() as conn, conn.transaction():
        await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        await conn.execute(
            "SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),)
        )
        cursor = await conn.execute(statement, params)
        rows = await cursor.fetchall() if cursor.description else []
    return [dict(row) for row in rows]


async def denied(request: Request, exc: Exception) -> Response:
    """What PostgREST answers when the role lacks the grant."""
    return JSONResponse({"error": "permission denied"}, 401 if _user(request) is None else 403)


async def unavailable(request: Request, exc: Exception) -> Response:
    """A lock or statement timeout: the database could not answer in time."""
    return JSONResponse({"error": f"database busy: {type(exc).__name__}"}, 503)


async def health(request: Request) -> Response:
    state = _state(request)
    body: dict[str, Any] = {"status": "ok", "version": state.reported_version, "database": "ok"}
    if "health-503" in state.faults:
        return JSONResponse({**body, "status": "down", "database": "unknown"}, 503)
    try:
        await asyncio.wait_for(query(state, "anon", None, "SELECT 1"), timeout=3)
    except Exception as exc:
        return JSONResponse({**body, "status": "down", "database": type(exc).__name__}, 503)
    return JSONResponse(body)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f" - Demo</title></head><body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status)


def _set_session(request: Request, response: Response, token: str) -> None:
    insecure = "insecure-cookie" in _state(request).faults
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=not insecure,
        samesite=None if insecure else "lax",  # type: ignore[arg-type]
        secure=request.url.scheme == "https" and not insecure,
        path="/",
    )


async def login_page(request: Request, error: str = "", status: int = 200) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    alert = f"<p role='alert' class='error'>{escape(error)}</p>" if error else ""
    response = _page(
        "Sign in",
        f"""<h1>Sign in</h1>{alert}
<form method="post" action="/login">
  <input type="hidden" name="csrf_token" value="{token}">
  <label>Email <input type="email" name="email" autocomplete="username" required></label>
  <label>Password
    <input type="password" name="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>""",
        status,
    )
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


async def _authenticate(state: DemoState, email: str, password: str) -> str | None:
    rows = await query(
        state,
        "service_role",
        None,
        "SELECT id::text, encrypted_password FROM auth.users WHERE email = %s",
        (email,),
    )
    ok = bool(rows) and check_password(password, rows[0]["encrypted_password"])
    return str(rows[0]["id"]) if ok and "login-broken" not in state.faults else None


async def login_submit(request: Request) -> Response:
    state = _state(request)
    if "rate-limited" in state.faults:
        return _too_many()
    form = await request.form()
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(str(form.get("csrf_token", "")), expected):
        return await login_page(request, "Your session expired; please try again.", 403)
    email = str(form.get("email", ""))
    user_id = await _authenticate(state, email, str(form.get("password", "")))
    if user_id is None:
        return await login_page(request, "Invalid email or password.", 401)
    token = secrets.token_urlsafe(32)
    state.sessions[token] = (user_id, email)
    response = RedirectResponse("/dashboard", 303)
    _set_session(request, response, token)
    return response


def _user(request: Request) -> tuple[str, str] | None:
    state = _state(request)
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    return state.sessions.get(token or request.cookies.get(SESSION_COOKIE, ""))


async def dashboard(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return RedirectResponse("/login", 303)
    notes = await query(
        _state(request), "authenticated", user[0], "SELECT title FROM public.notes ORDER BY id"
    )
    items = "".join(f"<li>{escape(note['title'])}</li>" for note in notes)
    csrf = request.cookies.get(CSRF_COOKIE, "")
    return _page(
        "Dashboard",
        f"""<h1>Dashboard</h1>
<p id="signed-in">Signed in as {escape(user[1])}</p>
<ul id="notes">{items}</ul>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{csrf}">
<button type="submit">Sign out</button></form>""",
    )


async def logout(request: Request) -> Response:
    state = _state(request)
    if "logout-500" in state.faults:
        return PlainTextResponse("Internal Server Error", 500)
    response = RedirectResponse("/login", 303)
    if "logout-broken" not in state.faults:
        if "stateless-session" not in state.faults:
            state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _too_many() -> Response:
    page = _page("Sign in", "<p role='alert'>Too many attempts. Try again later.</p>", 429)
    page.headers["Retry-After"] = "60"
    return page


def _json_of(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


# Its token API, described as frameworks publish theirs (FastAPI, springdoc): OpenAPI 3.1.
OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "demo", "version": "1.5.0"},
    "paths": {
        "/api/auth/token": {
            "post": {
                "summary": "Sign in: a bearer token for email and password",
                "requestBody": _json_of("Credentials"),
                "responses": {
                    "200": _json_of("Token"),
                    "401": {"description": "invalid credentials"},
                },
            }
        },
        "/api/auth/logout": {
            "post": {"summary": "End the token's session", "security": [{"bearer": []}]}
        },
        "/api/me": {"get": {"summary": "Who the token is", "security": [{"bearer": []}]}},
    },
    "components": {
        "schemas": {
            "Credentials": {
                "type": "object",
                "required": ["email", "password"],
                "properties": {
                    "email": {"type": "string", "format": "email"},
                    "password": {"type": "string", "format": "password"},
                },
            },
            "Token": {
                "type": "object",
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"type": "string"},
                    "user_id": {"type": "integer"},
                },
            },
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}


async def api_token(request: Request) -> Response:
    state = _state(request)
    if "rate-limited" in state.faults:
        return _too_many()
    try:
        body = await request.json()
        email, password = str(body["email"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "send JSON with email and password"}, 400)
    user_id = await _authenticate(state, email, password)
    if user_id is None:
        return JSONResponse({"error": "invalid credentials"}, 401)
    token = secrets.token_urlsafe(32)
    state.sessions[token] = (user_id, email)
    return JSONResponse({"access_token": token, "token_type": "bearer", "user_id": user_id})


async def api_logout(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    if "logout-500" in _state(request).faults:
        return PlainTextResponse("Internal Server Error", 500)
    faults = _state(request).faults
    if "logout-broken" not in faults and "stateless-session" not in faults:
        _state(request).sessions.pop(header.removeprefix("Bearer ").strip(), None)
    return Response(status_code=204)


async def api_me(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return JSONResponse({"error": "sign in first"}, 401)
    return JSONResponse({"id": user[0], "email": user[1]})


def _role(request: Request) -> tuple[str, str | None]:
    user = _user(request)
    return ("authenticated", user[0]) if user else ("anon", None)


NOTE_COLUMNS = "id, owner_id::text, title, body"


async def api_notes(request: Request) -> Response:
    role, user_id = _role(request)
    state = _state(request)
    if request.method == "GET":
        rows = await query(
            state, role, user_id, f"SELECT {NOTE_COLUMNS} FROM public.notes ORDER BY id"
        )
        return JSONResponse(rows)
    body = await request.json()
    rows = await query(
        state,
        role,
        user_id,
        "INSERT INTO public.notes (title, body, owner_id)"
        f" VALUES (%s, %s, coalesce(%s::uuid, auth.uid())) RETURNING {NOTE_COLUMNS}",
        (body.get("title"), body.get("body", ""), body.get("owner_id")),
    )
    return JSONResponse(rows[0], 201)


async def api_note(request: Request) -> Response:
    role, user_id = _role(request)
    state = _state(request)
    note_id = request.path_params["note_id"]
    if request.method == "GET":
        sql = f"SELECT {NOTE_COLUMNS} FROM public.notes WHERE id = %s"
        params: tuple[Any, ...] = (note_id,)
    elif request.method == "PATCH":
        body = await request.json()
        sql = (
            "UPDATE public.notes SET title = coalesce(%s, title), body = coalesce(%s, body),"
            f" owner_id = coalesce(%s::uuid, owner_id) WHERE id = %s RETURNING {NOTE_COLUMNS}"
        )
        params = (body.get("title"), body.get("body"), body.get("owner_id"), note_id)
    else:
        sql = f"DELETE FROM public.notes WHERE id = %s RETURNING {NOTE_COLUMNS}"
        params = (note_id,)
    rows = await query(state, role, user_id, sql, params)
    if not rows:  # RLS hides other users' rows: they do not exist for this user
        return JSONResponse({"error": "not found"}, 404)
    return JSONResponse(rows[0])


def api_table(table: str) -> Callable[[Request], Awaitable[Response]]:
    """A read-only listing of one table, filtered by RLS for the caller."""

    async def listing(request: Request) -> Response:
        role, user_id = _role(request)
        statement = sql.SQL("SELECT * FROM {}").format(sql.Identifier("public", table))
        rows = await query(_state(request), role, user_id, statement)
        return JSONResponse(json.loads(json.dumps(rows, default=str)))

    return listing
