"""The db suite on a real PostgreSQL: each rule fires on a defect seeded here and stays quiet on
a clean database; the suite only reads, gives up on locks, and runs as a read-only role."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.db import rules as db_rules
from pytest_deploycheck.db import scans
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import RuleResult, connect_readonly, expression_calls
from tests.conftest import SignOffReader, wait_until

SCHEMA = """
CREATE TABLE orgs (id serial PRIMARY KEY, name text NOT NULL CHECK (length(name) > 0));
CREATE TABLE docs (id bigserial PRIMARY KEY, org_id int NOT NULL REFERENCES orgs (id),
                   title text NOT NULL, pages int CHECK (pages >= 0));
CREATE INDEX docs_org_idx ON docs (org_id);
INSERT INTO orgs (name) VALUES ('acme'), ('globex');
INSERT INTO docs (org_id, title, pages) VALUES (1, 'a', 1), (2, 'b', 2);
"""


@pytest.fixture
def admin(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection to a fresh database holding a small clean schema."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(SCHEMA)
        yield conn


@pytest.fixture
def reader(pg_database: str, admin: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    conn = connect_readonly(pg_database, DbSettings(statement_timeout_ms=5000, lock_timeout_ms=300))
    yield conn
    conn.close()


def run(
    rule: Callable[..., RuleResult], conn: psycopg.Connection[Any], **settings: Any
) -> RuleResult:
    try:
        return rule(conn, DbSuiteSettings.parse(settings))
    finally:
        conn.rollback()


QUIET = [
    db_rules.invalid_indexes,
    db_rules.not_valid_constraints,
    db_rules.disabled_triggers,
    db_rules.blocked_sessions,
    db_rules.connections,
    db_rules.long_queries,
    db_rules.idle_in_transaction,
    scans.fk_orphans,
    scans.check_violations,
    db_rules.sequences,
    db_rules.wraparound,
    db_rules.replication_lag,
    db_rules.wal_archiving,
]


@pytest.mark.parametrize("rule", QUIET, ids=lambda r: r.__name__)
def test_quiet_on_a_clean_database(rule: Any, reader: psycopg.Connection[Any]) -> None:
    result = run(rule, reader)
    assert result.findings == []
    assert all(g.status == "pass" for g in result.gates)


def test_invalid_index(admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]) -> None:
    admin.execute("INSERT INTO docs (org_id, title) VALUES (1, 'a')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        admin.execute("CREATE UNIQUE INDEX CONCURRENTLY docs_title_key ON docs (title)")
    result = run(db_rules.invalid_indexes, reader)
    assert [(f.rule, f.object) for f in result.findings] == [
        ("invalid_index", "public.docs_title_key")
    ]
    assert "docs_title_key" in result.evidence(5)


def test_not_valid_constraint(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]
) -> None:
    admin.execute(
        "ALTER TABLE docs ADD CONSTRAINT short_title CHECK (length(title) < 50) NOT VALID"
    )
    result = run(db_rules.not_valid_constraints, reader)
    assert [f.object for f in result.findings] == ["public.docs.short_title"]


def test_disabled_trigger(admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]) -> None:
    admin.execute(
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
        "CREATE TRIGGER docs_touch BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION touch();"
        "ALTER TABLE docs DISABLE TRIGGER docs_touch"
    )
    result = run(db_rules.disabled_triggers, reader)
    assert [f.object for f in result.findings] == ["public.docs.docs_touch"]


def test_fk_orphans_of_a_validated_constraint(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]
) -> None:
    # A load with triggers off (replication role) bypasses the foreign key.
    admin.execute("SET session_replication_role = replica")
    admin.execute("INSERT INTO docs (org_id, title) VALUES (99, 'orphan'), (98, 'orphan')")
    result = run(scans.fk_orphans, reader, scan_limit=10)
    [finding] = result.findings
    assert finding.object == "public.docs.docs_org_id_fkey"
    assert finding.message.startswith("2 rows of public.docs point to no row of public.orgs")
    assert sorted(row["key"] for row in result.rows) == ["98", "99"]


def test_check_violations(admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]) -> None:
    admin.execute("SET session_replication_role = replica")
    admin.execute("ALTER TABLE docs DROP CONSTRAINT docs_pages_check")
    admin.execute("INSERT INTO docs (org_id, title, pages) VALUES (1, 'a', -5), (1, 'b', -6)")
    admin.execute("ALTER TABLE docs ADD CONSTRAINT docs_pages_check CHECK (pages >= 0) NOT VALID")
    result = run(scans.check_violations, reader)
    assert [(f.rule, f.object) for f in result.findings] == [
        ("check_violation", "public.docs.docs_pages_check")
    ]
    assert result.findings[0].message.startswith("2 rows of public.docs break CHECK")
    bounded = run(scans.check_violations, reader, scan_limit=1)  # stopped at its limit
    assert bounded.findings[0].message.startswith("1+ rows of public.docs break CHECK")


def test_what_a_check_constraint_calls_decides_whether_the_checker_evaluates_it(
    admin: psycopg.Connection[Any], read_only_role: str
) -> None:
    # PostgreSQL's own functions that change nothing — immutable or stable, operators, IN
    # lists, regular expressions, casts — are evaluated as ever; a volatile one, or a function
    # of the target's, is not run with the checking role's rights.
    admin.execute(
        "CREATE SEQUENCE s;"
        " ALTER TABLE orgs ADD COLUMN email varchar, ADD COLUMN at timestamptz DEFAULT now();"
        " ALTER TABLE orgs ADD CONSTRAINT shaped CHECK (email ~* '^[^@]+@[^@]+$'"
        "   AND char_length(name) BETWEEN 1 AND 200 AND at <= now() + interval '1 day'"
        "   AND lower(name)::text IN ('acme', 'globex') AND (id, 1) > (0, 0)) NOT VALID;"
        " ALTER TABLE docs ADD CONSTRAINT counted CHECK (nextval('s') > 0) NOT VALID"
    )
    with psycopg.connect(read_only_role) as conn:
        conn.execute("SET default_transaction_read_only = on")
        with pytest.raises(CouldNotCheck) as raised:
            scans.check_violations(conn, DbSuiteSettings())
    assert str(raised.value).startswith(
        "[check-not-evaluated] public.docs.counted calls nextval(regclass):"
    )
    assert "shaped" not in str(raised.value)
    assert admin.execute("SELECT last_value, is_called FROM s").fetchone() == (1, False)


def test_calls_reads_what_a_stored_expression_runs() -> None:
    tree = (
        "{BOOLEXPR :boolop and :args ({OPEXPR :opno 521 :opfuncid 147 :args ()}"
        " {FUNCEXPR :funcid 16500 :funcresulttype 16} {ROWCOMPAREEXPR :rctype 4 :opnos (o 97 1)"
        " :opfamilies (o 1976)} {COERCETODOMAIN :arg {VAR :varno 1}})}"
    )
    assert expression_calls(tree) == ({147, 16500}, {521, 97, 1}, True)
    assert expression_calls("{CONST :consttype 23 :constvalue 4 [ 0 0 0 0 ]}") == (
        set(),
        set(),
        False,
    )


@pytest.mark.parametrize(("share", "status"), [(0.90, "hold"), (0.97, "rollback")])
def test_sequence_near_the_column_limit(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], share: float, status: str
) -> None:
    # orgs.id is int4 fed by a sequence that could go far higher: the column is the limit.
    admin.execute("ALTER SEQUENCE orgs_id_seq AS bigint MAXVALUE 9223372036854775807")
    admin.execute("SELECT setval('orgs_id_seq', %s)", (int(2147483647 * share),))
    result = run(db_rules.sequences, reader)
    [gate] = result.gates
    assert (gate.name, gate.status) == ("db.sequence public.orgs_id_seq", status)
    assert "feeding public.orgs.id" in gate.detail


def test_wraparound_thresholds(reader: psycopg.Connection[Any]) -> None:
    result = run(db_rules.wraparound, reader, wraparound_warn=1, wraparound_critical=2)
    assert result.gates[0].status == "rollback"


@contextmanager
def session(dsn: str, *statements: str, ready: str) -> Iterator[psycopg.Connection[Any]]:
    """A second, real session that runs ``statements`` in a thread and stays open; entered once
    its row in pg_stat_activity meets ``ready`` (a condition on that row)."""
    conn = psycopg.connect(dsn, autocommit=False, application_name="test-other-session")
    pid = conn.info.backend_pid
    worker = threading.Thread(target=lambda: _run(conn, statements), daemon=True)
    worker.start()
    condition = sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s AND {})")
    query = condition.format(sql.SQL(ready))  # type: ignore[arg-type]
    try:
        with psycopg.connect(dsn, autocommit=True) as observer:

            def is_ready() -> bool:
                return bool(observer.execute(query, (pid,)).fetchone()[0])  # type: ignore[index]

            wait_until(is_ready, f"the other session ({ready})")
        yield conn
    finally:
        conn.cancel_safe() if hasattr(conn, "cancel_safe") else conn.cancel()
        worker.join(5)
        conn.close()


def _run(conn: psycopg.Connection[Any], statements: tuple[str, ...]) -> None:
    try:
        for statement in statements:
            conn.execute(statement)
    except psycopg.Error:
        pass  # cancelled at the end of the test


def own(conn: psycopg.Connection[Any]) -> str:
    """How the session rules name ``conn``'s session."""
    return f"pid {conn.info.backend_pid} (test-other-session)"


