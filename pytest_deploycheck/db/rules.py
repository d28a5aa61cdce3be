"""The database checks: one batched catalog query each (bounded scans where data must be read),
and a pure judgement of the rows. Every rule only reads; a lock or statement timeout means the
rule could not check, never that it passed."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import CouldNotCheck, Finding, Gate
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import RuleResult, deparsed, fetch, run

if TYPE_CHECKING:
    from psycopg import sql


def connectivity(conn: Any, settings: DbSuiteSettings) -> Result:
    """The session is read-only, on PostgreSQL 12 or later, in recovery only when expected."""
    _, rows = fetch(
        conn,
        "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(),"
        " current_setting('transaction_read_only')",
    )
    version_num, in_recovery, read_only = rows[0]
    result = Result()  # the first unmet condition is the one reported
    result.require(read_only == "on", "db-not-read-only", "the check session is not read-only")
    result.require(
        version_num >= 120000, "db-version", f"PostgreSQL {version_num} is older than 12"
    )
    result.require(
        in_recovery == settings.expect_replica,
        "db-recovery",
        f"server in recovery is {in_recovery}, expected {settings.expect_replica}",
    )
    return result


def _simple(
    rule: str, query: str, name: Callable[[tuple[Any, ...]], tuple[str, str]]
) -> Callable[[Any, DbSuiteSettings], RuleResult]:
    """A rule where every row is one finding: ``name(row)`` gives (object, message)."""

    def check(conn: Any, settings: DbSuiteSettings) -> RuleResult:
        columns, rows = fetch(conn, query)
        findings = [Finding(rule, *name(row)) for row in rows]
        return RuleResult(rule, findings, query, columns, rows)

    return check


invalid_indexes = _simple(
    "invalid_index",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index,
       quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS table_name,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE NOT i.indisvalid ORDER BY 1""",
    lambda r: (r[0], f"index {r[0]} on {r[1]} is INVALID (a failed concurrent build?)"),
)

not_valid_constraints = _simple(
    "not_valid_constraint",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS table_name,
       quote_ident(con.conname),
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT con.convalidated
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1, 2""",
    lambda r: (f"{r[0]}.{r[1]}", f"constraint {r[1]} on {r[0]} is NOT VALID"),
)

disabled_triggers = _simple(
    "disabled_trigger",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table_name,
       quote_ident(tg.tgname)
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND tg.tgenabled = 'D'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1, 2""",
    lambda r: (f"{r[0]}.{r[1]}", f"trigger {r[1]} on {r[0]} is disabled"),
)

LONG_QUERIES = """SELECT pid, datname, usename, application_name, state,
       round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND state = 'active' AND now() - query_start > make_interval(secs => %s)
ORDER BY seconds DESC"""

IDLE_IN_TRANSACTION = """SELECT pid, datname, usename, application_name, state,
       round(extract(epoch FROM now() - state_change)::numeric, 1) AS seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND state LIKE 'idle in transaction%%' AND now() - state_change > make_interval(secs => %s)
ORDER BY seconds DESC"""


