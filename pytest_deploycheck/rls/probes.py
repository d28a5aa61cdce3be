"""Impersonation probes: as the API does — the role and the token's claims set the way PostgREST
sets them, inside transactions that are always rolled back — prove that users are kept apart."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import CouldNotCheck, Finding
from pytest_deploycheck.net.postgres import Row, RuleResult, fetch, run
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

OWNER_IN_POLICY = re.compile(r"\(?(\w+) = auth\.uid\(\)|auth\.uid\(\) = (\w+)")


def pick_users(conn: Connection, settings: RlsSettings) -> tuple[str, str]:
    """Users A and B: from the config, else the two oldest of ``auth.users`` (read-only)."""
    if settings.user_a and settings.user_b:
        return settings.user_a, settings.user_b
    rows = fetch(conn, "SELECT id::text AS id FROM auth.users ORDER BY created_at, id LIMIT 2")
    if len(rows) < 2:
        raise CouldNotCheck("[rls-no-users] need two users: set user_a and user_b in suites.rls")
    return rows[0]["id"], rows[1]["id"]


@dataclass(frozen=True)
class Table:
    """An exposed table: its name as PostgreSQL quotes it, its raw parts, and the column that
    holds the owning user's id (None when it has none)."""

    name: str
    schema: str
    relation: str
    owner: str | None

    def identifier(self) -> sql.Identifier:
        from psycopg import sql

        return sql.Identifier(self.schema, self.relation)

    def owner_identifier(self) -> sql.Identifier:
        from psycopg import sql

        assert self.owner is not None
        return sql.Identifier(self.owner)


EXPOSED_TABLES = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
  n.nspname AS schema, c.relname AS relation,
  ARRAY(SELECT coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
               coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
        FROM pg_policy p WHERE p.polrelid = c.oid) AS expressions,
  (SELECT a.attname::text FROM pg_constraint f
   JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = f.conkey[1]
   WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid = to_regclass('auth.users')
   LIMIT 1) AS fk_column
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) ORDER BY 1"""


def exposed_tables(conn: Connection, settings: RlsSettings, schemas: list[str]) -> list[Table]:
    """Each exposed table with its owner column: configured, from its policies, or its key to
    auth.users."""
    tables = []
    for row in fetch(conn, EXPOSED_TABLES, {"schemas": schemas}):
        owner = settings.owner_columns.get(row["name"])
        for expression in row["expressions"]:
            match = OWNER_IN_POLICY.search(expression)
            owner = owner or (match and (match.group(1) or match.group(2))) or None
        owner = owner or row["fk_column"]
        tables.append(Table(row["name"], row["schema"], row["relation"], owner))
    return tables


def _impersonation(role: str, user: str | None) -> sql.Composed:
    """What PostgREST does for a request: ``SET LOCAL ROLE`` and the token's claims, as the
    ``set_config(..., true)`` calls it makes."""
    from psycopg import sql

    claims = json.dumps({"role": role, **({"sub": user} if user else {})})
    return sql.SQL(
        "SELECT set_config('role', {}, true), set_config('request.jwt.claims', {}, true)"
    ).format(sql.Literal(role), sql.Literal(claims))


def _reproduce(
    conn: Connection, role: str, user: str | None, statement: sql.Composed, write: bool = False
) -> str:
    """The probe as statements a person can paste into psql: what was run."""
    steps = [_impersonation(role, user), statement]
    begin = "BEGIN READ WRITE" if write else "BEGIN"
    return "; ".join([begin, *(step.as_string(conn) for step in steps), "ROLLBACK;"])


def _probe(
    conn: Connection,
    role: str,
    user: str | None,
    statement: sql.Composed,
    settings: RlsSettings,
    write: bool = False,
) -> list[Row] | None:
    """Run ``statement`` as the API would for ``user``, in a transaction always rolled back
    (READ WRITE only for ``write``): the rows it read, or one ``{"rows": n}`` for the rows it
    changed; None when the role may not run it at all (no grant).

    The role is set before the statement runs, each step is one statement through the
    extended protocol, and the statement is composed from identifiers and literals only:
    nothing in a name can leave the role or the transaction.
    """
    import psycopg
    from psycopg import sql

    timeout = sql.SQL(", set_config('statement_timeout', {}, true)").format(
        sql.Literal(str(settings.probe_timeout_ms))
    )
    conn.rollback()
    conn.read_only = not write  # BEGIN READ WRITE or READ ONLY
    try:
        with conn.transaction(force_rollback=True):
            run(conn, _impersonation(role, user) + timeout)
            cursor = run(conn, statement)
            return cursor.fetchall() if cursor.description else [{"rows": cursor.rowcount}]
    except psycopg.errors.InsufficientPrivilege:
        return None
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
        raise CouldNotCheck(f"[db-timeout] {str(exc).strip()}") from None
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
        return None  # the row could not be made at all: no hole shown
    finally:
        conn.read_only = True


def read_probes(conn: Connection, settings: RlsSettings, schemas: list[str]) -> RuleResult:
    """Signed out, nothing that belongs to a user is readable; as A, none of B's rows are."""
    from psycopg import sql

    a, b = pick_users(conn, settings)
    result = RuleResult("rls_read_probes")
    for table in exposed_tables(conn, settings, schemas):
        if settings.is_public(table.name):
            continue
        anon_sql = sql.SQL("SELECT count(*) AS rows FROM {}").format(table.identifier())
        if table.owner:
            anon_sql += sql.SQL(" WHERE {} IS NOT NULL").format(table.owner_identifier())
        seen = _probe(conn, "anon", None, anon_sql, settings)
        if seen and seen[0]["rows"]:
            count, steps = seen[0]["rows"], _reproduce(conn, "anon", None, anon_sql)
            message = f"signed out, the API reads {count} rows of {table.name}. Reproduce: {steps}"
            result.findings.append(Finding("anon_reads_user_rows", table.name, message))
            result.rows.append(_probe_row(table, "anon", count, steps))
        count = _cross_user_rows(conn, settings, table, a, b)
        if count:
            shown = sql.SQL("SELECT * FROM {}").format(table.identifier())
            if table.owner:
                shown += sql.SQL(" WHERE {} = {}").format(table.owner_identifier(), sql.Literal(b))
            whose = f"that belong to user {b}" if table.owner else f"that user {b} reads too"
            steps = _reproduce(conn, "authenticated", a, shown)
            message = f"user {a} reads {count} rows of {table.name} {whose}. Reproduce: {steps}"
            result.findings.append(Finding("cross_user_read", table.name, message))
            result.rows.append(_probe_row(table, "authenticated A reads B", count, steps))
    return result


