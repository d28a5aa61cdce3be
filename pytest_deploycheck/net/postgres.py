"""Read-only PostgreSQL sessions, bounded in time, that name the tool (psycopg imported lazily),
and the one way the suites run SQL on them.

Everything a suite sends is a literal string or a ``psycopg.sql`` composition; names and values
read from the target travel as ``sql.Identifier`` or bound parameters, and every statement goes
through the extended query protocol, which runs exactly one statement per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    Statement = str | sql.SQL | sql.Composed

APPLICATION_NAME = "pytest-deploycheck"

Params = Sequence[Any] | Mapping[str, Any] | None


def connect_readonly(dsn: str, settings: DbSettings) -> psycopg.Connection[tuple[object, ...]]:
    """A connection whose every transaction is READ ONLY and whose waits are all bounded.

    The limits are set with SET after connecting rather than as startup options, which
    connection poolers in session mode accept.
    """
    import psycopg

    try:
        conn = psycopg.connect(
            dsn,
            connect_timeout=max(1, round(settings.connect_timeout_s)),
            application_name=APPLICATION_NAME,
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise CouldNotCheck(f"[db-unreachable] cannot connect to the database: {exc}") from None
    limits = {
        "default_transaction_read_only": "on",
        "statement_timeout": settings.statement_timeout_ms,
        "lock_timeout": settings.lock_timeout_ms,
        "idle_in_transaction_session_timeout": settings.idle_in_transaction_timeout_ms,
    }
    for name, value in limits.items():
        run(conn, "SELECT set_config(%s, %s, false)", (name, str(value)))
    conn.read_only = True
    conn.autocommit = False
    return conn


def run(conn: Any, query: Statement, params: Params = None) -> psycopg.Cursor[Any]:
    """Execute one statement through the extended query protocol.

    psycopg sends a statement without parameters by the simple protocol, which runs every
    statement in the text; a binary cursor always takes the extended one, where a second
    statement is a syntax error. So a name that ends the statement early runs nothing.
    """
    cursor: psycopg.Cursor[Any] = conn.cursor(binary=True)
    return cursor.execute(query, params)


def fetch(
    conn: Any, query: Statement, params: Params = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query; a lock or statement timeout is "could not check"."""
    import psycopg

    try:
        cursor = run(conn, query, params)
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
        raise CouldNotCheck(f"[db-timeout] {type(exc).__name__}: {str(exc).strip()}") from None
    except psycopg.OperationalError as exc:
        raise CouldNotCheck(f"[db-unreachable] {str(exc).strip()}") from None
    columns = [c.name for c in cursor.description or []]
    return columns, list(cursor.fetchall())


def deparsed(expression: str) -> sql.Composed:
    """An expression PostgreSQL deparsed itself (``pg_get_expr`` of a constraint), to be
    evaluated: one well-formed expression by construction, and, run by :func:`run`, unable to
    end its statement. The only text from the target that is ever evaluated as SQL."""
    from psycopg import sql

    return sql.SQL("({})").format(sql.SQL(expression))


def is_superuser(conn: Any) -> tuple[str, bool]:
    """The role the session logged in as, and whether it is a superuser."""
    _, rows = fetch(conn, "SELECT session_user::text, current_setting('is_superuser') = 'on'")
    user, superuser = rows[0]
    return str(user), bool(superuser)