def long_queries(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Queries running longer than ``long_query_s`` (the runbook's five minutes)."""
    return _sessions(
        conn, "long_running_query", LONG_QUERIES, settings.long_query_s, "has been running"
    )


def idle_in_transaction(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Sessions idle inside an open transaction longer than ``idle_in_transaction_s``."""
    return _sessions(
        conn,
        "idle_in_transaction",
        IDLE_IN_TRANSACTION,
        settings.idle_in_transaction_s,
        "is idle in a transaction since",
    )


def _sessions(conn: Any, rule: str, query: str, seconds: float, what: str) -> RuleResult:
    columns, rows = fetch(conn, query, (seconds,))
    findings = [
        Finding(rule, f"pid {r[0]} ({r[3] or r[2]})", f"session {r[0]} on {r[1]} {what} {r[5]} s")
        for r in rows
    ]
    return RuleResult(rule, findings, query, columns, rows)


def blocked_sessions(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Sessions waiting for a lock another session holds."""
    query = """SELECT pid, datname, application_name, pg_blocking_pids(pid) AS blocked_by,
       wait_event_type, round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds,
       left(query, 200) AS query
FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0 ORDER BY seconds DESC"""
    columns, rows = fetch(conn, query)
    findings = [
        Finding(
            "blocked_session",
            f"pid {r[0]} ({r[2]})",
            f"session {r[0]} on {r[1]} is blocked by {r[3]} for {r[5]} s",
        )
        for r in rows
    ]
    return RuleResult("blocked_session", findings, query, columns, rows)


def connections(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Connections in use against those available (``max_connections`` less the reserved)."""
    query = """SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
  current_setting('max_connections')::int
    - current_setting('superuser_reserved_connections')::int AS available"""
    columns, rows = fetch(conn, query)
    used, available = rows[0]
    ratio = used / max(available, 1)
    status = (
        "rollback"
        if ratio > settings.connections_rollback
        else "hold"
        if ratio > settings.connections_hold
        else "pass"
    )
    threshold = settings.connections_rollback if status == "rollback" else settings.connections_hold
    gate = Gate(
        "db.connections",
        round(ratio, 4),
        threshold,
        status,
        f"{used} of {available} connections in use",
    )
    findings = [] if status == "pass" else [Finding("connection_saturation", "server", gate.detail)]
    return RuleResult("connection_saturation", findings, query, columns, rows, [gate])


FOREIGN_KEYS = """SELECT quote_ident(con.conname),
  quote_ident(cn.nspname) || '.' || quote_ident(c.relname),
  quote_ident(pn.nspname) || '.' || quote_ident(p.relname),
  cn.nspname, c.relname, pn.nspname, p.relname,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 2, 1"""


def fk_orphans(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Rows whose foreign key points nowhere, looked for one constraint at a time, bounded."""
    from psycopg import sql

    _, constraints = fetch(conn, FOREIGN_KEYS)
    result = RuleResult(
        "fk_orphan", query=FOREIGN_KEYS, columns=["constraint", "table", "key", "count"]
    )
    for name, child, parent, *raw, columns, keys in constraints:
        child_schema, child_table, parent_schema, parent_table = raw
        cols = [sql.Identifier(c) for c in columns]
        scan = sql.SQL(
            "SELECT {cols} FROM {child} c WHERE {not_null} AND NOT EXISTS"
            " (SELECT 1 FROM {parent} p WHERE {match}) LIMIT {limit}"
        ).format(
            cols=sql.SQL(", ").join(sql.SQL("c.") + c for c in cols),
            child=sql.Identifier(child_schema, child_table),
            parent=sql.Identifier(parent_schema, parent_table),
            not_null=sql.SQL(" AND ").join(
                sql.SQL("c.") + c + sql.SQL(" IS NOT NULL") for c in cols
            ),
            match=sql.SQL(" AND ").join(
                sql.SQL("p.") + sql.Identifier(k) + sql.SQL(" = c.") + c
                for k, c in zip(keys, cols, strict=True)
            ),
            limit=sql.Literal(settings.scan_limit),
        )
        rows = _bounded_scan(conn, scan, settings, result, f"{child}.{name}")
        if rows:
            message = f"{_count(rows, settings)} rows of {child} point to no row of {parent}"
            result.findings.append(Finding("fk_orphan", f"{child}.{name}", f"{message} ({name})"))
            result.rows += [
                (name, child, ", ".join(map(str, row)), len(rows))
                for row in rows[: settings.sample_rows]
            ]
    return _or_unchecked(result)


CHECK_CONSTRAINTS = """SELECT quote_ident(con.conname),
  quote_ident(tn.nspname) || '.' || quote_ident(t.relname),
  tn.nspname, t.relname, pg_get_expr(con.conbin, con.conrelid)
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE con.contype = 'c'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 2, 1"""


def check_violations(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Rows that break a CHECK constraint (loaded with checks off, or NOT VALID), bounded."""
    from psycopg import sql

    _, constraints = fetch(conn, CHECK_CONSTRAINTS)
    result = RuleResult(
        "check_violation", query=CHECK_CONSTRAINTS, columns=["constraint", "table", "ctid", "count"]
    )
    for name, table, schema, relation, expression in constraints:
        scan = sql.SQL("SELECT ctid::text FROM {table} WHERE {expr} IS FALSE LIMIT {limit}").format(
            table=sql.Identifier(schema, relation),
            expr=deparsed(expression),
            limit=sql.Literal(settings.scan_limit),
        )
        rows = _bounded_scan(conn, scan, settings, result, f"{table}.{name}")
        if rows:
            result.findings.append(
                Finding(
                    "check_violation",
                    f"{table}.{name}",
                    f"{len(rows)} rows of {table} break CHECK {name}",
                )
            )
            result.rows += [
                (name, table, row[0], len(rows)) for row in rows[: settings.sample_rows]
            ]
    return _or_unchecked(result)


def _bounded_scan(
    conn: Any, scan: sql.Composed, settings: DbSuiteSettings, result: RuleResult, what: str
) -> list[tuple[Any, ...]]:
    """One scan under its own time limit, in a savepoint so a timeout spoils nothing else.

    Row Level Security is off for the scan: where it would hide rows from the checking role,
    the scan fails instead of passing on the rows it was allowed to see.
    """
    import psycopg

    try:
        with conn.transaction():
            run(
                conn,
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('row_security', 'off', true)",
                (str(settings.scan_timeout_ms),),
            )
            return list(run(conn, scan).fetchall())
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
        result.note += f"[db-timeout] {what} not scanned within {settings.scan_timeout_ms} ms; "
    except psycopg.errors.InsufficientPrivilege as exc:
        result.note += f"[db-privilege] {what} not scanned: {str(exc).strip()}; "
    return []


def _count(rows: list[tuple[Any, ...]], settings: DbSuiteSettings) -> str:
    return f"{len(rows)}+" if len(rows) >= settings.scan_limit else str(len(rows))


def _or_unchecked(result: RuleResult) -> RuleResult:
    """Findings stand; without any, a scan that could not run means the rule could not check."""
    if result.note and not result.findings:
        raise CouldNotCheck(result.note.rstrip("; "))
    return result


def sequences(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """How close each sequence is to the largest value the column it feeds can hold."""
    query = """WITH feeds AS (
  SELECT d.objid AS seq, a.attrelid, a.attnum FROM pg_depend d
  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
    AND d.deptype IN ('a', 'i')
  UNION
  SELECT d.refobjid, ad.adrelid, ad.adnum FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
  WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
), typed AS (
  SELECT f.seq,
         quote_ident(tn.nspname) || '.' || quote_ident(tc.relname) || '.' || quote_ident(a.attname)
           AS col,
         CASE a.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
              ELSE 9223372036854775807 END::numeric AS col_max
  FROM feeds f JOIN pg_attribute a ON a.attrelid = f.attrelid AND a.attnum = f.attnum
  JOIN pg_class tc ON tc.oid = a.attrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
)
SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename) AS sequence,
       coalesce(s.last_value, 0) AS last_value,
       least(s.max_value::numeric, coalesce(min(t.col_max), s.max_value::numeric)) AS limit_value,
       string_agg(t.col, ', ') AS feeds
FROM pg_sequences s
JOIN pg_class c ON c.relname = s.sequencename
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
LEFT JOIN typed t ON t.seq = c.oid
WHERE s.increment_by > 0
GROUP BY 1, 2, s.max_value"""
    columns, rows = fetch(conn, query)
    rows.sort(key=lambda row: float(row[1]) / float(row[2]), reverse=True)
    result = RuleResult("sequence_exhaustion", query=query, columns=columns, rows=rows)
    for name, last, limit, feeds in rows:
        used = float(last) / float(limit)
        if used < settings.sequence_warn:
            continue
        status = "rollback" if used >= settings.sequence_critical else "hold"
        threshold = settings.sequence_critical if status == "rollback" else settings.sequence_warn
        detail = f"{name} at {last} of {limit} ({used:.1%}) feeding {feeds or 'no column'}"
        result.gates.append(Gate(f"db.sequence {name}", round(used, 4), threshold, status, detail))
        result.findings.append(Finding("sequence_exhaustion", name, detail))
    return result


def wraparound(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Transaction-ID age of the oldest database against the wraparound thresholds."""
    query = (
        "SELECT datname, age(datfrozenxid) AS xid_age FROM pg_database"
        " WHERE datallowconn ORDER BY 2 DESC"
    )
    columns, rows = fetch(conn, query)
    name, age = rows[0]
    status = (
        "rollback"
        if age >= settings.wraparound_critical
        else "hold"
        if age >= settings.wraparound_warn
        else "pass"
    )
    threshold = settings.wraparound_critical if status == "rollback" else settings.wraparound_warn
    gate = Gate(
        "db.xid_age", float(age), float(threshold), status, f"oldest: {name} at {age} transactions"
    )
    findings = [] if status == "pass" else [Finding("xid_wraparound", name, gate.detail)]
    return RuleResult("xid_wraparound", findings, query, columns, rows, [gate])


def replication_lag(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """Replay lag of each replica; quiet when there are none."""
    query = """SELECT application_name, client_addr::text, state,
       extract(epoch FROM replay_lag)::float AS replay_lag_s FROM pg_stat_replication"""
    columns, rows = fetch(conn, query)
    return RuleResult(
        "replication_lag",
        judge_replication(rows, settings),
        query,
        columns,
        rows,
        note="" if rows else "no replicas",
    )


def judge_replication(rows: Sequence[tuple[Any, ...]], settings: DbSuiteSettings) -> list[Finding]:
    """Replicas that lag beyond ``replication_lag_s`` or are not streaming."""
    findings = []
    for name, address, state, lag in rows:
        replica = f"{name or 'replica'} ({address})"
        if state != "streaming":
            findings.append(
                Finding("replication_lag", replica, f"replica {replica} is {state}, not streaming")
            )
        elif lag is not None and lag > settings.replication_lag_s:
            findings.append(
                Finding("replication_lag", replica, f"replica {replica} replays {lag:.0f} s behind")
            )
    return findings


def wal_archiving(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """WAL archiver failures and the age of the last archived segment, when archiving is on."""
    query = """SELECT current_setting('archive_mode') AS archive_mode, archived_count,
       last_archived_wal,
       extract(epoch FROM now() - last_archived_time)::float AS archived_ago_s, failed_count,
       last_failed_wal, last_failed_time > coalesce(last_archived_time, '-infinity') AS failing
FROM pg_stat_archiver"""
    columns, rows = fetch(conn, query)
    return RuleResult("wal_archiving", judge_archiver(rows[0], settings), query, columns, rows)


def judge_archiver(row: Sequence[Any], settings: DbSuiteSettings) -> list[Finding]:
    """Archiving that fails, or that has not archived a segment for ``archive_age_s``."""
    mode, archived, _, ago, failed, failed_wal, failing = row
    if mode == "off":
        return []
    if failing:
        return [
            Finding(
                "wal_archiving",
                str(failed_wal),
                f"WAL archiving fails ({failed} failures, latest {failed_wal})",
            )
        ]
    if archived and ago is not None and ago > settings.archive_age_s:
        return [Finding("wal_archiving", "archiver", f"no WAL segment archived for {ago:.0f} s")]
    return []


BTREE_INDEXES = """SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  AND pg_relation_size(c.oid) <= %s * 1024 * 1024 ORDER BY 2"""


def amcheck(conn: Any, settings: DbSuiteSettings) -> RuleResult:
    """``bt_index_check`` (a read lock only) on each B-tree index up to ``amcheck_max_mb``."""
    _, installed = fetch(
        conn,
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'amcheck'",
    )
    if not installed:
        return RuleResult("amcheck", note="the amcheck extension is not installed")
    import psycopg
    from psycopg import sql

    # In the extension's own schema, which need not be on the search path (Supabase's
    # ``extensions``).
    check = sql.SQL("SELECT {}(%s::oid::regclass, %s)").format(
        sql.Identifier(installed[0][0], "bt_index_check")
    )

    _, indexes = fetch(conn, BTREE_INDEXES, (settings.amcheck_max_mb,))
    result = RuleResult("amcheck", query=BTREE_INDEXES, columns=["index", "error"])
    for oid, index in indexes:
        try:
            with conn.transaction():
                run(
                    conn,
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(settings.amcheck_timeout_ms),),
                )
                run(conn, check, (oid, settings.amcheck_heapallindexed))
        except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
            result.note += f"[db-timeout] {index} not checked in time; "
        except (psycopg.errors.IndexCorrupted, psycopg.errors.DataCorrupted) as exc:
            message = str(exc).strip()
            result.findings.append(
                Finding("amcheck", index, f"index {index} is corrupt: {message}")
            )
            result.rows.append((index, message))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise CouldNotCheck(f"[db-privilege] {str(exc).strip()}") from None
    return _or_unchecked(result)


# -- migrations -------------------------------------------------------------------------------

# tool -> (history table to look for, query of (version, failed) rows)
HISTORY = {
    "supabase": (
        "supabase_migrations.schema_migrations",
        "SELECT version::text, false FROM supabase_migrations.schema_migrations",
    ),
    "flyway": (
        "flyway_schema_history",
        "SELECT version::text, NOT success FROM flyway_schema_history WHERE version IS NOT NULL",
    ),
    "prisma": (
        "_prisma_migrations",
        "SELECT migration_name, finished_at IS NULL FROM _prisma_migrations"
        " WHERE rolled_back_at IS NULL",
    ),
    "golang-migrate": ("schema_migrations", "SELECT version::text, dirty FROM schema_migrations"),
    "alembic": ("alembic_version", "SELECT version_num, false FROM alembic_version"),
    "django": ("django_migrations", "SELECT app || '.' || name, false FROM django_migrations"),
}
# Tools whose table holds only the current version, not the whole history.
SINGLE_VERSION = ("golang-migrate", "alembic")


def migrations(conn: Any, settings: DbSuiteSettings, base: Path | None = None) -> RuleResult:
    """The database's migration history against the expected migrations."""
    tool = settings.migration_tool if settings.migration_tool != "auto" else _detect(conn)
    expected = expected_versions(settings, base, tool)
    if tool is None:
        if expected or settings.expected_latest:
            raise CouldNotCheck("[migrations-unknown] no migration history table was found")
        return RuleResult("migrations", note="no migration history table, and none expected")
    query = HISTORY[tool][1]
    _, rows = fetch(conn, query)
    findings, status = judge_migrations(tool, rows, expected, settings.expected_latest)
    detail = "; ".join(f.message for f in findings[:3]) or f"{len(rows)} applied"
    gate = Gate("db.migrations", float(len(findings)), 0.0, status, f"{tool}: {detail}")
    return RuleResult(
        "migrations", findings, query, ["version", "failed"], rows, [gate], tool, code="migrations"
    )


DETECT = """SELECT ARRAY(SELECT to_regclass(t) IS NOT NULL
             FROM unnest(%s::text[]) WITH ORDINALITY u(t, o) ORDER BY o),
  EXISTS (SELECT 1 FROM information_schema.columns
          WHERE table_name = 'schema_migrations' AND column_name = 'dirty')"""


def _detect(conn: Any) -> str | None:
    """The first tool (in HISTORY's order) whose history table exists."""
    names = list(HISTORY)
    _, rows = fetch(conn, DETECT, ([HISTORY[name][0] for name in names],))
    exists, dirty_column = rows[0]
    found = dict(zip(names, exists, strict=True))
    found["golang-migrate"] = found["golang-migrate"] and dirty_column
    return next((name for name in names if found[name]), None)


def expected_versions(settings: DbSuiteSettings, base: Path | None, tool: str | None) -> set[str]:
    """Versions from ``expected_versions`` and from the file names in ``migrations_dir``."""
    versions = {_normal(v) for v in settings.expected_versions}
    if settings.migrations_dir:
        folder = Path(settings.migrations_dir)
        folder = folder if folder.is_absolute() or base is None else base / folder
        if not folder.is_dir():
            raise CouldNotCheck(f"[migrations-dir] {folder} is not a directory")
        versions |= {
            _file_version(p.name, tool) for p in folder.iterdir() if not p.name.startswith(".")
        }
    return versions


def _file_version(name: str, tool: str | None) -> str:
    if tool == "prisma":
        return name  # prisma records the migration's folder name
    if tool == "flyway":
        return _normal(name.split("__", maxsplit=1)[0].lstrip("VvRr"))
    return _normal(re.split(r"[_.]", name, maxsplit=1)[0])


def _normal(version: str) -> str:
    return version.lstrip("0") or "0" if version.isdigit() else version


def judge_migrations(
    tool: str, rows: Sequence[tuple[Any, ...]], expected: set[str], latest: str | None
) -> tuple[list[Finding], str]:
    """Pending, failed and unknown migrations, and the gate status they call for."""
    applied = {_normal(str(version)) for version, _ in rows}
    failed = sorted(_normal(str(version)) for version, bad in rows if bad)
    findings = [Finding("migration_failed", v, f"migration {v} failed or is dirty") for v in failed]
    pending: list[str] = []
    unknown: list[str] = []
    if tool in SINGLE_VERSION:
        current = next(iter(applied), None)
        if expected and current is not None:
            pending = sorted(v for v in expected if _key(v) > _key(current))
            unknown = [] if current in expected else [current]
        if latest and current != _normal(latest):
            pending = sorted({*pending, _normal(latest)})
    else:
        pending = sorted(expected - applied, key=_key)
        unknown = sorted(applied - expected, key=_key) if expected else []
        if latest and _normal(latest) not in applied:
            pending = sorted({*pending, _normal(latest)}, key=_key)
    findings += [Finding("migration_pending", v, f"migration {v} is not applied") for v in pending]
    findings += [
        Finding("migration_unknown", v, f"migration {v} was applied out of band") for v in unknown
    ]
    status = "rollback" if failed or pending else "hold" if unknown else "pass"
    return findings, status


def _key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)