def test_long_running_query(pg_database: str, reader: psycopg.Connection[Any]) -> None:
    running = "state = 'active' AND now() - query_start > interval '0.5 s'"
    with session(pg_database, "SELECT pg_sleep(10)", ready=running) as other:
        result = run(db_rules.long_queries, reader, long_query_s=0.3)
        mine = [f for f in result.findings if f.object == own(other)]
    assert [f.rule for f in mine] == ["long_running_query"]


def test_idle_in_transaction(pg_database: str, reader: psycopg.Connection[Any]) -> None:
    idle = "state = 'idle in transaction' AND now() - state_change > interval '0.5 s'"
    secret = "SELECT set_config('app.key', 'Session-k3y', true)"
    with session(pg_database, secret, ready=idle) as other:
        result = run(db_rules.idle_in_transaction, reader, idle_in_transaction_s=0.3)
        mine = [f for f in result.findings if f.object == own(other)]
        [row] = [r for r in result.rows if r["pid"] == other.info.backend_pid]
    assert [f.rule for f in mine] == ["idle_in_transaction"]
    assert row["query"] == "SELECT set_config('***', '***', true)"  # no literal kept


def test_blocked_session_and_lock_timeout(
    pg_database: str, admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]
) -> None:
    with (
        session(
            pg_database, "LOCK TABLE docs IN ACCESS EXCLUSIVE MODE", ready="state LIKE 'idle in%%'"
        ) as holder,
        session(
            pg_database, "SELECT count(*) FROM docs", ready="wait_event_type = 'Lock'"
        ) as waiter,
    ):
        blocked = run(db_rules.blocked_sessions, reader)
        ours = [f.rule for f in blocked.findings if f.object in (own(holder), own(waiter))]
        assert ours == ["lock_holder", "blocked_session"]
        # A scan that needs the locked table gives up within the lock timeout: could not check.
        started = time.monotonic()
        with pytest.raises(CouldNotCheck, match=r"\[db-timeout\] .*docs"):
            run(scans.fk_orphans, reader, scan_timeout_ms=60000)
        assert time.monotonic() - started < 30  # bounded, not hung: the lock timeout is 0.3 s


