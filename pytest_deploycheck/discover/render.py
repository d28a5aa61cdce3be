"""A commented ``deploycheck.toml`` from what discovery found: each setting with how it was
found, what was not found with the setting to write, secrets only as ``${ENV}`` references,
and the command that runs it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.discover.database import Database, history_table
from pytest_deploycheck.discover.web import LoginPage, Series, TokenApi, Web

PASSWORD_ENV = "SMOKE_PASSWORD"
USERNAME_ENV = "SMOKE_USERNAME"
DB_PASSWORD_ENV = "DEPLOYCHECK_DB_PASSWORD"
# The README's checking role ("The checking role"; a test holds the two the same).
CHECKING_ROLE_SQL = """\
-- Reads every table and the server's statistics; writes nothing.
CREATE ROLE deploycheck LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS;
GRANT pg_read_all_data, pg_monitor TO deploycheck;
-- rls suite: impersonate the API roles the way PostgREST does (SET LOCAL ROLE).
GRANT anon, authenticated TO deploycheck;
-- Then give it a password (\\password deploycheck in psql) or your platform's credential.
"""


@dataclass
class Written:
    """The file's text, the suites it configures and the environment variables it names."""

    text: str
    suites: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def value(v: object) -> str:
    """A TOML value (strings as JSON strings, which TOML reads the same)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return json.dumps(v)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, key: str, v: object, how: str = "") -> None:
        line = f"{key} = {value(v)}"
        self.lines.append(f"{line}  # {one_line(how)}" if how else line)

    def comment(self, text: str) -> None:
        """A comment: one line whatever the target's text in it holds (no line of its own)."""
        self.lines.append(f"# {one_line(text)}")

    def table(self, name: str) -> None:
        self.lines += ["", f"[{name}]"]


def render(
    target: str,
    web: Web,
    db: Database | None = None,
    db_url: str | None = None,
    series: Series | None = None,
) -> Written:
    """The configuration for ``target``."""
    out, written = _Lines(), Written("")
    prefix = f"targets.{target}"
    out.table(prefix)
    out("base_url", web.base_url)
    if db_url is not None:
        dsn, secret = without_password(db_url)
        out("db_url", dsn, "its password from the environment" if secret else "")
        if secret:
            written.env.append(DB_PASSWORD_ENV)
    if web.version:
        out.comment(
            f"version: give the version you deployed (--deploy-version=...); it reports"
            f" {web.version.found} now ({web.version.how})"
        )
    _health(out, written, prefix, web)
    _login(out, written, prefix, web)
    if db is not None:
        _database(out, written, prefix, db)
    _metrics(out, written, prefix, web, series)
    head = [
        f"# deploycheck.toml for {target}, written by `deploycheck init` on {date.today()}",
        f"# from what {web.base_url} answered to GET requests"
        + (" and what its database holds" if db is not None else "")
        + " (it never logged in, never wrote).",
        "# Run it:",
        *(f"#   export {name}=...   # {_ENV_WHAT[name]}" for name in written.env),
        f"#   pytest --deploy-target={target} --deploy-suites={','.join(written.suites)}"
        " --deploy-version=VERSION",
    ]
    if written.missing:
        head += ["#", "# Not found (write these yourself if they apply):"]
        head += [f"#   - {one_line(text)}" for text in written.missing]
    head += ["", f'default_target = "{target}"']
    written.text = "\n".join(head + out.lines) + "\n"
    return written


_ENV_WHAT = {
    PASSWORD_ENV: "the smoke-test user's password",
    USERNAME_ENV: "the smoke-test user's name (or email)",
    DB_PASSWORD_ENV: "the checking role's database password",
}


def _health(out: _Lines, written: Written, prefix: str, web: Web) -> None:
    if not web.health:
        written.missing.append(
            "a health endpoint: none of the usual paths answered 2xx; set"
            " suites.health.paths to yours"
        )
        return
    written.suites.append("health")
    out.table(f"{prefix}.suites.health")
    paths = [a.path for a in web.health[:3]]
    out("paths", paths, "answered: " + ", ".join(f"{a.path} {a.said}" for a in web.health[:3]))
    if web.expect:
        out("expect", web.expect, f"what {paths[0]} says of itself")
    version = web.version
    if version is None:
        written.missing.append(
            "where the version is: no header, JSON field or version page said it; set"
            " suites.health.version_field, version_header or version_url"
        )
        return
    if version.url:
        out("version_url", version.url, version.how)
    if version.field:
        out("version_field", version.field, version.how)
    if version.header:
        out("version_header", version.header, version.how)
    if version.regex:
        out("version_regex", version.regex, version.how)


