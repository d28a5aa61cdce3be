"""What the immediate-phase db checks and the pre-deploy snapshot cost as a schema grows.

Generated schemas of 100, 1,000 and 5,000 tables, each with a primary key, a foreign key to the
previous table and an index on it, in a scratch database. The immediate-phase rules (invalid
indexes, NOT VALID constraints, disabled triggers, blocked sessions, connections, migrations,
connectivity) run on one read-only connection, as the suite runs them; so does the snapshot the
pre_deploy phase takes (``db.snapshot``). Prints the time per size and the growth ratio against
the table-count ratio (targets: roughly linear; each under 2 s at 1,000 tables).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

import psycopg
from psycopg import sql

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.db import migrations, snapshot
from pytest_deploycheck.db import rules as db_rules
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import connect_readonly

ADMIN = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SIZES = (100, 1000, 5000)
ROUNDS = 3
RULES = (
    db_rules.invalid_indexes,
    db_rules.not_valid_constraints,
    db_rules.disabled_triggers,
    db_rules.blocked_sessions,
    db_rules.connections,
)


def build(dsn: str, tables: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t0 (id serial PRIMARY KEY, name text)")
        for i in range(1, tables):
            conn.execute(
                f"CREATE TABLE t{i} (id serial PRIMARY KEY, parent int REFERENCES t{i - 1} (id),"
                f" name text CHECK (length(name) < 100));"
                f"CREATE INDEX t{i}_parent ON t{i} (parent)"
            )


def immediate_phase(dsn: str) -> float:
    conn = connect_readonly(dsn, DbSettings(statement_timeout_ms=60000))
    settings = DbSuiteSettings()
    start = time.perf_counter()
    conn.execute("SELECT current_setting('server_version_num'), pg_is_in_recovery()").fetchone()
    for rule in RULES:
        rule(conn, settings)
        conn.rollback()
    migrations.migrations(conn, settings)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def take_snapshot(dsn: str) -> float:
    conn = connect_readonly(dsn, DbSettings(statement_timeout_ms=60000))
    start = time.perf_counter()
    snapshot.take(conn, DbSuiteSettings())
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    results: dict[int, float] = {}
    snapshots: dict[int, float] = {}
    for tables in SIZES:
        name = f"deploycheck_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        dsn = psycopg.conninfo.make_conninfo(ADMIN, dbname=name)
        try:
            build(dsn, tables)
            results[tables] = statistics.median(immediate_phase(dsn) for _ in range(ROUNDS))
            snapshots[tables] = statistics.median(take_snapshot(dsn) for _ in range(ROUNDS))
        finally:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    for title, figures in (("immediate-phase db checks", results), ("snapshot", snapshots)):
        print(f"{title}, median of {ROUNDS}")
        base = SIZES[0]
        for tables, seconds in figures.items():
            growth = seconds / figures[base]
            print(
                f"  {tables:>5} tables  {seconds:6.3f} s   {seconds / tables * 1e6:7.1f} us/table"
                f"   growth x{growth:5.1f} for x{tables // base} tables"
            )
    print("targets: roughly linear growth; each under 2 s at 1,000 tables")


if __name__ == "__main__":
    main()