def test_the_idle_transaction_that_blocks_others_is_named_at_any_age(
    pg_database: str, admin: psycopg.Connection[Any], reader: psycopg.Connection[Any]
) -> None:
    idle = "state LIKE 'idle in%%'"
    with (
        session(pg_database, "SELECT 1", ready=idle) as bystander,  # idle, blocking nothing
        session(pg_database, "LOCK TABLE docs IN EXCLUSIVE MODE", ready=idle) as holder,
        session(pg_database, "UPDATE docs SET pages = 1", ready="wait_event_type = 'Lock'") as w,
    ):
        culprit, waiter = holder.info.backend_pid, w.info.backend_pid
        named = own(holder)
        blocked = run(db_rules.blocked_sessions, reader)
        [held] = [f for f in blocked.findings if f.object == named]
        assert held.rule == "lock_holder"
        assert held.message.startswith(f"session {culprit} (test-other-session) on ")
        assert ", idle in transaction, its transaction open for " in held.message
        assert held.message.endswith(f"holds a lock that [{waiter}] wait for")
        # Young, but it blocks others: reported whatever idle_in_transaction_s says; the idle
        # session that blocks nothing keeps the threshold.
        idle_ones = run(db_rules.idle_in_transaction, reader, idle_in_transaction_s=600)
        reported = [f.object for f in idle_ones.findings]
        assert named in reported
        assert own(bystander) not in reported


