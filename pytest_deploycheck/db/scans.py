"""The database checks that read data: one bounded scan per constraint or index, each in a
savepoint under its own time limit, so one slow table spoils nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import CouldNotCheck, Finding
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import (
    FIRST_NORMAL_OID,
    Row,
    RuleResult,
    deadline,
    deparsed,
    expression_calls,
    fetch,
    operator,
    run,
)

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
    AS keys,
  ARRAY(SELECT jsonb_build_array(opn.nspname, op.oprname)
        FROM unnest(con.conpfeqop) WITH ORDINALITY e(oid, ord)
        JOIN pg_operator op ON op.oid = e.oid JOIN pg_namespace opn ON opn.oid = op.oprnamespace
        ORDER BY e.ord) AS equals
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 2, 1"""


def fk_orphans(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Rows whose foreign key points nowhere, looked for one constraint at a time, bounded."""
    pin_search_path(conn)
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
    """The child rows of one foreign key whose key is set but matches no parent row, compared
    with the key's own equality operators (named in full: none a tenant made can stand in)."""
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
            sql.SQL("p.") + sql.Identifier(k) + operator(*equals) + sql.SQL("c.") + c
            for k, c, equals in zip(fk["keys"], columns, fk["equals"], strict=True)
        ),
        limit=sql.Literal(limit),
    )


CHECK_CONSTRAINTS = """SELECT quote_ident(con.conname) AS constraint_name,
  quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS table_name,
  tn.nspname AS schema, t.relname AS relation,
  pg_get_expr(con.conbin, con.conrelid) AS expression, con.conbin::text AS tree,
  pg_get_userbyid(t.relowner) AS owner, pg_has_role(t.relowner, 'MEMBER') AS may_be_owner
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE con.contype = 'c'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 2, 1"""
# What an expression calls: functions, and operators (their functions), by oid; written
# once per object: the built-in ones (below FirstNormalObjectId) that change nothing are safe.
CALLED = """SELECT 'f' AS kind, f.oid::bigint AS oid, f.oid::regprocedure::text AS name,
  f.oid < %(first_normal)s AND f.provolatile <> 'v' AS safe
FROM pg_proc f WHERE f.oid = ANY(%(functions)s::oid[])
UNION ALL
SELECT 'o', o.oid::bigint, o.oid::regoperator::text,
  f.oid < %(first_normal)s AND f.provolatile <> 'v'
FROM pg_operator o JOIN pg_proc f ON f.oid = o.oprcode WHERE o.oid = ANY(%(operators)s::oid[])"""
NOT_EVALUATED_CODE = "check-not-evaluated"


def unsafe_calls(conn: Connection, trees: list[str]) -> list[list[str]]:
    """For each expression, what it would run that is not PostgreSQL's own or that may change
    something (a volatile function: ``nextval``, ``dblink_exec``): the target's code, which
    must never run with the checking role's rights."""
    found = [expression_calls(tree) for tree in trees]
    functions = sorted({oid for f, _, _ in found for oid in f})
    operators = sorted({oid for _, o, _ in found for oid in o})
    rows = fetch(
        conn,
        CALLED,
        {"functions": functions, "operators": operators, "first_normal": FIRST_NORMAL_OID},
    )
    unsafe = {(row["kind"], row["oid"]): row["name"] for row in rows if not row["safe"]}
    return [
        [
            *(unsafe[("f", oid)] for oid in sorted(f) if ("f", oid) in unsafe),
            *(f"operator {unsafe[('o', oid)]}" for oid in sorted(o) if ("o", oid) in unsafe),
            *(["a domain's own CHECK constraints"] if domain else []),
        ]
        for f, o, domain in found
    ]


