"""Many statements in one round trip, each undone: libpq's pipeline mode with a Sync after
each, so that an error ends only its own segment (the server skips what follows it up to that
Sync) and the next one runs. psycopg's ``Connection.pipeline()`` waits for the results at every
sync; here they are all sent, then read. Each statement goes by the extended protocol, one
statement per call, as ``postgres.run`` sends them; every wait is bounded.
"""

from __future__ import annotations

import selectors
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.net.postgres import abandoned

if TYPE_CHECKING:
    import psycopg
    from psycopg.pq.abc import PGresult

    from pytest_deploycheck.net.postgres import Connection


@dataclass(frozen=True)
class Ran:
    """A statement that ran: the rows it changed or returned, or its error."""

    rows: int
    error: psycopg.Error | None = None


def each_undone(
    conn: Connection,
    opening: Sequence[bytes],
    undo: bytes,
    statements: Sequence[bytes],
    wait_s: float,
) -> list[Ran]:
    """Run each statement (encoded for the connection: a composition's ``as_bytes``) in one
    transaction opened by ``opening`` (its BEGIN first, a SAVEPOINT last), each undone by
    ``undo`` (the rollback to that savepoint) before the next, the whole transaction rolled
    back at the end, all in one round trip: per statement, what it did. A Sync follows each
    statement, so that an error ends only its segment; the next segment's undo clears it.
    An opening that fails is every statement's error. A server that answers nothing for
    ``wait_s`` loses its session: CouldNotCheck."""
    import psycopg
    from psycopg import pq

    conn.rollback()
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    try:
        for statement in opening:
            pgconn.send_query_params(statement, None)
        pgconn.pipeline_sync()
        for number, statement in enumerate(statements):
            if number:
                pgconn.send_query_params(undo, None)
            pgconn.send_query_params(statement, None)
            pgconn.pipeline_sync()
        pgconn.send_query_params(b"ROLLBACK", None)
        pgconn.pipeline_sync()
        results = _exchange(conn, len(statements) + 2, wait_s)
    except psycopg.OperationalError as exc:  # the connection broke under the exchange
        abandoned(conn, wait_s)
        raise CouldNotCheck(f"[db-unreachable] {str(exc).strip()}") from None
    except BaseException:  # results left unread: the session cannot be used again
        if pgconn.status == pq.ConnStatus.OK:
            abandoned(conn, wait_s)
        raise
    pgconn.exit_pipeline_mode()
    encoding = conn.info.encoding
    ran = [[_ran(result, encoding) for result in segment] for segment in results]
    failed = next((r for r in ran[0] if r.error), None)
    if failed:
        return [failed] * len(statements)
    return [segment[-1] for segment in ran[1:-1]]  # each statement, not the undoing


def _ran(result: PGresult, encoding: str) -> Ran:
    from psycopg import errors, pq

    if result.status == pq.ExecStatus.FATAL_ERROR:
        return Ran(0, errors.error_from_result(result, encoding))
    return Ran(result.command_tuples or 0)


def _exchange(conn: Connection, syncs: int, wait_s: float) -> list[list[PGresult]]:
    """Flush what is queued while reading what comes back (a server blocked on writing
    results reads nothing more), until ``syncs`` Syncs have answered: per transaction, the
    results of the statements that ran."""
    from psycopg import pq

    pgconn = conn.pgconn
    results: list[list[PGresult]] = []
    current: list[PGresult] = []
    sent = in_statement = False
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while len(results) < syncs:
            events = selectors.EVENT_READ | (0 if sent else selectors.EVENT_WRITE)
            selector.modify(pgconn.socket, events)
            ready = selector.select(wait_s)
            if not ready:
                raise abandoned(conn, wait_s)
            mask = ready[0][1]
            if mask & selectors.EVENT_WRITE:
                sent = pgconn.flush() == 0
            if not mask & selectors.EVENT_READ:
                continue
            pgconn.consume_input()
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:  # one statement's results end; none more to read yet
                    if not in_statement:
                        break
                    in_statement = False
                elif result.status == pq.ExecStatus.PIPELINE_SYNC:  # not followed by None
                    results.append(current)
                    current = []
                else:
                    in_statement = True
                    if result.status != pq.ExecStatus.PIPELINE_ABORTED:  # skipped
                        current.append(result)
    return results