@pytest.fixture
def other_database(pg_admin: str) -> Iterator[str]:
    """A second database on the same server: another application's."""
    name = f"deploycheck_other_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = psycopg.conninfo.make_conninfo(pg_admin, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs (id int)")
    yield dsn
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_another_databases_sessions_are_not_this_deployments(
    other_database: str, reader: psycopg.Connection[Any]
) -> None:
    """A shared server: another application's lock wait and idle transaction hold nothing
    here."""
    idle = "state LIKE 'idle in%%'"
    with (
        session(other_database, "LOCK TABLE jobs IN EXCLUSIVE MODE", ready=idle) as holder,
        session(other_database, "UPDATE jobs SET id = 1", ready="wait_event_type = 'Lock'") as w,
    ):
        theirs = {own(holder), own(w)}
        blocked = run(db_rules.blocked_sessions, reader)
        idle_ones = run(db_rules.idle_in_transaction, reader, idle_in_transaction_s=0)
        assert not theirs & {f.object for f in [*blocked.findings, *idle_ones.findings]}


def test_connection_saturation(pg_database: str, reader: psycopg.Connection[Any]) -> None:
    extra = [psycopg.connect(pg_database) for _ in range(5)]  # real connections, bounded
    try:
        hold = run(db_rules.connections, reader, connections_hold=0.0, connections_rollback=0.99)
        rollback = run(
            db_rules.connections, reader, connections_hold=0.0, connections_rollback=0.01
        )
    finally:
        for conn in extra:
            conn.close()
    assert hold.gates[0].status == "hold"
    assert rollback.gates[0].status == "rollback"
    assert rollback.findings[0].rule == "connection_saturation"


def test_replication_and_archiving_judgements() -> None:
    settings = DbSuiteSettings(replication_lag_s=30)
    replica = ("application_name", "client_addr", "state", "replay_lag_s")
    rows = [
        dict(zip(replica, ("r1", "10.0.0.2", "streaming", 45.0), strict=True)),
        dict(zip(replica, ("r2", "10.0.0.3", "catchup", None), strict=True)),
    ]
    assert [f.message for f in db_rules.judge_replication(rows, settings)] == [
        "replica r1 (10.0.0.2) replays 45 s behind",
        "replica r2 (10.0.0.3) is catchup, not streaming",
    ]
    caught_up = dict(zip(replica, ("r1", "x", "streaming", 1.0), strict=True))
    assert db_rules.judge_replication([caught_up], settings) == []
    archiver = (
        "archive_mode",
        "archived_count",
        "last_archived_wal",
        "archived_ago_s",
        "failed_count",
        "last_failed_wal",
        "failing",
    )

    def row(*values: Any) -> dict[str, Any]:
        return dict(zip(archiver, values, strict=True))

    failing = row("on", 10, "000001", 5.0, 3, "000002", True)
    assert db_rules.judge_archiver(failing, settings)[0].message.startswith("WAL archiving fails")
    stale = row("on", 10, "000001", 5000.0, 0, None, False)
    assert (
        db_rules.judge_archiver(stale, settings)[0].message == "no WAL segment archived for 5000 s"
    )
    assert db_rules.judge_archiver(row("off", 0, None, None, 0, None, False), settings) == []


