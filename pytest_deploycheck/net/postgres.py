"""Read-only PostgreSQL sessions, bounded in time, that name the tool (psycopg imported lazily),
the one way the suites run SQL on them, and the result every SQL rule returns.

Everything a suite sends is a literal string or a ``psycopg.sql`` composition; names and values
read from the target travel as ``sql.Identifier`` or bound parameters, and every statement goes
through the extended query protocol, which runs exactly one statement per call. Rows come back
as dicts, read by column name. Objects are named as PostgreSQL quotes them (``quote_ident``):
exact and unambiguous whatever characters a name holds; queries that compose SQL read the raw
names beside them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck, Evidence, Finding, Gate
from pytest_deploycheck.core.result import Result

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    Connection = psycopg.Connection[Any]
    Statement = str | sql.SQL | sql.Composed

APPLICATION_NAME = "pytest-deploycheck"

Params = Sequence[Any] | Mapping[str, Any] | None
Row = dict[str, Any]


@dataclass
class RuleResult:
    """What a SQL rule found, the query and rows that prove it, and the gates it measured."""

    rule: str
    findings: list[Finding] = field(default_factory=list)
    query: str = ""
    rows: list[Row] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    note: str = ""
    code: str | None = None  # the failure's reason code; default: the first finding's rule
    undecided: tuple[str, str] | None = None  # could not see: (reason code, message)

    def evidence(self, limit: int) -> str:
        """Up to ``limit`` rows as CSV (a header, then the rows; nothing else, so that every
        CSV viewer reads it), and how many more there were as a last, marked column."""
        out = io.StringIO()
        columns = list(self.rows[0]) if self.rows else ["rows"]
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(self.rows[:limit])
        if len(self.rows) > limit:
            writer.writerow({columns[0]: f"... {len(self.rows) - limit} more rows"})
        return out.getvalue()

    def result(self, limit: int) -> Result:
        """The conclusion: a failure naming the objects found, up to ``limit`` rows as CSV
        evidence with the query beside them, and the gates measured; without findings, could
        not check when part of what it looks at could not be seen."""
        result = Result(findings=list(self.findings), gates=list(self.gates))
        result.undecided = None if self.findings else self.undecided
        if self.findings:
            objects = sorted({found.object for found in self.findings})
            more = f" and {len(objects) - 5} more" if len(objects) > 5 else ""
            first = self.findings[0]
            message = f"{first.message} (objects: {', '.join(objects[:5])}{more})"
            result.fail(self.code or first.rule, message)
            result.evidence.append(Evidence(f"{self.rule}.csv", self.evidence(limit), "text/csv"))
            if self.query:  # beside the rows, the query that found them
                result.evidence.append(Evidence(f"{self.rule}.sql", self.query.strip()))
        return result


def connect_readonly(dsn: str, settings: DbSettings) -> Connection:
    """A connection whose every transaction is READ ONLY and whose waits are all bounded: on
    the server (statement, lock and idle timeouts) and on the client, which gives up on an
    answer that does not come (a frozen server, a silent network) and closes the session.

    The limits are set after connecting rather than as startup options, which connection
    poolers in session mode accept.
    """
    import psycopg

    deadline = settings.deadline_s()
    try:
        conn: Connection = _bounded_class().connect(
            dsn,
            connect_timeout=max(1, round(settings.connect_timeout_s)),
            application_name=APPLICATION_NAME,
            autocommit=True,
            keepalives=1,
            keepalives_idle=max(1, round(deadline)),
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=round(deadline * 1000),
        )
    except psycopg.Error as exc:
        raise CouldNotCheck(f"[db-unreachable] cannot connect to the database: {exc}") from None
    conn.deadline_s, conn.grace_s = deadline, settings.client_grace_s  # type: ignore[attr-defined]
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


@cache
def _bounded_class() -> type[Any]:
    """psycopg's connection with a client-side deadline on every wait (psycopg imported here,
    on first use)."""
    import psycopg
    from psycopg import waiting

    timed_out = getattr(psycopg.errors, "_WaitTimeout", psycopg.errors.OperationalError)

    class Bounded(psycopg.Connection[Any]):
        deadline_s: float | None = None  # how long to wait for any one answer
        grace_s = 0.0  # how much longer than the statement timeout in force

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            try:
                return waiting.wait(
                    gen, self.pgconn.socket, interval=interval, timeout=timeout or self.deadline_s
                )
            except timed_out:
                raise abandoned(self, self.deadline_s or 0) from None
            except (KeyboardInterrupt, SystemExit):
                abandoned(self, 0)  # never wait for a cancel a frozen server will not take
                raise

    return Bounded


def abandoned(conn: Connection, waited_s: float) -> CouldNotCheck:
    """Give up on a session whose server did not answer within ``waited_s``: a live server
    stops the query, a frozen one cannot, and the session goes either way. The error to
    raise."""
    with suppress(Exception):
        conn.cancel_safe(timeout=0.5)
    conn.pgconn.finish()
    return CouldNotCheck(
        f"[db-timeout] the database gave no answer within {waited_s:.0f} s (client-side"
        " deadline); its session was closed"
    )


@contextmanager
def deadline(conn: Connection, statement_ms: float) -> Iterator[float]:
    """Let the client wait as long as a statement timeout of ``statement_ms`` (set for one
    transaction) needs: the seconds it may wait for an answer."""
    before = getattr(conn, "deadline_s", None)
    wanted = max(before or 0.0, statement_ms / 1000 + getattr(conn, "grace_s", 0.0))
    if before is not None:
        conn.deadline_s = wanted  # type: ignore[attr-defined]
    try:
        yield wanted
    finally:
        if before is not None:
            conn.deadline_s = before  # type: ignore[attr-defined]


def run(conn: Connection, query: Statement, params: Params = None) -> psycopg.Cursor[Row]:
    """Execute one statement through the extended query protocol; rows as dicts.

    psycopg sends a statement without parameters by the simple protocol, which runs every
    statement in the text; a binary cursor always takes the extended one, where a second
    statement is a syntax error. So a name that ends the statement early runs nothing.
    """
    from psycopg.rows import dict_row

    return conn.cursor(binary=True, row_factory=dict_row).execute(query, params)


def fetch(conn: Connection, query: Statement, params: Params = None) -> list[Row]:
    """Run a read-only query; a lock or statement timeout is "could not check"."""
    import psycopg

    try:
        return run(conn, query, params).fetchall()
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
        raise CouldNotCheck(f"[db-timeout] {type(exc).__name__}: {str(exc).strip()}") from None
    except psycopg.OperationalError as exc:
        raise CouldNotCheck(f"[db-unreachable] {str(exc).strip()}") from None


def deparsed(expression: str) -> sql.Composed:
    """An expression PostgreSQL deparsed itself (``pg_get_expr`` of a constraint), to be
    evaluated: one well-formed expression by construction, and, run by :func:`run`, unable to
    end its statement. The only text from the target that is ever evaluated as SQL."""
    from psycopg import sql

    return sql.SQL("({})").format(sql.SQL(expression))


FIRST_NORMAL_OID = 16384  # objects below it come with PostgreSQL itself
_CALLS = re.compile(r":(funcid|opfuncid|hashfuncid|negfuncid|opno) (\d+)")
_OPERATOR_LISTS = re.compile(r":opnos \(o ([\d ]+)\)")


def expression_calls(tree: str) -> tuple[set[int], set[int], bool]:
    """What a stored expression (a ``pg_node_tree``: a constraint's, a default's, an index's)
    would run: the functions it calls, the operators it applies, and whether it coerces to a
    domain (whose own CHECKs run too)."""
    functions: set[int] = set()
    operators: set[int] = set()
    for field_name, oid in _CALLS.findall(tree):
        (operators if field_name == "opno" else functions).add(int(oid))
    for listed in _OPERATOR_LISTS.findall(tree):
        operators.update(int(oid) for oid in listed.split())
    return functions - {0}, operators - {0}, "{COERCETODOMAIN" in tree


_OPERATOR_NAME = re.compile(r"[-+*/<>=~!@#%^&|`?]{1,63}")


def operator(schema: str, name: str) -> sql.Composed:
    """An operator named in full, `` OPERATOR(schema.=) ``, from its catalog row: resolved in
    its own schema whatever the search path. An operator's name is made of operator
    characters only (checked): it can neither quote nor end anything."""
    from psycopg import sql

    if not _OPERATOR_NAME.fullmatch(name):
        raise ValueError(f"not an operator name: {name!r}")
    return sql.SQL(" OPERATOR({}.{}) ").format(sql.Identifier(schema), sql.SQL(name))


def is_superuser(conn: Connection) -> tuple[str, bool]:
    """The role the session logged in as, and whether it is a superuser."""
    [row] = fetch(
        conn,
        "SELECT session_user::text AS name, current_setting('is_superuser') = 'on' AS superuser",
    )
    return str(row["name"]), bool(row["superuser"])
