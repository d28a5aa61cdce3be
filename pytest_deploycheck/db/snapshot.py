"""A snapshot of what a deployment may change in the database, taken read-only: schema (tables
and their columns, constraints, indexes, views, functions, RLS policies), row counts, sequence
positions and, where ``pg_stat_statements`` is installed, per-query statistics.

Taken before the deploy (the ``pre_deploy`` phase) and again after it; ``db.changes`` compares
the two. Everything is JSON: the snapshot travels in the pre-deploy sign-off.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.redact import sql_masked
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.db.scans import bounded_scan
from pytest_deploycheck.net.postgres import RuleResult, fetch

if TYPE_CHECKING:
    from pytest_deploycheck.db.settings import DbSuiteSettings
    from pytest_deploycheck.net.postgres import Connection, Row

# Schemas a hosting platform manages (Supabase's): its upgrades are not the deployment's.
PLATFORM_SCHEMAS = (
    "auth",
    "storage",
    "realtime",
    "extensions",
    "graphql",
    "graphql_public",
    "pgbouncer",
    "pgsodium",
    "pgsodium_masks",
    "vault",
    "net",
    "supabase_functions",
    "supabase_migrations",
    "cron",
)
# The schemas in scope: the queries below keep to them (%(scope)s) and leave out what
# extensions own.
SCOPE = """SELECT array_agg(n.oid) AS scope FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  AND (CASE WHEN cardinality(%(schemas)s::text[]) > 0 THEN n.nspname = ANY(%(schemas)s::text[])
       ELSE NOT n.nspname = ANY(%(platform)s::text[]) END)"""
COLUMNS = """SELECT c.oid, n.nspname AS schema, c.relname,
  quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table,
  c.reltuples::bigint AS estimate, s.seq_scan, a.attnum, a.attname AS column,
  format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
  (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.oid = ANY(%(scope)s::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 4, a.attnum"""
CONSTRAINTS = """SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS table,
  quote_ident(k.conname) AS name, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.oid = ANY(%(scope)s::oid[]) ORDER BY 1, 2"""
INDEXES = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index,
  pg_get_indexdef(c.oid) AS definition
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.oid = ANY(%(scope)s::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = i.indrelid AND d.deptype = 'e')
ORDER BY 1"""
VIEWS = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS view,
  md5(pg_get_viewdef(c.oid)) AS definition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.oid = ANY(%(scope)s::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1"""
FUNCTIONS = """SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
  || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS function,
  pg_get_function_result(p.oid) AS result
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND n.oid = ANY(%(scope)s::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1"""
POLICIES = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table,
  quote_ident(p.polname) AS name, p.polcmd::text AS command, p.polpermissive AS permissive,
  pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS check
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.oid = ANY(%(scope)s::oid[]) ORDER BY 1, 2"""
SEQUENCES = """SELECT quote_ident(n.nspname) || '.' || quote_ident(s.sequencename) AS sequence,
  s.last_value
FROM pg_sequences s JOIN pg_namespace n ON n.nspname = s.schemaname
WHERE s.last_value IS NOT NULL AND n.oid = ANY(%(scope)s::oid[]) ORDER BY 1"""
STATEMENTS_EXTENSION = """SELECT n.nspname AS schema FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'"""


def take(conn: Connection, settings: DbSuiteSettings) -> tuple[dict[str, Any], RuleResult]:
    """The snapshot, and what could not be taken (the note of the result)."""
    names = {"schemas": list(settings.snapshot_schemas), "platform": list(PLATFORM_SCHEMAS)}
    scope = {"scope": fetch(conn, SCOPE, names)[0]["scope"] or []}

    def rows(query: str) -> list[Row]:
        return fetch(conn, query, scope)

    result = RuleResult("snapshot")
    snapshot: dict[str, Any] = {"taken_at": time.time(), "tables": _tables(rows(COLUMNS))}
    for row in rows(CONSTRAINTS):
        snapshot["tables"].get(row["table"], {}).setdefault("constraints", {})[row["name"]] = row[
            "definition"
        ]
    snapshot["indexes"] = {r["index"]: r["definition"] for r in rows(INDEXES)}
    snapshot["views"] = {r["view"]: r["definition"] for r in rows(VIEWS)}
    snapshot["functions"] = {r["function"]: r["result"] for r in rows(FUNCTIONS)}
    snapshot["policies"] = {
        f"{r['table']} {r['name']}": [r["command"], r["permissive"], r["using"], r["check"]]
        for r in rows(POLICIES)
    }
    snapshot["sequences"] = {r["sequence"]: int(r["last_value"]) for r in rows(SEQUENCES)}
    snapshot["counts"] = _counts(conn, settings, snapshot["tables"], result)
    snapshot["statements"] = statements(conn)
    return snapshot, result


def judged(snapshot: dict[str, Any], taken: RuleResult) -> Result:
    """The snapshot as a check's result: its data, and a failure when part of it is missing."""
    result = Result(data={"snapshot": snapshot})
    if taken.note:
        result.fail("snapshot-incomplete", f"the snapshot is incomplete: {taken.note.rstrip('; ')}")
    return result


def _tables(rows: list[Row]) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for row in rows:
        table = tables.setdefault(
            row["table"],
            {
                "oid": row["oid"],
                "name": [row["schema"], row["relname"]],
                "estimate": max(int(row["estimate"]), 0),
                "seq_scan": row["seq_scan"],
                "columns": {},
            },
        )
        table["columns"][row["column"]] = {
            "num": row["attnum"],
            "type": row["type"],
            "not_null": row["not_null"],
            "default": row["has_default"],
        }
    return tables


def _counts(
    conn: Connection, settings: DbSuiteSettings, tables: dict[str, Any], result: RuleResult
) -> dict[str, int]:
    """Exact row counts of the critical tables, each within ``count_timeout_ms``."""
    from psycopg import sql

    counts = {}
    for name in settings.critical_tables:
        table = _find(name, tables)
        if table is None:
            result.note += f"critical table {name} not found; "
            continue
        query = sql.SQL("SELECT count(*) AS n FROM {}").format(
            sql.Identifier(*tables[table]["name"])
        )
        rows = bounded_scan(conn, query, settings.count_timeout_ms, result, f"count of {table}")
        if rows:
            counts[table] = int(rows[0]["n"])
    return counts


def statements(conn: Connection) -> dict[str, Any] | None:
    """Calls and total time per query (pg_stat_statements), by its text normalized and every
    literal masked — pg_stat_statements replaces the literals of plain queries by ``$1``, not
    those of utility statements (``ALTER ROLE ... PASSWORD '...'``) — with its query ids.
    None where the extension is not installed or not readable."""
    import psycopg
    from psycopg import sql

    installed = fetch(conn, STATEMENTS_EXTENSION)
    if not installed:
        return None
    query = sql.SQL(
        "SELECT to_jsonb(s) AS row FROM {}.pg_stat_statements s"
        " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).format(sql.Identifier(installed[0]["schema"]))
    try:
        with conn.transaction():
            rows = fetch(conn, query)
    except psycopg.errors.ObjectNotInPrerequisiteState:  # not in shared_preload_libraries
        return None
    found: dict[str, Any] = {}
    for row in rows:  # one query may have several ids (its parameters' types, its users)
        stats = row["row"]
        total = stats.get("total_exec_time", stats.get("total_time", 0.0))
        text = sql_masked(" ".join(str(stats["query"]).split()))
        entry = found.setdefault(text, {"queryids": [], "calls": 0, "total_ms": 0.0})
        entry["queryids"] = sorted({*entry["queryids"], str(stats.get("queryid"))})
        entry["calls"] += int(stats["calls"])
        entry["total_ms"] += float(total)
    return found


def _find(name: str, tables: dict[str, Any]) -> str | None:
    """A table of the snapshot by its name as the config writes it (``public.orders`` or
    ``orders``)."""
    if name in tables:
        return name
    quoted = [t for t in tables if t.split(".", 1)[1].strip('"') == name.rsplit(".", 1)[-1]]
    return quoted[0] if len(quoted) == 1 else None
