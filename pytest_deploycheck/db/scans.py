"""The database checks that read data: one bounded scan per constraint or index, each in a
savepoint under its own time limit, so one slow table spoils nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import CouldNotCheck, Finding
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import Row, RuleResult, deadline, deparsed, fetch, run

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

FOREIGN_KEYS = """SELECT quote_ident(con.conname) AS constraint_name,
  quote_ident(cn.nspname) || '.' || quote_ident(c.relname) AS child,
  quote_ident(pn.nspname) || '.' || quote_ident(p.relname) AS parent,
  cn.nspname AS child_schema, c.relname AS child_table,
  pn.nspname AS parent_schema, p.relname AS parent_table,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord)
    AS columns,
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord)
    AS keys
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 2, 1"""


def fk_orphans(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Rows whose foreign key points nowhere, looked for one constraint at a time, bounded."""
    result = RuleResult("fk_orphan", query=FOREIGN_KEYS)
    for fk in fetch(conn, FOREIGN_KEYS):
        name, child, parent = fk["constraint_name"], fk["child"], fk["parent"]
        scan = _orphans(fk, settings.scan_limit)
        rows = bounded_scan(conn, scan, settings.scan_timeout_ms, result, f"{child}.{name}")
        if rows:
            count = _count(rows, settings.scan_limit)
            message = f"{count} rows of {child} point to no row of {parent} ({name})"
            result.findings.append(Finding("fk_orphan", f"{child}.{name}", message))
            result.rows += [
                {"constraint": name, "table": child, "key": ", ".join(map(str, row.values()))}
                for row in rows[: settings.sample_rows]
            ]
    return _or_unchecked(result)


def _count(rows: list[Row], limit: int) -> str:
    """How many rows a scan found: ``1000+`` when it stopped at its limit."""
    return f"{len(rows)}+" if len(rows) >= limit else str(len(rows))


def _orphans(fk: Row, limit: int) -> sql.Composed:
    """The child rows of one foreign key whose key is set but matches no parent row."""
    from psycopg import sql

    columns = [sql.Identifier(c) for c in fk["columns"]]
    return sql.SQL(
        "SELECT {columns} FROM {child} c WHERE {not_null} AND NOT EXISTS"
        " (SELECT 1 FROM {parent} p WHERE {match}) LIMIT {limit}"
    ).format(
        columns=sql.SQL(", ").join(sql.SQL("c.") + c for c in columns),
        child=sql.Identifier(fk["child_schema"], fk["child_table"]),
        parent=sql.Identifier(fk["parent_schema"], fk["parent_table"]),
        not_null=sql.SQL(" AND ").join(
            sql.SQL("c.") + c + sql.SQL(" IS NOT NULL") for c in columns
        ),
        match=sql.SQL(" AND ").join(
            sql.SQL("p.") + sql.Identifier(k) + sql.SQL(" = c.") + c
            for k, c in zip(fk["keys"], columns, strict=True)
        ),
        limit=sql.Literal(limit),
    )


CHECK_CONSTRAINTS = """SELECT quote_ident(con.conname) AS constraint_name,
  quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS table_name,
  tn.nspname AS schema, t.relname AS relation,
  pg_get_expr(con.conbin, con.conrelid) AS expression
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE con.contype = 'c'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 2, 1"""


def check_violations(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Rows that break a CHECK constraint (loaded with checks off, or NOT VALID), bounded."""
    from psycopg import sql

    result = RuleResult("check_violation", query=CHECK_CONSTRAINTS)
    for check in fetch(conn, CHECK_CONSTRAINTS):
        name, table = check["constraint_name"], check["table_name"]
        scan = sql.SQL("SELECT ctid::text FROM {table} WHERE {expr} IS FALSE LIMIT {limit}").format(
            table=sql.Identifier(check["schema"], check["relation"]),
            expr=deparsed(check["expression"]),
            limit=sql.Literal(settings.scan_limit),
        )
        rows = bounded_scan(conn, scan, settings.scan_timeout_ms, result, f"{table}.{name}")
        if rows:
            message = f"{_count(rows, settings.scan_limit)} rows of {table} break CHECK {name}"
            result.findings.append(Finding("check_violation", f"{table}.{name}", message))
            result.rows += [
                {"constraint": name, "table": table, "ctid": row["ctid"]}
                for row in rows[: settings.sample_rows]
            ]
    return _or_unchecked(result)


BTREE_INDEXES = """SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  AND pg_relation_size(c.oid) <= %s * 1024 * 1024 ORDER BY 2"""


def amcheck(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """``bt_index_check`` (a read lock only) on each B-tree index up to ``amcheck_max_mb``."""
    installed = fetch(
        conn,
        "SELECT n.nspname AS schema FROM pg_extension e"
        " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'",
    )
    if not installed:
        return RuleResult("amcheck", note="the amcheck extension is not installed")
    import psycopg
    from psycopg import sql

    # In the extension's own schema, which need not be on the search path (Supabase's
    # ``extensions``).
    function = sql.Identifier(installed[0]["schema"], "bt_index_check")
    check = sql.SQL("SELECT {}(%s::oid::regclass, %s)").format(function)
    result = RuleResult("amcheck", query=BTREE_INDEXES)
    for row in fetch(conn, BTREE_INDEXES, (settings.amcheck_max_mb,)):
        index = row["index"]
        try:
            with deadline(conn, settings.amcheck_timeout_ms), conn.transaction():
                run(
                    conn,
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(settings.amcheck_timeout_ms),),
                )
                run(conn, check, (row["oid"], settings.amcheck_heapallindexed))
        except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
            result.note += f"[db-timeout] {index} not checked in time; "
        except (psycopg.errors.IndexCorrupted, psycopg.errors.DataCorrupted) as exc:
            message = str(exc).strip()
            result.findings.append(
                Finding("amcheck", index, f"index {index} is corrupt: {message}")
            )
            result.rows.append({"index": index, "error": message})
        except psycopg.errors.InsufficientPrivilege as exc:
            raise CouldNotCheck(f"[db-privilege] {str(exc).strip()}") from None
    return _or_unchecked(result)


def bounded_scan(
    conn: Connection, scan: sql.Composed, timeout_ms: int, result: RuleResult, what: str
) -> list[Row]:
    """One scan under its own time limit, in a savepoint so a timeout spoils nothing else.

    Row Level Security is off for the scan: where it would hide rows from the checking role,
    the scan fails instead of passing on the rows it was allowed to see.
    """
    import psycopg

    try:
        with deadline(conn, timeout_ms), conn.transaction():
            run(
                conn,
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('row_security', 'off', true)",
                (str(timeout_ms),),
            )
            return run(conn, scan).fetchall()
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
        result.note += f"[db-timeout] {what} not scanned within {timeout_ms} ms; "
    except psycopg.errors.InsufficientPrivilege as exc:
        result.note += f"[db-privilege] {what} not scanned: {str(exc).strip()}; "
    return []


def _or_unchecked(result: RuleResult) -> RuleResult:
    """Findings stand; without any, a scan that could not run means the rule could not check."""
    if result.note and not result.findings:
        raise CouldNotCheck(result.note.rstrip("; "))
    return result
