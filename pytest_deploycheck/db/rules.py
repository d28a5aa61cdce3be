"""The database checks that read the catalog and the server's statistics: one query each and a
pure judgement of its rows. Every rule only reads; a lock or statement timeout means the rule
could not check, never that it passed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import Finding, Gate, grade
from pytest_deploycheck.core.redact import sql_masked
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import Params, Row, RuleResult, fetch

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection

Rule = Callable[["Connection", DbSuiteSettings], RuleResult]


def connectivity(conn: Connection, settings: DbSuiteSettings) -> Result:
    """The session is read-only, on PostgreSQL 12 or later, in recovery only when expected."""
    [row] = fetch(
        conn,
        "SELECT current_setting('server_version_num')::int AS version_num,"
        " pg_is_in_recovery() AS in_recovery,"
        " current_setting('transaction_read_only') AS read_only",
    )
    version, recovery = row["version_num"], row["in_recovery"]
    result = Result()  # the first unmet condition is the one reported
    read_only = row["read_only"] == "on"
    result.require(read_only, "db-not-read-only", "the check session is not read-only")
    result.require(version >= 120000, "db-version", f"PostgreSQL {version} is older than 12")
    result.require(
        recovery == settings.expect_replica,
        "db-recovery",
        f"server in recovery is {recovery}, expected {settings.expect_replica}",
    )
    return result


def _simple(rule: str, query: str, name: Callable[[Row], tuple[str, str]]) -> Rule:
    """A rule where every row is one finding: ``name(row)`` gives (object, message)."""

    def check(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
        rows = fetch(conn, query)
        return RuleResult(rule, [Finding(rule, *name(row)) for row in rows], query, rows)

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
    lambda r: (
        r["index"],
        f"index {r['index']} on {r['table_name']} is INVALID (a failed concurrent build?)",
    ),
)

not_valid_constraints = _simple(
    "not_valid_constraint",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS table_name,
       quote_ident(con.conname) AS constraint_name,
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT con.convalidated
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1, 2""",
    lambda r: (
        f"{r['table_name']}.{r['constraint_name']}",
        f"constraint {r['constraint_name']} on {r['table_name']} is NOT VALID",
    ),
)