def _login(out: _Lines, written: Written, prefix: str, web: Web) -> None:
    login, token = web.login, web.token
    if token is not None and token.protected is None:
        written.missing.append(
            f"what a token opens: {token.document} asks for no token on a GET; set"
            " suites.login.api_protected_url to use the token API"
        )
        token = None
    if login is None and token is None:
        tried = ", ".join(a.path for a in web.tried if a.path.startswith(("/login", "/sign")))
        written.missing.append(
            f"a login page: no password form at {tried or 'the usual paths'} and no token API"
            " in an OpenAPI document; set suites.login.login_url, or token_url"
        )
        return
    written.suites.append("login")
    out.table(f"{prefix}.credentials")
    user = login.username_field if login else token.username_key if token else None
    if user:
        out("username", f"${{{USERNAME_ENV}}}", f"the login asks for {user}")
        written.env.append(USERNAME_ENV)
    else:
        out.comment("no username: the login asks for a password alone")
    out("password", f"${{{PASSWORD_ENV}}}")
    written.env.append(PASSWORD_ENV)
    out.table(f"{prefix}.suites.login")
    if login is not None:
        _form(out, login)
    if token is not None:
        _token(out, token, browser=login is not None)


def _form(out: _Lines, login: LoginPage) -> None:
    shape = "a password alone" if login.username_field is None else "a username and a password"
    out(
        "login_url",
        login.path,
        f"GET {login.answer.path}: {login.answer.said}, a form with {shape}",
    )
    if login.protected:
        out("protected_url", login.protected, login.protected_how)
    if login.logout:
        out("logout_url", login.logout, f"GET {login.logout} answers (a log-out page)")
    signed = [c.name for c, kind in login.answer.cookies if kind == "signed"]
    if signed:
        out.comment(
            f'sessions = "stateless"  # {", ".join(signed)} holds signed data, as a signed-cookie'
            " session does: a log-out may not end it on the server. Once you know it is your"
            " framework's way (it was so before this deploy), this line acknowledges it."
        )


def _token(out: _Lines, token: TokenApi, browser: bool) -> None:
    """The api mode on the token endpoint the OpenAPI document describes (with the browser
    mode on the form, when there is one)."""
    how = f"{token.document}: POST {token.url} takes {token.password_key} in JSON"
    out("modes", ["browser", "api"] if browser else ["api"])
    out("api_kind", "token", how)
    out("token_url", token.url)
    if token.username_key and token.username_key != "email":
        out("token_username_key", token.username_key)
    if token.password_key != "password":
        out("token_password_key", token.password_key)
    if token.token_field != "access_token":
        out("token_field", token.token_field)
    out("api_protected_url", token.protected, f"{token.document}: a GET that asks for a token")
    if token.logout:
        out("api_logout_url", token.logout, f"{token.document}: a POST that ends the token")


def _database(out: _Lines, written: Written, prefix: str, db: Database) -> None:
    if db.error:
        written.missing.append(f"the database: {db.error}")
        return
    written.suites.append("db")
    if db.superuser:
        out.comment(
            f"db_url connects as {db.role}, a superuser: a run on production holds for it."
            " Connect as a checking role of its own (the README's 'The checking role'):"
        )
        for line in CHECKING_ROLE_SQL.splitlines():
            out.comment(f"  {line}")
    out.table(f"{prefix}.suites.db")
    if db.tools:
        tool = db.tools[0]
        out("migration_tool", tool, f"its history table {history_table(tool)} exists")
    else:
        written.missing.append("a migration tool: no history table of a tool deploycheck reads")
    if db.folder:
        out("migrations_dir", db.folder, "found beside this file")
    elif db.tools:
        written.missing.append(
            f"the migrations folder of {db.tools[0]}: set suites.db.migrations_dir"
        )
    if not db.statements:
        out.comment("pg_stat_statements is not installed: no query statistics to compare")
    if db.archive_mode == "off":
        out.comment(
            "archive_mode is off: no WAL archive shows a backup, which production needs; set"
            " backup_query, backup_command or backup_url, or confirm_backups = false where"
            " backups are confirmed elsewhere"
        )
    if db.supabase:
        written.suites.append("rls")
        out.table(f"{prefix}.suites.rls")
        if db.exposed:
            schemas = [s.strip() for s in db.exposed.split(",") if s.strip()]
            out.comment(f"exposed schemas {', '.join(schemas)}: read from pgrst.db_schemas")
        else:
            out.comment(
                'exposed_schemas = ["public"]  # the authenticator sets no pgrst.db_schemas'
                " here: name the schemas your API exposes"
            )
        out.comment(f"API roles found: {', '.join(db.api_roles)}")


