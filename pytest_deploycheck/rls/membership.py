"""Whose rows are whose, from the data rather than the policies: user A's rows of a user-owned
table are those its owner column gives A; A's tenants are those a membership table (keyed both
to ``auth.users`` and to the tenant) lists A in. The probes then ask each identity to read its
own rows — an identity that sees none of them is blind there — and count what it reads outside
them, whatever the policies say. Read by the checking role, which Row Level Security does not
bind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_deploycheck.net.postgres import fetch
from pytest_deploycheck.rls.evidence import Table
from pytest_deploycheck.rls.identities import Identity

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

Target = tuple[str, str, str]  # schema, relation, column a tenant key refers to
SIGNED_IN = ("user_a", "user_b")  # the identities that own rows
CHUNK = 50  # tables counted in one statement

# Tables keyed both to auth.users and to another table: who belongs to which tenant.
MEMBERSHIPS = """SELECT n.nspname AS schema, c.relname AS relation, ua.attname AS user_column,
  ta.attname AS tenant_column, tn.nspname AS target_schema, t.relname AS target_relation,
  tt.attname AS target_column
FROM pg_constraint u JOIN pg_constraint k ON k.conrelid = u.conrelid AND k.contype = 'f'
  AND k.confrelid <> u.confrelid AND cardinality(k.conkey) = 1
JOIN pg_class c ON c.oid = u.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute ua ON ua.attrelid = u.conrelid AND ua.attnum = u.conkey[1]
JOIN pg_attribute ta ON ta.attrelid = k.conrelid AND ta.attnum = k.conkey[1]
JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute tt ON tt.attrelid = k.confrelid AND tt.attnum = k.confkey[1]
WHERE u.contype = 'f' AND u.confrelid = to_regclass('auth.users') AND cardinality(u.conkey) = 1
ORDER BY 1, 2, 4"""


@dataclass
class Belonging:
    """Each signed-in identity's tenants, by the key they are named by (a target), and how
    many rows of each table are its own."""

    tenants: dict[Target, dict[str, list[str]]] = field(default_factory=dict)
    own: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> identity -> rows


def target(table: Table) -> Target | None:
    """What a table's tenant key names: the row it refers to, or, keyed by itself (a team's
    own id), the table."""
    if table.tenant is None:
        return None
    return table.keys.get(table.tenant) or (table.schema, table.relation, table.tenant)


def belonging(conn: Connection, tables: Sequence[Table], who: Mapping[str, Identity]) -> Belonging:
    """The tenants A and B belong to."""
    found = Belonging()
    memberships = fetch(conn, MEMBERSHIPS)
    for wanted in {t for t in map(target, tables) if t is not None}:
        rows = [m for m in memberships if _names(m) == wanted]
        if rows:
            found.tenants[wanted] = {name: _tenants(conn, rows, who[name]) for name in SIGNED_IN}
    return found


def count_own(
    conn: Connection, tables: Sequence[Table], who: Mapping[str, Identity], found: Belonging
) -> None:
    """How many rows of each of ``tables`` are A's and B's (one scan a table, a statement per
    chunk of tables), into ``found.own``."""
    from psycopg import sql

    for start in range(0, len(tables), CHUNK):
        chunk = tables[start : start + CHUNK]
        columns = [
            sql.SQL("(SELECT ARRAY[{}] FROM {}) AS {}").format(
                sql.SQL(", ").join(
                    sql.SQL("count(*) FILTER (WHERE {})").format(mine(t, who[name], found))
                    for name in SIGNED_IN
                ),
                t.identifier(),
                sql.Identifier(str(i)),
            )
            for i, t in enumerate(chunk)
        ]
        [counts] = fetch(conn, sql.SQL("SELECT {}").format(sql.SQL(", ").join(columns)))
        for i, table in enumerate(chunk):
            found.own[table.name] = dict(zip(SIGNED_IN, map(int, counts[str(i)]), strict=True))


def _names(row: Mapping[str, str]) -> Target:
    return row["target_schema"], row["target_relation"], row["target_column"]


def _tenants(conn: Connection, rows: Sequence[Mapping[str, str]], who: Identity) -> list[str]:
    from psycopg import sql

    query = sql.SQL(" UNION ").join(
        sql.SQL("SELECT {}::text AS tenant FROM {} WHERE {} = {}").format(
            sql.Identifier(row["tenant_column"]),
            sql.Identifier(row["schema"], row["relation"]),
            sql.Identifier(row["user_column"]),
            sql.Literal(who.user),
        )
        for row in rows
    )
    return sorted(str(row["tenant"]) for row in fetch(conn, query))


def mine(table: Table, who: Identity, found: Belonging) -> sql.Composable | None:
    """The condition a row of ``table`` meets when it is ``who``'s: owned by them, or in one of
    their tenants; None when nothing says whose its rows are."""
    from psycopg import sql

    conditions: list[sql.Composable] = []
    if table.owner:
        conditions.append(
            sql.SQL("{} = {}").format(table.owner_identifier(), sql.Literal(who.user))
        )
    named = target(table)
    tenants = found.tenants.get(named, {}).get(who.name) if named else None
    if tenants is not None and table.tenant:
        conditions.append(
            sql.SQL("{}::text = ANY({}::text[])").format(
                sql.Identifier(table.tenant), sql.Literal(tenants)
            )
        )
    if not conditions:
        return None
    return sql.SQL("({})").format(sql.SQL(" OR ").join(conditions))
