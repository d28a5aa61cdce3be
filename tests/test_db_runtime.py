"""Runtime incidents a DBA calls out, made for real on a PostgreSQL of the test's own: freezing
that does not keep up, and the session that holds the lock others wait on."""

from __future__ import annotations

import psycopg
import pytest

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.db import rules
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import connect_readonly
from tests.pg_cluster import binaries, running_cluster

BURN = """
CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..n LOOP PERFORM txid_current(); COMMIT; END LOOP;
END $$;
"""


def test_freezing_that_does_not_keep_up_holds_with_both_numbers() -> None:
    """A real server whose vacuum does not run (autovacuum off) ages past its
    autovacuum_freeze_max_age (its minimum, 100,000) through real transactions."""
    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries to start one")
    with running_cluster(autovacuum="off", autovacuum_freeze_max_age="100000") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(BURN)
            conn.execute("CALL burn(101000)")
        reader = connect_readonly(dsn, DbSettings(statement_timeout_ms=5000))
        result = rules.wraparound(reader, DbSuiteSettings())
        reader.close()
    [gate] = result.gates
    assert gate.status == "hold"
    assert gate.threshold == 100000
    assert ", past autovacuum_freeze_max_age (100000): vacuum is not keeping up" in gate.detail
    assert gate.detail.startswith("oldest: ")
