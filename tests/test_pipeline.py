"""Many rolled-back transactions in one round trip, on a real PostgreSQL: an error ends only
its own transaction, nothing is ever kept, and a silent server costs one bounded wait."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.net.pipeline import rolled_back
from pytest_deploycheck.net.postgres import connect_readonly

BEGIN = b"BEGIN READ WRITE"
INSERT = b"INSERT INTO t VALUES (1), (2)"


@pytest.fixture
def conn(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute("CREATE TABLE t (n int CHECK (n > 0))")
    connection = connect_readonly(pg_database, DbSettings())
    yield connection
    connection.close()


def test_an_error_ends_only_its_own_transaction_and_nothing_is_kept(
    conn: psycopg.Connection[Any],
) -> None:
    ran = rolled_back(
        conn,
        [
            [BEGIN, INSERT],
            [BEGIN, b"INSERT INTO t VALUES (-1)", INSERT],  # a check violation: the rest skipped
            [BEGIN, INSERT, b"SELECT n FROM t"],  # the one before rolled back: its own rows only
            [b"BEGIN", INSERT],  # the session's default: read only
        ],
        wait_s=10,
    )
    assert [[r.rows for r in steps] for steps in ran] == [[0, 2], [0, 0], [0, 2, 2], [0, 0]]
    assert ran[0][-1].error is None
    assert isinstance(ran[1][-1].error, psycopg.errors.CheckViolation)
    assert isinstance(ran[3][-1].error, psycopg.errors.ReadOnlySqlTransaction)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)  # every one rolled back


def test_a_silent_server_costs_one_wait_and_the_session(conn: psycopg.Connection[Any]) -> None:
    started = time.monotonic()
    with pytest.raises(CouldNotCheck, match=r"^\[db-timeout\] the database gave no answer"):
        rolled_back(conn, [[BEGIN, INSERT], [BEGIN, b"SELECT pg_sleep(30)"]], wait_s=0.5)
    assert time.monotonic() - started < 5
    assert conn.closed