def _metrics(out: _Lines, written: Written, prefix: str, web: Web, series: Series | None) -> None:
    exposed = web.metrics
    if exposed is None:
        written.missing.append(
            "metrics: no Prometheus exposition at /metrics; the metrics suite reads a"
            " monitoring server's queries ([[suites.metrics.query]])"
        )
        return
    what = ", ".join(filter(None, (exposed.requests, exposed.duration)))
    if series is None or series.error or not (series.requests or series.duration):
        why = (
            f"{series.url} answered {series.error}"
            if series and series.error
            else f"{series.url} holds no series of them"
            if series
            else "give --prometheus-url to have the queries written"
        )
        written.missing.append(
            f"metrics queries: the app exposes {what or 'metrics'} at /metrics; {why}"
        )
        return
    written.suites.append("metrics")
    out.table(f"{prefix}.suites.metrics")
    out("provider", "prometheus")
    out("url", series.url)
    match = f'job="{series.job}"' if series.job else ""
    if series.requests and exposed.requests and exposed.status_label:
        errors = ",".join(filter(None, (match, f'{exposed.status_label}=~"5.."')))
        out.lines += [
            "",
            f"[[{prefix}.suites.metrics.query]]",
            'name = "http error rate"',
            "query = '''",
            f"  (sum(rate({exposed.requests}{{{errors}}}[{{{{window}}}}])) or vector(0))",
            f"  / sum(rate({exposed.requests}{{{match}}}[{{{{window}}}}]))'''",
            'window = "5m"',
            "hold_above = 0.01",
            "rollback_above = 0.10",
            'unit = "ratio"',
        ]
    if series.duration and exposed.duration:
        out.lines += [
            "",
            f"[[{prefix}.suites.metrics.query]]",
            'name = "p95 latency"',
            "query = '''histogram_quantile(0.95, sum by (le) (",
            f"  rate({exposed.duration}_bucket{{{match}}}[{{{{window}}}}])))'''",
            'window = "5m"',
            "hold_above = 1.0  # seconds: set your latency budget",
            'unit = "s"',
        ]


def without_password(dsn: str) -> tuple[str, bool]:
    """A database URL or key/value string with its password (if any) replaced by
    ``${DEPLOYCHECK_DB_PASSWORD}``, and whether it had one."""
    reference = f"${{{DB_PASSWORD_ENV}}}"
    parts = urlsplit(dsn)
    if parts.scheme in ("postgres", "postgresql"):
        if parts.password is None:
            return dsn, False
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        netloc = f"{parts.username or ''}:{reference}@{host}"
        return urlunsplit(parts._replace(netloc=netloc)), True
    from psycopg.conninfo import conninfo_to_dict

    pairs = conninfo_to_dict(dsn)
    if "password" not in pairs:
        return dsn, False
    pairs["password"] = reference  # the config interpolates it; quoted, it may hold spaces
    return " ".join(f"{key}='{value}'" for key, value in pairs.items()), True


def drift(table: Mapping[str, Any], web: Web, db: Database | None) -> list[str]:
    """Where a target's configuration no longer fits what the target answers now."""
    suites = table.get("suites", {})
    health, login, dbs = (suites.get(k, {}) for k in ("health", "login", "db"))
    found: list[str] = []
    answered = {a.path for a in web.health}
    found += [
        f"suites.health.paths: {path} answers {_said(web, path)} now"
        for path in health.get("paths", [])
        if path not in answered
    ]
    version = web.version
    for key, now in (
        ("version_field", version.field if version else None),
        ("version_header", version.header if version else None),
        ("version_url", version.url if version else None),
    ):
        if key in health and health[key] != now:
            where = f", the version is at {version.how}" if version else ", no version found"
            found.append(f"suites.health.{key}: {value(health[key])} no longer holds it{where}")
    if "login_url" in login and (web.login is None or web.login.path != login["login_url"]):
        now = f"the login form is at {web.login.path}" if web.login else "no login form found"
        found.append(f"suites.login.login_url: no password form at {login['login_url']}; {now}")
    if db is not None and not db.error:
        tool = db.tools[0] if db.tools else None
        if "migration_tool" in dbs and dbs["migration_tool"] not in ("auto", tool):
            found.append(
                f"suites.db.migration_tool: {value(dbs['migration_tool'])}, but the history"
                f" table found is {(tool and history_table(tool)) or 'none'}"
            )
    return found


def _said(web: Web, path: str) -> str:
    answer = next((a for a in web.tried if a.path == path), None)
    return answer.said if answer else "nothing"
