"""Many statements in one round trip, each undone, on a real PostgreSQL: an error ends only
its own segment, nothing is ever kept, and a silent server costs one bounded wait."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.net.pipeline import each_undone
from pytest_deploycheck.net.postgres import connect_readonly

SAVEPOINT, UNDO = b"SAVEPOINT p", b"ROLLBACK TO SAVEPOINT p"
WRITABLE = [b"BEGIN READ WRITE", SAVEPOINT]
INSERT = b"INSERT INTO t VALUES (1), (2)"


@pytest.fixture
def conn(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute("CREATE TABLE t (n int CHECK (n > 0))")
    connection = connect_readonly(pg_database, DbSettings())
    yield connection
    connection.close()


def test_an_error_ends_only_its_statement_and_nothing_is_kept(
    conn: psycopg.Connection[Any],
) -> None:
    ran = each_undone(
        conn,
        WRITABLE,
        UNDO,
        [
            INSERT,
            b"INSERT INTO t VALUES (-1)",  # a check violation: the next one runs all the same
            b"SELECT n FROM t",  # the inserts before were undone
            INSERT,
        ],
        wait_s=10,
    )
    assert [r.rows for r in ran] == [2, 0, 0, 2]
    assert [type(r.error) for r in ran] == [
        type(None),
        psycopg.errors.CheckViolation,
        type(None),
        type(None),
    ]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)  # all rolled back


def test_an_opening_that_fails_is_every_statements_error(conn: psycopg.Connection[Any]) -> None:
    read_only = each_undone(
        conn, [b"BEGIN", SAVEPOINT], UNDO, [INSERT, INSERT], wait_s=10
    )  # the default
    assert {type(r.error) for r in read_only} == {psycopg.errors.ReadOnlySqlTransaction}
    failed = each_undone(conn, [b"BEGIN", b"SELECT 1/0", SAVEPOINT], UNDO, [INSERT], wait_s=10)
    assert {type(r.error) for r in failed} == {psycopg.errors.DivisionByZero}
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_silent_server_costs_one_wait_and_the_session(conn: psycopg.Connection[Any]) -> None:
    started = time.monotonic()
    with pytest.raises(CouldNotCheck, match=r"^\[db-timeout\] the database gave no answer"):
        each_undone(conn, WRITABLE, UNDO, [INSERT, b"SELECT pg_sleep(30)"], wait_s=0.5)
    assert time.monotonic() - started < 5
    assert conn.closed


def test_a_connection_that_breaks_is_could_not_check(conn: psycopg.Connection[Any]) -> None:
    ended = b"SELECT pg_terminate_backend(pg_backend_pid())"  # the server ends the session
    with pytest.raises(CouldNotCheck, match=r"^\[db-unreachable\] "):
        each_undone(conn, WRITABLE, UNDO, [INSERT, ended, INSERT], wait_s=10)
    assert conn.closed
