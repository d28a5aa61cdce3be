"""The database before and after a deploy: a snapshot in the pre_deploy phase, then each kind of
change a migration can make, made for real on a real PostgreSQL, judged by the checks after it;
and the rules' pure parts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from pytest_deploycheck.db.changes import compare, narrower
from tests.conftest import SignOffReader, db_suite
from tests.pg_cluster import binaries, running_cluster

SCHEMA = """
CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL DEFAULT '', legacy text,
                    title text, rank int, code varchar(10));
INSERT INTO notes (body, title) SELECT 'note ' || g, 't' FROM generate_series(1, 50) g;
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total numeric(12, 2));
INSERT INTO orders SELECT g, g % 100, g FROM generate_series(1, 2000) g;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 1000;
CREATE FUNCTION order_total(o int) RETURNS numeric LANGUAGE sql AS
  'SELECT total FROM orders WHERE id = o';
"""
CONFIG = """
[targets.t.suites.db]
critical_tables = ["public.orders"]
"""
Deploy = Callable[..., dict[str, Any]]


@pytest.fixture
def deployed(pytester: pytest.Pytester, pg_database: str, read_signoff: SignOffReader) -> Deploy:
    """Snapshot before, the migration as the deploy, then the checks after it."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(SCHEMA)

    def deploy(migration: str, config: str = "", phase: str = "immediate") -> dict[str, Any]:
        pytester.makefile(".toml", deploycheck=CONFIG + config)
        run = ("--deploy-target=t", "--deploy-suites=db", f"--deploy-db-url={pg_database}")
        before = pytester.runpytest(*run, "--deploy-phase=pre_deploy", "--deploy-state=state")
        assert before.ret == 0, before.stdout.str()
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(migration)
        pytester.runpytest(*run, f"--deploy-phase={phase}", "--deploy-state=state")
        return read_signoff(pytester.path / "deploycheck-signoff.json")

    return deploy


def failed(document: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["message"] for c in document["checks"] if c["outcome"] == "failed"}


def test_a_dropped_column_is_data_loss(deployed: Deploy) -> None:
    document = deployed("ALTER TABLE notes DROP COLUMN legacy")
    assert document["verdict"] == "ROLLBACK"
    assert failed(document) == {
        "db.data_loss": "[data-loss] column public.notes.legacy was dropped"
        " (objects: public.notes.legacy)"
    }


def test_a_drop_acknowledged_in_the_config_is_go_with_an_advisory(deployed: Deploy) -> None:
    document = deployed(
        "ALTER TABLE notes DROP COLUMN legacy", 'acknowledged = ["public.notes.legacy"]\n'
    )
    assert document["verdict"] == "GO", document["reasons"]
    assert document["advisories"] == [
        "db.schema_changes: [schema-change-acknowledged] column public.notes.legacy was dropped"
        " (acknowledged) (objects: public.notes.legacy)"
    ]


def test_a_critical_table_losing_half_its_rows_is_data_loss(deployed: Deploy) -> None:
    document = deployed("DELETE FROM orders WHERE id > 1000")
    assert document["verdict"] == "ROLLBACK"
    assert failed(document)["db.data_loss"].startswith(
        "[data-loss] critical table public.orders lost 1000 of its 2000 rows (50%"
    )


def test_a_narrowed_type_is_data_loss(deployed: Deploy) -> None:
    document = deployed("ALTER TABLE notes ALTER COLUMN title TYPE varchar(20)")
    assert document["verdict"] == "ROLLBACK"
    assert failed(document)["db.data_loss"].startswith(
        "[data-loss] column public.notes.title was narrowed from text to character varying(20)"
    )


def test_not_null_without_default_breaks_the_version_before(deployed: Deploy) -> None:
    document = deployed(
        "ALTER TABLE notes ADD COLUMN author int NOT NULL DEFAULT 0;"
        " ALTER TABLE notes ALTER COLUMN author DROP DEFAULT"
    )
    assert document["verdict"] == "HOLD", document["reasons"]
    assert failed(document) == {
        "db.backward_compatible": "[not-backward-compatible] column public.notes.author was"
        " added NOT NULL without a default: inserts of the version before fail"
        " (objects: public.notes.author)"
    }


def test_an_expand_migration_is_go(deployed: Deploy) -> None:
    """The correct way: add nullable or with a default, widen, add tables and indexes."""
    document = deployed(
        "ALTER TABLE notes ADD COLUMN author int; ALTER TABLE notes ADD COLUMN pinned boolean"
        " NOT NULL DEFAULT false; ALTER TABLE notes ALTER COLUMN rank TYPE bigint;"
        " ALTER TABLE notes ALTER COLUMN code TYPE varchar(40);"
        " CREATE TABLE tags (id serial PRIMARY KEY, name text NOT NULL);"
        " CREATE INDEX orders_customer ON orders (customer);"
        " INSERT INTO orders SELECT g, 1, g FROM generate_series(2001, 2100) g"
    )
    assert document["verdict"] == "GO", document["reasons"]
    outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
    assert outcomes["db.data_loss"] == outcomes["db.backward_compatible"] == "passed"


