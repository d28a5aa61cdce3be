"""Read-only PostgreSQL sessions, bounded in time, that name the tool (psycopg imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.model import CouldNotCheck

if TYPE_CHECKING:
    import psycopg

APPLICATION_NAME = "pytest-deploycheck"


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
        conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
    conn.read_only = True
    conn.autocommit = False
    return conn