def test_amcheck_checks_btree_indexes(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], read_only_role: str
) -> None:
    assert run(scans.amcheck, reader).note == "the amcheck extension is not installed"
    admin.execute("CREATE EXTENSION amcheck")
    result = run(scans.amcheck, reader)
    assert (result.findings, result.note) == ([], "")
    # An expression index whose "immutable" function changed no longer matches its table.
    admin.execute("CREATE FUNCTION flip(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1'")
    admin.execute("CREATE INDEX docs_flip ON docs (flip(pages))")
    admin.execute(
        "CREATE OR REPLACE FUNCTION flip(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT -$1'"
    )
    corrupt = run(scans.amcheck, reader)
    assert [(f.rule, f.object) for f in corrupt.findings] == [("amcheck", "public.docs_flip")]
    admin.execute("DROP INDEX docs_flip")
    # Not being allowed to run it is "could not check", never a corrupt index.
    with psycopg.connect(read_only_role) as conn, pytest.raises(CouldNotCheck, match="privilege"):
        scans.amcheck(conn, DbSuiteSettings())


# -- the suite as a whole: read-only, as a read-only role ---------------------------------------


@pytest.fixture
def read_only_role(pg_admin: str, pg_database: str) -> Iterator[str]:
    """A login role that holds read privileges only."""
    role = f"deploycheck_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT pg_read_all_data, pg_monitor TO {}").format(sql.Identifier(role))
        )
    yield psycopg.conninfo.make_conninfo(pg_database, user=role)
    with psycopg.connect(pg_database, autocommit=True) as conn:  # privileges granted in it
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def writes(dsn: str) -> tuple[int, ...]:
    """The database's write counters, once they have settled."""
    query = (
        "SELECT tup_inserted, tup_updated, tup_deleted FROM pg_stat_database"
        " WHERE datname = current_database()"
    )
    last: tuple[int, ...] = ()
    for _ in range(20):  # statistics are flushed by each backend within about a second
        with psycopg.connect(dsn, autocommit=True) as conn:
            current = conn.execute(query).fetchone()
        if current == last:
            return current
        last = current
        time.sleep(0.5)
    return last


def test_whole_suite_as_a_read_only_role_writes_nothing(
    pytester: pytest.Pytester,
    admin: psycopg.Connection[Any],
    pg_database: str,
    read_only_role: str,
    read_signoff: SignOffReader,
) -> None:
    pytester.makefile(".toml", deploycheck="[targets.t.suites.db]\n")
    admin.execute("CREATE EXTENSION amcheck")
    role = psycopg.conninfo.conninfo_to_dict(read_only_role)["user"]
    grant = sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}")
    admin.execute(grant.format(sql.Identifier(str(role))))
    # The set-up's own writes are counted before, not during, the run: an idle session
    # reports its statistics only after a while, unless told to.
    admin.execute("SELECT pg_stat_force_next_flush()")
    admin.execute("SELECT 1")
    before = writes(pg_database)
    run = ("--deploy-target=t", "--deploy-suites=db", f"--deploy-db-url={read_only_role}")
    snapshot = pytester.runpytest(*run, "--deploy-phase=pre_deploy", "--deploy-state=state")
    assert snapshot.ret == 0
    result = pytester.runpytest(*run, "--deploy-state=state")  # every phase, the snapshot's too
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert result.ret == 0, document["reasons"]
    outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
    assert outcomes.pop("db.migrations") == "skipped"  # none expected, no history table
    assert outcomes.pop("db.pending_migrations") == "skipped"  # the same, before the deploy
    assert outcomes.pop("db.migration_files") == "skipped"  # no folder to read
    assert outcomes.pop("db.backup") == "skipped"  # no backup source, not production
    assert outcomes.pop("db.query_regressions") == "skipped"  # no pg_stat_statements here
    assert set(outcomes.values()) == {"passed"}
    assert document["phases"] == [phase.value for phase in Phase]
    assert writes(pg_database) == before


def test_connectivity_fires_when_the_role_is_not_as_expected(
    pytester: pytest.Pytester,
    admin: psycopg.Connection[Any],
    pg_database: str,
    read_signoff: SignOffReader,
) -> None:
    pytester.makefile(".toml", deploycheck="[targets.t.suites.db]\nexpect_replica = true\n")
    pytester.runpytest(
        "--deploy-target=t",
        "--deploy-suites=db",
        "--deploy-phase=immediate",
        f"--deploy-db-url={pg_database}",
    )
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["reasons"][0].startswith(
        "[critical-failure] db.connectivity: [db-recovery] server in recovery is False"
    )
