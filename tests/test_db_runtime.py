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


@pytest.mark.parametrize(
    ("age", "freezing", "status"),
    [
        (150_000_000, False, "pass"),
        (250_000_000, False, "hold"),  # past autovacuum_freeze_max_age, nothing freezing
        (250_000_000, True, "pass"),  # an anti-wraparound autovacuum at work: given time
        (1_100_000_000, True, "hold"),  # ... but not past wraparound_warn
        (1_700_000_000, True, "rollback"),
    ],
)
def test_an_anti_wraparound_vacuum_at_work_is_given_time(
    age: int, freezing: bool, status: str
) -> None:
    row = {"datname": "app", "xid_age": age, "freeze_max_age": 200_000_000, "freezing": freezing}
    judged, _, detail = rules.judge_wraparound(row, DbSuiteSettings())
    assert judged == status
    if freezing and age > 200_000_000:
        assert "an anti-wraparound autovacuum is at work" in detail