disabled_triggers = _simple(
    "disabled_trigger",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table_name,
       quote_ident(tg.tgname) AS trigger_name
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND tg.tgenabled = 'D'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1, 2""",
    lambda r: (
        f"{r['table_name']}.{r['trigger_name']}",
        f"trigger {r['trigger_name']} on {r['table_name']} is disabled",
    ),
)

LONG_QUERIES = """SELECT pid, datname, usename, application_name, state,
       round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND datname = current_database()
  AND state = 'active' AND now() - query_start > make_interval(secs => %s)
ORDER BY seconds DESC"""

IDLE_IN_TRANSACTION = """SELECT pid, datname, usename, application_name, state,
       round(extract(epoch FROM now() - state_change)::numeric, 1) AS seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND datname = current_database() AND state LIKE 'idle in transaction%%'
  AND (now() - state_change > make_interval(secs => %s)
       OR pid IN (SELECT unnest(pg_blocking_pids(w.pid)) FROM pg_stat_activity w
                  WHERE w.datname = current_database()))
ORDER BY seconds DESC"""


def long_queries(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Queries in the target's database running longer than ``long_query_s`` (the runbook's
    five minutes). Like the other session rules, other databases of a shared server are
    another application's business, not this deployment's."""
    return _sessions(
        conn, "long_running_query", LONG_QUERIES, settings.long_query_s, "has been running"
    )


def idle_in_transaction(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Sessions idle inside an open transaction longer than ``idle_in_transaction_s``, and at
    any age those that hold a lock another session waits on."""
    return _sessions(
        conn,
        "idle_in_transaction",
        IDLE_IN_TRANSACTION,
        settings.idle_in_transaction_s,
        "is idle in a transaction since",
    )


def _activity(conn: Connection, query: str, params: Params = None) -> list[Row]:
    """Sessions from ``pg_stat_activity``, the text of each one's query with its literals
    masked: what another session runs may hold a password."""
    rows = fetch(conn, query, params)
    for row in rows:
        row["query"] = sql_masked(row["query"] or "")
    return rows


def _sessions(conn: Connection, rule: str, query: str, seconds: float, what: str) -> RuleResult:
    rows = _activity(conn, query, (seconds,))
    findings = [
        Finding(
            rule,
            f"pid {r['pid']} ({r['application_name'] or r['usename']})",
            f"session {r['pid']} on {r['datname']} {what} {r['seconds']} s",
        )
        for r in rows
    ]
    return RuleResult(rule, findings, query, rows)


BLOCKED = """SELECT pid, datname, application_name, pg_blocking_pids(pid) AS blocked_by,
       wait_event_type, round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0
ORDER BY seconds DESC"""
HOLDERS = """SELECT b.pid, b.datname, coalesce(nullif(b.application_name, ''), b.usename) AS name,
       b.state, round(extract(epoch FROM now() - b.xact_start)::numeric, 1) AS seconds,
       array_agg(w.pid ORDER BY w.pid) AS waiting
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS holder(pid)
JOIN pg_stat_activity b ON b.pid = holder.pid
WHERE w.datname = current_database()
GROUP BY b.pid, b.datname, b.application_name, b.usename, b.state, b.xact_start
ORDER BY seconds DESC"""


def blocked_sessions(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Sessions waiting for a lock another session holds, and the holders, named whatever
    their age: an idle transaction that blocks others is the cause, not a bystander."""
    rows = _activity(conn, BLOCKED)
    findings = [
        Finding(
            "lock_holder",
            f"pid {h['pid']} ({h['name']})",
            f"session {h['pid']} ({h['name']}) on {h['datname']}, {h['state']}, its transaction"
            f" open for {h['seconds']} s, holds a lock that {list(h['waiting'])} wait for",
        )
        for h in fetch(conn, HOLDERS)
    ]
    findings += [
        Finding(
            "blocked_session",
            f"pid {r['pid']} ({r['application_name']})",
            f"session {r['pid']} on {r['datname']} is blocked by {r['blocked_by']}"
            f" for {r['seconds']} s",
        )
        for r in rows
    ]
    return RuleResult("blocked_session", findings, BLOCKED, rows)


CONNECTIONS = """SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
  current_setting('max_connections')::int
    - current_setting('superuser_reserved_connections')::int AS available"""


def connections(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Connections in use against those available (``max_connections`` less the reserved)."""
    rows = fetch(conn, CONNECTIONS)
    used, available = rows[0]["used"], rows[0]["available"]
    ratio = used / max(available, 1)
    status, threshold = grade(ratio, settings.connections_hold, settings.connections_rollback)
    detail = f"{used} of {available} connections in use"
    gate = Gate("db.connections", round(ratio, 4), threshold, status, detail, unit="ratio")
    findings = [] if status == "pass" else [Finding("connection_saturation", "server", detail)]
    return RuleResult("connection_saturation", findings, CONNECTIONS, rows, [gate])


SEQUENCES = """WITH feeds AS (
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


def sequences(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """How close each sequence is to the largest value the column it feeds can hold."""
    rows = fetch(conn, SEQUENCES)
    for row in rows:
        row["used"] = round(float(row["last_value"]) / float(row["limit_value"]), 4)
    rows.sort(key=lambda row: row["used"], reverse=True)
    result = RuleResult("sequence_exhaustion", query=SEQUENCES, rows=rows)
    for row in rows:
        name, used = row["sequence"], row["used"]
        status, threshold = grade(
            used, settings.sequence_warn, settings.sequence_critical, reaching=True
        )
        if status == "pass":
            continue
        detail = (
            f"{name} at {row['last_value']} of {row['limit_value']} ({used:.1%})"
            f" feeding {row['feeds'] or 'no column'}"
        )
        result.gates.append(
            Gate(f"db.sequence {name}", used, threshold, status, detail, unit="ratio")
        )
        result.findings.append(Finding("sequence_exhaustion", name, detail))
    return result


WRAPAROUND = """SELECT datname, age(datfrozenxid) AS xid_age,
  current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age,
  EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'
          AND query LIKE '%(to prevent wraparound)') AS freezing
FROM pg_database WHERE datallowconn ORDER BY 2 DESC"""


def wraparound(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Transaction-ID age of the oldest database, judged by :func:`judge_wraparound`."""
    rows = fetch(conn, WRAPAROUND)
    status, threshold, detail = judge_wraparound(rows[0], settings)
    gate = Gate("db.xid_age", float(rows[0]["xid_age"]), threshold, status, detail, unit="xids")
    findings = [] if status == "pass" else [Finding("xid_wraparound", rows[0]["datname"], detail)]
    return RuleResult("xid_wraparound", findings, WRAPAROUND, rows, [gate])


def judge_wraparound(row: Mapping[str, Any], settings: DbSuiteSettings) -> tuple[str, float, str]:
    """Past ``autovacuum_freeze_max_age`` vacuum is not keeping up (HOLD, as past
    ``wraparound_warn``) — unless an anti-wraparound autovacuum is at work, which on a large
    database takes a while: then only ``wraparound_warn`` holds. Past ``wraparound_critical``,
    close to the hard limit where writes stop: ROLLBACK."""
    age, freeze_max = row["xid_age"], row["freeze_max_age"]
    hold = (
        settings.wraparound_warn if row["freezing"] else min(settings.wraparound_warn, freeze_max)
    )
    status, threshold = grade(age, hold, settings.wraparound_critical, reaching=True)
    detail = f"oldest: {row['datname']} at {age} transactions"
    if age >= freeze_max:
        detail += f", past autovacuum_freeze_max_age ({freeze_max}): " + (
            "an anti-wraparound autovacuum is at work"
            if row["freezing"]
            else "vacuum is not keeping up (anti-wraparound vacuums should have frozen it)"
        )
    return status, float(threshold), detail


REPLICATION = """SELECT application_name, client_addr::text AS client_addr, state,
       extract(epoch FROM replay_lag)::float AS replay_lag_s FROM pg_stat_replication"""


def replication_lag(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Replay lag of each replica; quiet when there are none."""
    rows = fetch(conn, REPLICATION)
    findings = judge_replication(rows, settings)
    return RuleResult(
        "replication_lag", findings, REPLICATION, rows, note="" if rows else "no replicas"
    )


def judge_replication(
    rows: Sequence[Mapping[str, Any]], settings: DbSuiteSettings
) -> list[Finding]:
    """Replicas that lag beyond ``replication_lag_s`` or are not streaming."""
    findings = []
    for row in rows:
        replica = f"{row['application_name'] or 'replica'} ({row['client_addr']})"
        lag, state = row["replay_lag_s"], row["state"]
        if state != "streaming":
            message = f"replica {replica} is {state}, not streaming"
        elif lag is not None and lag > settings.replication_lag_s:
            message = f"replica {replica} replays {lag:.0f} s behind"
        else:
            continue
        findings.append(Finding("replication_lag", replica, message))
    return findings


ARCHIVER = """SELECT current_setting('archive_mode') AS archive_mode, archived_count,
       last_archived_wal,
       extract(epoch FROM now() - last_archived_time)::float AS archived_ago_s, failed_count,
       last_failed_wal, last_failed_time > coalesce(last_archived_time, '-infinity') AS failing
FROM pg_stat_archiver"""


def wal_archiving(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """WAL archiver failures and the age of the last archived segment, when archiving is on."""
    rows = fetch(conn, ARCHIVER)
    return RuleResult("wal_archiving", judge_archiver(rows[0], settings), ARCHIVER, rows)


def judge_archiver(row: Mapping[str, Any], settings: DbSuiteSettings) -> list[Finding]:
    """Archiving that fails, or that has not archived a segment for ``archive_age_s``."""
    if row["archive_mode"] == "off":
        return []
    if row["failing"]:
        wal = str(row["last_failed_wal"])
        message = f"WAL archiving fails ({row['failed_count']} failures, latest {wal})"
        return [Finding("wal_archiving", wal, message)]
    ago = row["archived_ago_s"]
    if row["archived_count"] and ago is not None and ago > settings.archive_age_s:
        return [Finding("wal_archiving", "archiver", f"no WAL segment archived for {ago:.0f} s")]
    return []