def test_renames_and_dropped_views_break_the_version_before(deployed: Deploy) -> None:
    document = deployed(
        "ALTER TABLE notes RENAME COLUMN body TO content; DROP VIEW big_orders;"
        " DROP FUNCTION order_total(int)"
    )
    assert document["verdict"] == "HOLD"
    [check] = [c for c in document["checks"] if c["id"] == "db.backward_compatible"]
    assert sorted(f["message"] for f in check["findings"]) == [
        "column public.notes.body was renamed to content",
        "function public.order_total(o integer) was dropped: the version before uses it",
        "view public.big_orders was dropped: the version before uses it",
    ]


def test_without_a_snapshot_the_comparisons_are_skipped(
    pytester: pytest.Pytester, pg_database: str, read_signoff: SignOffReader
) -> None:
    pytester.makefile(".toml", deploycheck=CONFIG)
    db_suite(pytester, pg_database)
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    skipped = {c["id"]: c["message"] for c in document["checks"] if c["outcome"] == "skipped"}
    assert skipped["db.data_loss"].startswith("no pre-deploy snapshot to compare with")


# -- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "narrowed"),
    [
        ("text", "character varying(20)", True),
        ("character varying(100)", "character varying(20)", True),
        ("character varying(20)", "character varying(100)", False),
        ("character varying(20)", "text", False),
        ("bigint", "integer", True),
        ("integer", "bigint", False),
        ("integer", "numeric", False),
        ("numeric(12,2)", "numeric(10,2)", True),
        ("numeric(12,2)", "numeric(12,4)", True),  # two fewer digits before the point
        ("numeric(12,2)", "numeric(14,2)", False),
        ("double precision", "real", True),
        ("numeric", "integer", True),
        ("timestamp with time zone", "date", True),
        ("text", "jsonb", None),
    ],
)
def test_narrowing(old: str, new: str, narrowed: bool | None) -> None:
    assert narrower(old, new) is narrowed


def snapshot(**columns: dict[str, Any]) -> dict[str, Any]:
    return {"tables": {"public.t": {"oid": 1, "estimate": 0, "columns": columns}}}


def column(num: int, type: str = "text", not_null: bool = False) -> dict[str, Any]:
    return {"num": num, "type": type, "not_null": not_null, "default": False}


def test_an_acknowledgement_names_the_column_or_its_table() -> None:
    before = snapshot(a=column(1), b=column(2))
    after = snapshot(a=column(1))
    for name in ("public.t.b", "t.b", "public.t", '"public"."t"."b"'):
        changes = compare(before, after, 0.1, [name])
        assert [f.object for f in changes.acknowledged] == ["public.t.b"], name
        assert changes.data_loss == []
    assert [f.object for f in compare(before, after, 0.1, ["public.t.a"]).data_loss] == [
        "public.t.b"
    ]


def test_a_change_of_type_between_unrelated_types_holds_not_rolls_back() -> None:
    changes = compare(snapshot(a=column(1, "text")), snapshot(a=column(1, "jsonb")), 0.1)
    assert changes.data_loss == []
    assert [f.message for f in changes.incompatible] == [
        "column public.t.a changed type from text to jsonb"
    ]


CORRUPT = """
CREATE EXTENSION amcheck;
CREATE FUNCTION ascending(int, int) RETURNS int LANGUAGE sql IMMUTABLE
  AS 'SELECT CASE WHEN $1 < $2 THEN -1 WHEN $1 > $2 THEN 1 ELSE 0 END';
CREATE OPERATOR CLASS shifting_ops FOR TYPE int USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
  FUNCTION 1 ascending(int, int);
CREATE TABLE ledger (entry int NOT NULL);
INSERT INTO ledger SELECT g FROM generate_series(1, 500) g;
CREATE INDEX ledger_entry ON ledger (entry shifting_ops);
-- The comparator changes after the build: the index's order is now wrong.
CREATE OR REPLACE FUNCTION ascending(int, int) RETURNS int LANGUAGE sql IMMUTABLE
  AS 'SELECT CASE WHEN $1 < $2 THEN 1 WHEN $1 > $2 THEN -1 ELSE 0 END';
"""


