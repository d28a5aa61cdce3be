"""Read-only PostgreSQL sessions, bounded in time, that name the tool (psycopg imported lazily),
and the one way the suites run SQL on them.

Everything a suite sends is a literal string or a ``psycopg.sql`` composition; names and values
read from the target travel as ``sql.Identifier`` or bound parameters, and every statement goes
through the extended query protocol, which runs exactly one statement per call.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck, Evidence, Finding, Gate
from pytest_deploycheck.core.result import Result

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    Statement = str | sql.SQL | sql.Composed

APPLICATION_NAME = "pytest-deploycheck"

Params = Sequence[Any] | Mapping[str, Any] | None


# Objects are named as PostgreSQL quotes them (``quote_ident``): exact and unambiguous, whatever
# characters a name holds. Queries that compose SQL read the raw names beside them.


@dataclass
class RuleResult:
    """What a rule found, the rows that prove it, and the gates it measured."""

    rule: str
    findings: list[Finding] = field(default_factory=list)
    query: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    note: str = ""
    code: str | None = None  # the failure's reason code; default: the first finding's rule

    def evidence(self, limit: int) -> str:
        """The query and up to ``limit`` rows, as CSV."""
        out = io.StringIO()
        out.write(f"-- {self.query.strip()}\n")
        writer = csv.writer(out)
        writer.writerow(self.columns)
        writer.writerows(self.rows[:limit])
        if len(self.rows) > limit:
            out.write(f"-- ... {len(self.rows) - limit} more rows\n")
        return out.getvalue()

    def result(self, limit: int) -> Result:
        """The conclusion: a failure naming the objects found, the query and up to ``limit``
        rows as CSV evidence, and the gates measured."""
        result = Result(findings=list(self.findings), gates=list(self.gates))
        if self.findings:
            objects = sorted({found.object for found in self.findings})
            named = ", ".join(objects[:5]) + (
                f" and {len(objects) - 5} more" if objects[5:] else ""
            )
            first = self.findings[0]
            result.fail(self.code or first.rule, f"{first.message} (objects: {named})")
            result.evidence.append(Evidence(f"{self.rule}.csv", self.evidence(limit), "text/csv"))
        return result


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
