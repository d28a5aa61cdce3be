"""Impersonation probes: acting as the API does — the role and the token's claims set the way
PostgREST sets them, inside transactions that are always rolled back. What they read is
``reads``' business, what they write ``writes``'. A probe whose statement fails says so: it is
never read as "nothing there"; a write the application's own code refuses (a RAISE in a
trigger or a function) is a blocked write, like one Row Level Security refuses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.net.pipeline import Ran, each_undone
from pytest_deploycheck.net.postgres import Row, deadline, run
from pytest_deploycheck.rls.identities import Identity
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

SAMPLE = 20  # rows a write probe may touch per table
BLOCKED = [{"rows": 0}]  # a write refused before it changed anything
FAILED_CODE = "probe-failed"  # a probe's statement failed: it shows nothing
BATCH = 64  # write probes sent in one round trip
# Each probe of a batch is undone before the next: a rollback to this savepoint, which also
# releases the locks the probe took.
SAVEPOINT = "SAVEPOINT deploycheck_probe"
UNDO = "ROLLBACK TO SAVEPOINT deploycheck_probe"


class ProbeFailed(Exception):
    """A probe statement that failed for a reason that says nothing about access: its SQLSTATE
    and message."""

    def __init__(self, error: psycopg.Error) -> None:
        self.sqlstate = error.sqlstate or "?"
        super().__init__(f"{self.sqlstate}: {str(error).strip().splitlines()[0]}")


def failed(kind: str, by_table: Mapping[str, Mapping[str, str]]) -> tuple[str, str]:
    """Could not check: the ``kind`` probes whose statement failed, by table and by who or
    what (``as user_a``, ``user_a update user B's rows``), with their SQLSTATE and message."""
    listed = "; ".join(
        f"{table} {by}: {why}"
        for table, tried in sorted(by_table.items())
        for by, why in tried.items()
    )
    return FAILED_CODE, f"{kind} probes failed, so they show nothing: {listed}"


def reproduce(conn: Connection, who: Identity, statement: sql.Composed, write: bool = False) -> str:
    """The probe as statements a person can paste into psql: what was run."""
    begin = "BEGIN READ WRITE" if write else "BEGIN"
    steps = [who.impersonation().as_string(conn), statement.as_string(conn)]
    return "; ".join([begin, *steps, "ROLLBACK;"])


class _PipelineEnd(logging.Filter):
    """psycopg logs a warning when a pipeline whose block raised cannot end cleanly ("pipeline
    aborted"); the error itself is the probe's to handle: that line says nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


@cache
def _quiet_pipeline_end() -> None:
    logging.getLogger("psycopg").addFilter(_PipelineEnd())  # once (cached)


@lru_cache(maxsize=64)
def _timeout(ms: int) -> sql.Composed:
    """The probe's statement timeout, set with its role (composed once per value)."""
    from psycopg import sql

    return sql.SQL(", set_config('statement_timeout', {}, true)").format(sql.Literal(str(ms)))


def read_many(
    conn: Connection,
    who: Identity,
    statements: Iterable[sql.Composed],
    settings: RlsSettings,
    scale: int = 1,
) -> list[list[Row]] | None:
    """Run read statements as ``who`` in one read-only transaction, always rolled back: each
    one's rows; None when the role may not run them at all. A statement that fails is
    ProbeFailed (the caller reads them one by one to say which), a timeout CouldNotCheck.

    Each is sent as soon as it is composed (a pipeline: the server reads while the next is
    built) and followed by a rollback to a savepoint, which releases the locks it took (a
    transaction holding a lock on every table would fill the server's lock table). The role
    is set before any runs, each step is one statement through the extended protocol, and
    the statements are composed from identifiers and literals only: nothing in a name can
    leave the role or the transaction.
    """
    import psycopg
    from psycopg import sql

    timeout_ms = settings.probe_timeout_ms * scale
    _quiet_pipeline_end()
    conn.rollback()
    try:
        # An error surfaces when the pipeline syncs, at the block's end, and leaves the
        # transaction open (aborted) for the rollback below.
        with deadline(conn, timeout_ms), conn.pipeline():
            run(conn, who.impersonation() + _timeout(timeout_ms))
            run(conn, SAVEPOINT)
            cursors = []
            for statement in statements:
                cursors.append(run(conn, statement))
                run(conn, UNDO)
            run(conn, sql.SQL("ROLLBACK"))
        return [cursor.fetchall() for cursor in cursors]
    except psycopg.Error as exc:
        _judged(exc, write=False)  # raises unless the role may not run them
        return None
    finally:
        conn.rollback()  # nothing to do unless the pipeline stopped before its ROLLBACK


def probe_writes(
    conn: Connection, writes: Sequence[tuple[Identity, sql.Composed]], settings: RlsSettings
) -> list[int | ProbeFailed]:
    """Many writes, in transactions always rolled back: up to ``BATCH`` of one identity's in
    one transaction and one round trip, each undone before the next (a savepoint). Per write,
    the rows it changed; -1 for one stopped by a constraint after Row Level Security let it
    through (let through), 0 for one the application's own code refused or the role may not
    run at all; or the ProbeFailed it raised."""
    timeout = _timeout(settings.probe_timeout_ms)
    by_identity: dict[str, list[int]] = {}  # who -> the numbers of their writes, in order
    for number, (who, _) in enumerate(writes):
        by_identity.setdefault(who.name, []).append(number)
    outcomes: list[int | ProbeFailed] = [0] * len(writes)
    for numbers in by_identity.values():
        who = writes[numbers[0]][0]
        acting = (who.impersonation() + timeout).as_bytes(conn)
        opening = [b"BEGIN READ WRITE", acting, SAVEPOINT.encode()]
        for start in range(0, len(numbers), BATCH):
            batch = numbers[start : start + BATCH]
            statements = [writes[n][1].as_bytes(conn) for n in batch]
            with deadline(conn, settings.probe_timeout_ms) as wait_s:
                ran = each_undone(conn, opening, UNDO.encode(), statements, wait_s)
            for number, done in zip(batch, ran, strict=True):
                outcomes[number] = _written(done)
    return outcomes


def _written(done: Ran) -> int | ProbeFailed:
    """The rows a write changed (see :func:`probe_writes`), or the ProbeFailed it raised."""
    if done.error is None:
        return done.rows
    try:
        changed = _judged(done.error, write=True)
    except ProbeFailed as failure:
        return failure
    return changed[0]["rows"] if changed else 0


def _judged(error: psycopg.Error, write: bool) -> list[Row] | None:
    """What a probe's error says: None where the role may not run it, a write's
    ``{"rows": n}`` (see :func:`probe_writes`), CouldNotCheck for a timeout, else
    ProbeFailed."""
    import psycopg

    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return None
    if isinstance(error, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable):
        raise CouldNotCheck(f"[db-timeout] {str(error).strip()}") from None
    if write and isinstance(error, psycopg.errors.IntegrityError):
        return [{"rows": -1}]
    if write and _raised_by_the_application(error):
        return BLOCKED
    raise ProbeFailed(error) from None


def _raised_by_the_application(error: psycopg.Error) -> bool:
    """An error the target's own code raised (PL/pgSQL's RAISE, in a trigger or a function):
    the application refusing the write, as its guards do."""
    context = error.diag.context or ""
    return (error.sqlstate or "").startswith("P0") or " at RAISE" in context