def test_a_corrupt_index_rolls_back_a_default_extended_run(
    pytester: pytest.Pytester, pg_database: str, read_signoff: SignOffReader
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(CORRUPT)
    db_suite(pytester, pg_database, "--deploy-phase=extended")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "ROLLBACK"
    assert failed(document)["db.amcheck"].startswith(
        "[amcheck] index public.ledger_entry is corrupt:"
    )


@pytest.fixture(scope="module")
def with_statistics() -> Iterator[str]:
    """A server of its own with pg_stat_statements preloaded (a shared one may lack it)."""
    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries to start one with pg_stat_statements")
    with running_cluster(shared_preload_libraries="pg_stat_statements") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
        shop = psycopg.conninfo.make_conninfo(dsn, dbname="shop")
        with psycopg.connect(shop, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute(
                "CREATE TABLE items (id int PRIMARY KEY, sku int NOT NULL, name text);"
                " INSERT INTO items SELECT g, g, 'item ' || g FROM generate_series(1, 200000) g;"
                " CREATE INDEX items_sku ON items (sku); ANALYZE items"
            )
        yield shop


def shoppers(dsn: str, calls: int = 60) -> None:
    """The application's traffic: one query, with a different value each call."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(calls):
            conn.execute("SELECT name FROM items WHERE sku = %s", (n * 997 % 200000,)).fetchall()


def test_a_query_made_slower_by_a_dropped_index_holds_naming_it(
    with_statistics: str, pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makefile(".toml", deploycheck="[targets.t.suites.db]\n")
    run = ("--deploy-target=t", "--deploy-suites=db", f"--deploy-db-url={with_statistics}")
    shoppers(with_statistics)
    pytester.runpytest(*run, "--deploy-phase=pre_deploy", "--deploy-state=state")
    shoppers(with_statistics)  # a deploy that changed nothing: the same times, silence
    pytester.runpytest(*run, "--deploy-phase=short_term", "--deploy-state=state")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "GO", document["reasons"]
    assert "db.query_regressions" in {
        c["id"] for c in document["checks"] if c["outcome"] == "passed"
    }
    pytester.runpytest(*run, "--deploy-phase=pre_deploy", "--deploy-state=state")
    with psycopg.connect(with_statistics, autocommit=True) as conn:
        conn.execute("DROP INDEX items_sku")  # the deploy
    shoppers(with_statistics)
    pytester.runpytest(*run, "--deploy-phase=short_term", "--deploy-state=state")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "HOLD", document["reasons"]
    [check] = [c for c in document["checks"] if c["id"] == "db.query_regressions"]
    [found] = [f for f in check["findings"] if f["rule"] == "query-regression"]
    assert found["message"].endswith(": SELECT name FROM items WHERE sku = $1")
    assert " ms per call over 60 calls since the snapshot, against " in found["message"]


def test_the_snapshot_keeps_no_literal_of_the_targets_sql(
    with_statistics: str, pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    password = "Wh0le-role-p4ss"
    with psycopg.connect(with_statistics, autocommit=True) as conn:
        conn.execute("CREATE ROLE snapshot_probe LOGIN")
        try:
            conn.execute(f"ALTER ROLE snapshot_probe PASSWORD '{password}'")  # as a person would
            recorded = conn.execute(
                "SELECT count(*) FROM pg_stat_statements WHERE query LIKE %s", (f"%{password}%",)
            ).fetchone()
            assert recorded == (1,)  # pg_stat_statements really kept the password
            pytester.makefile(".toml", deploycheck="[targets.t.suites.db]\n")
            pytester.runpytest(
                "--deploy-target=t",
                "--deploy-suites=db",
                f"--deploy-db-url={with_statistics}",
                "--deploy-phase=pre_deploy",
                "--alluredir=allure",
            )
        finally:
            conn.execute("DROP ROLE snapshot_probe")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    [snapshot] = [c["data"]["snapshot"] for c in document["checks"] if c["id"] == "db.snapshot"]
    assert "ALTER ROLE snapshot_probe PASSWORD ***" in snapshot["statements"], sorted(
        snapshot["statements"]
    )
    written = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert [p.name for p in written if password.encode() in p.read_bytes()] == []


HISTORY = """
CREATE SCHEMA supabase_migrations;
CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, name text);
INSERT INTO supabase_migrations.schema_migrations VALUES ('20260101000000', 'a'),
  ('20260102000000', 'b');
"""


@pytest.mark.parametrize(
    ("files", "outcome", "to_apply"),
    [
        (["20260101000000_a.sql", "20260102000000_b.sql"], "passed", []),
        (
            ["20260101000000_a.sql", "20260102000000_b.sql", "20260103000000_c.sql"],
            "passed",
            ["20260103000000"],
        ),
    ],
)
def test_before_the_deploy_pending_migrations_are_what_it_will_apply(
    pytester: pytest.Pytester,
    pg_database: str,
    read_signoff: SignOffReader,
    files: list[str],
    outcome: str,
    to_apply: list[str],
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(HISTORY)
    for name in files:
        (pytester.path / "migrations").mkdir(exist_ok=True)
        (pytester.path / "migrations" / name).write_text("SELECT 1;\n")
    pytester.makefile(".toml", deploycheck='[targets.t.suites.db]\nmigrations_dir = "migrations"\n')
    db_suite(pytester, pg_database, "--deploy-phase=pre_deploy")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    [check] = [c for c in document["checks"] if c["id"] == "db.pending_migrations"]
    assert (check["outcome"], check["data"]["to_apply"]) == (outcome, to_apply)
    assert document["verdict"] == "GO", document["reasons"]


def test_a_dirty_migration_holds_the_deploy(
    pytester: pytest.Pytester, pg_database: str, read_signoff: SignOffReader
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean)")
        conn.execute("INSERT INTO schema_migrations VALUES (7, true)")
    pytester.makefile(".toml", deploycheck="[targets.t.suites.db]\n")
    db_suite(pytester, pg_database, "--deploy-phase=pre_deploy")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "HOLD"
    assert failed(document)["db.pending_migrations"].startswith(
        "[migration_failed] migration 7 failed or is dirty"
    )