def check_violations(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """Rows that break a CHECK constraint (loaded with checks off, or NOT VALID), bounded.

    A constraint is evaluated by running its expression; one that calls the target's own code
    runs it only as the table's owner (when the checking role may become it), never with the
    checking role's rights; otherwise it is not evaluated, and says so."""
    from psycopg import sql

    search_path = pin_search_path(conn)
    result = RuleResult("check_violation", query=CHECK_CONSTRAINTS)
    checks = fetch(conn, CHECK_CONSTRAINTS)
    for check, unsafe in zip(checks, unsafe_calls(conn, [c["tree"] for c in checks]), strict=True):
        name, table = check["constraint_name"], check["table_name"]
        where = f"{table}.{name}"
        if unsafe and not check["may_be_owner"]:
            if where not in settings.unevaluated_checks:
                result.note += (
                    f"[{NOT_EVALUATED_CODE}] {where} calls {', '.join(unsafe)}: the target's code"
                    f" never runs with the checking role's rights, and it may not act as"
                    f" {check['owner']}, the table's owner; "
                )
            continue
        scan = sql.SQL("SELECT ctid::text FROM {table} WHERE {expr} IS FALSE LIMIT {limit}").format(
            table=sql.Identifier(check["schema"], check["relation"]),
            expr=deparsed(check["expression"]),
            limit=sql.Literal(settings.scan_limit),
        )
        owner = (check["owner"], search_path) if unsafe else None
        rows = bounded_scan(conn, scan, settings.scan_timeout_ms, result, where, owner)
        if rows:
            message = f"{_count(rows, settings.scan_limit)} rows of {table} break CHECK {name}"
            result.findings.append(Finding("check_violation", where, message))
            result.rows += [
                {"constraint": name, "table": table, "ctid": row["ctid"]}
                for row in rows[: settings.sample_rows]
            ]
    return _or_unchecked(result)


def pin_search_path(conn: Connection) -> str:
    """For the rest of the transaction, resolve names in ``pg_catalog`` only: an expression
    PostgreSQL deparses then names the target's functions and operators in full, and no
    object a tenant creates in ``public`` can stand in for a built-in one. Returns the search
    path it replaced, which the target's own code, run as its owner, expects."""
    [row] = fetch(
        conn,
        "SELECT current_setting('search_path') AS was,"
        " set_config('search_path', 'pg_catalog', true) AS now",
    )
    return str(row["was"])


BTREE_INDEXES = """SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index,
  concat(i.indexprs::text, ' ', i.indpred::text) AS tree,
  pg_get_userbyid(c.relowner) AS owner, pg_has_role(c.relowner, 'MEMBER') AS may_be_owner
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  AND pg_relation_size(c.oid) <= %s * 1024 * 1024 ORDER BY 2"""


def amcheck(conn: Connection, settings: DbSuiteSettings) -> RuleResult:
    """``bt_index_check`` (a read lock only) on each B-tree index up to ``amcheck_max_mb``.
    Matching every row with its entry evaluates the index's expressions: on an index whose
    expressions call the target's code, that is done as the index's owner (when the checking
    role may become it); otherwise only the index's own structure is checked."""
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
    indexes = fetch(conn, BTREE_INDEXES, (settings.amcheck_max_mb,))
    for row, unsafe in zip(indexes, unsafe_calls(conn, [i["tree"] for i in indexes]), strict=True):
        index = row["index"]
        try:
            with deadline(conn, settings.amcheck_timeout_ms), conn.transaction():
                as_owner = bool(unsafe) and row["may_be_owner"]
                run(
                    conn,
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('role', %s, true)",
                    (str(settings.amcheck_timeout_ms), row["owner"] if as_owner else "none"),
                )
                every_row = settings.amcheck_heapallindexed and (as_owner or not unsafe)
                run(conn, check, (row["oid"], every_row))
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
    conn: Connection,
    scan: sql.Composed,
    timeout_ms: int,
    result: RuleResult,
    what: str,
    owner: tuple[str, str] | None = None,
) -> list[Row]:
    """One scan under its own time limit, in a savepoint so a timeout spoils nothing else;
    as ``owner`` (the role that owns what it reads, and the search path its code expects)
    when given.

    Row Level Security is off for the scan: where it would hide rows from the checking role,
    the scan fails instead of passing on the rows it was allowed to see.
    """
    import psycopg

    try:
        with deadline(conn, timeout_ms), conn.transaction():
            run(
                conn,
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('row_security', 'off', true),"
                " set_config('role', %s, true), set_config('search_path', %s, true)",
                (str(timeout_ms), *(owner or ("none", "pg_catalog"))),
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