def _probe_row(table: Table, probe: str, rows: int, reproduce: str) -> Row:
    """A probe that found a hole, as a row of the evidence."""
    return {"table": table.name, "probe": probe, "rows": rows, "reproduce": reproduce}


def _cross_user_rows(conn: Connection, settings: RlsSettings, table: Table, a: str, b: str) -> int:
    from psycopg import sql

    if table.owner:
        count = sql.SQL("SELECT count(*) AS rows FROM {} WHERE {} = {}").format(
            table.identifier(), table.owner_identifier(), sql.Literal(b)
        )
        rows = _probe(conn, "authenticated", a, count, settings)
        return int(rows[0]["rows"]) if rows else 0
    # No owner column (a tenant's table): rows B sees that A sees too.
    every = sql.SQL("SELECT ctid::text FROM {}").format(table.identifier())
    theirs = {row["ctid"] for row in _probe(conn, "authenticated", b, every, settings) or []}
    mine = {row["ctid"] for row in _probe(conn, "authenticated", a, every, settings) or []}
    return len(theirs & mine)


def write_probes(conn: Connection, settings: RlsSettings, schemas: list[str]) -> RuleResult:
    """As A, inside rolled-back transactions: B's rows cannot be updated or deleted, and A
    cannot give their own rows to B."""
    a, b = pick_users(conn, settings)
    result = RuleResult("rls_write_probes")
    required = _required_columns(conn, schemas)
    for table in exposed_tables(conn, settings, schemas):
        if table.owner is None or settings.is_public(table.name):
            continue
        copied = [c for c in required.get(table.name, []) if c != table.owner]
        for code, (what, statement) in _write_statements(table, copied, a, b).items():
            changed = _probe(conn, "authenticated", a, statement, settings, write=True)
            if changed and changed[0]["rows"]:
                count = changed[0]["rows"]
                steps = _reproduce(conn, "authenticated", a, statement, write=True)
                message = (
                    f"user {a} could {what} on {table.name} ({count} rows). Reproduce: {steps}"
                )
                result.findings.append(Finding(code, table.name, message))
                result.rows.append(_probe_row(table, code, count, steps))
    return result


# What user A must not be able to do to others' rows, in the order _write_statements makes them.
WRITE_PROBE_CODES = (
    "cross_user_update_others",
    "cross_user_delete_others",
    "cross_user_reassign_own",
    "cross_user_insert_as_other",
)


def _write_statements(
    table: Table, copied: list[str], a: str, b: str
) -> dict[str, tuple[str, sql.Composed]]:
    """The writes user A must not be able to make on ``table``: code -> (what, statement)."""
    from psycopg import sql

    statements = (
        sql.SQL("UPDATE {t} SET {o} = {o} WHERE {o} = {b}"),
        sql.SQL("DELETE FROM {t} WHERE {o} = {b}"),
        sql.SQL("UPDATE {t} SET {o} = {b} WHERE {o} = {a}"),
        # A copy of one of A's rows, made out as B's.
        sql.SQL("INSERT INTO {t} ({f}{o}) SELECT {f}{b} FROM {t} WHERE {o} = {a} LIMIT 1"),
    )
    parts = {
        "t": table.identifier(),
        "o": table.owner_identifier(),
        "a": sql.Literal(a),
        "b": sql.Literal(b),
        "f": sql.SQL("").join(sql.Identifier(c) + sql.SQL(", ") for c in copied),
    }
    return {
        code: (code.removeprefix("cross_user_").replace("_", " "), statement.format(**parts))
        for code, statement in zip(WRITE_PROBE_CODES, statements, strict=True)
    }


REQUIRED_COLUMNS = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table_name,
       array_agg(a.attname::text ORDER BY a.attnum) AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s)
  AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
GROUP BY 1"""


def _required_columns(conn: Connection, schemas: list[str]) -> dict[str, list[str]]:
    """Per exposed table, the columns an INSERT must give (NOT NULL, no default, not generated)."""
    rows = fetch(conn, REQUIRED_COLUMNS, {"schemas": schemas})
    return {row["table_name"]: list(row["columns"]) for row in rows}
