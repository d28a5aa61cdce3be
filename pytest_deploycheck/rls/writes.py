"""The write probes: as user A against B's rows, and as anon and a signed-in stranger against
everyone's, on every owned table — each write undone before the next (a savepoint, which also
releases its locks) in a transaction that is rolled back, on sampled rows only. They give
sequence-filled columns (a default that calls ``nextval``, however deep) their values so that
no ``nextval`` runs: a rollback undoes a row, not a sequence; a command whose triggers may
advance one is not run at all. A write that fails on a constraint after
Row Level Security let it through counts as let through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import Finding
from pytest_deploycheck.net.postgres import RuleResult, fetch
from pytest_deploycheck.rls.evidence import Table
from pytest_deploycheck.rls.identities import Identity
from pytest_deploycheck.rls.probes import ProbeFailed, failed, probe_writes, reproduce
from pytest_deploycheck.rls.reads import Reads
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

NOT_TRIED_CODE = "writes-not-tried"
# Who tries to write users' rows without being one of them, and the code when it goes through.
STRANGER_CODES = {"anon": "anon_writes_rows", "stranger": "stranger_writes_rows"}
# What A tries on B's rows: the code when it goes through, what it does, its command.
OTHERS_CODES = (
    ("cross_user_update_others", "update user B's rows", "UPDATE"),
    ("cross_user_delete_others", "delete user B's rows", "DELETE"),
)


@dataclass(frozen=True)
class Write:
    """One write to try: who, the reason code if it goes through, what it does, the command
    whose policies decide it, and the statement."""

    who: str
    code: str
    what: str
    command: str
    statement: sql.Composed
    names_no_row: bool = False  # decided from the reads: it can change nothing, is not sent

    @property
    def key(self) -> str:
        """``who what``: its key in each of :class:`Writes`' tables."""
        return f"{self.who} {self.what}"


@dataclass
class Writes:
    """What each identity managed to write, per table (``who what`` -> rows changed, -1: let
    through but stopped by a constraint), the writes not tried (``who what`` -> why), and the
    holes found."""

    done: dict[str, dict[str, int]] = field(default_factory=dict)
    result: RuleResult = field(default_factory=lambda: RuleResult("rls_write_probes"))
    not_tried: dict[str, dict[str, str]] = field(default_factory=dict)
    failed: dict[str, dict[str, str]] = field(default_factory=dict)  # who what -> SQLSTATE


def write_all(
    conn: Connection,
    settings: RlsSettings,
    tables: Sequence[Table],
    who: dict[str, Identity],
    reads: Reads,
) -> Writes:
    """As A against B's rows, and as anon and a stranger against everyone's, on every owned
    table: each write undone (a savepoint) in a rolled-back transaction, on sampled rows only."""
    writes = Writes({t.name: {} for t in tables}, not_tried={t.name: {} for t in tables})
    exposed = {(t.schema, t.relation) for t in tables}
    sent: list[tuple[Table, Write]] = []
    for table in tables:
        if not table.owned:
            continue
        joining = _into_their_tenant(conn, table, reads, exposed)
        for write in [*_writes(table, who, reads), *joining]:
            if not _worth(table, who[write.who], write.command):
                continue
            if write.command in table.unwritable:
                writes.not_tried[table.name][write.key] = table.unwritable[write.command]
            elif write.names_no_row:  # what the probe would say, without sending it
                writes.done[table.name][write.key] = 0
            else:
                sent.append((table, write))
    outcomes = probe_writes(conn, [(who[w.who], w.statement) for _, w in sent], settings)
    for (table, write), outcome in zip(sent, outcomes, strict=True):
        if isinstance(outcome, ProbeFailed):
            writes.failed.setdefault(table.name, {})[write.key] = str(outcome)
            continue
        writes.done[table.name][write.key] = outcome
        if outcome:
            writes.result.findings.append(_hole(conn, table, who[write.who], write))
    writes.result.undecided = _undecided(writes)
    return writes


def _undecided(writes: Writes) -> tuple[str, str] | None:
    """Why the write probes could not decide: writes whose statement failed (not refused: it
    says nothing about access), or no write that could be tried at all."""
    if writes.failed:
        return failed("write", writes.failed)
    not_tried = {t: why for t, skipped in writes.not_tried.items() for why in skipped.values()}
    if not_tried and not any(writes.done.values()):  # nothing seen: never a pass
        listed = "; ".join(f"{t}: {why}" for t, why in sorted(not_tried.items()))
        return NOT_TRIED_CODE, f"no write could be tried without advancing a sequence: {listed}"
    return None


def _worth(table: Table, who: Identity, command: str) -> bool:
    """Whether a write tells anything: always as user A; as anon or a stranger only where the
    role holds the grant and some policy (or no RLS) lets it write so — and, for a stranger,
    where memberships decide: where each user keeps to their own rows, a stranger is one more
    user who is not the owner, which A's probes already are."""
    if who.name == "user_a":
        return True
    policy = bool(table.permissive(command, who.role)) or not table.rls
    stranger_adds = who.name != "stranger" or table.boundary(command) == "tenant"
    return command in table.writable[who.role] and policy and stranger_adds


def _writes(table: Table, who: dict[str, Identity], reads: Reads) -> list[Write]:
    """The writes to try on an owned table."""
    from psycopg import sql

    t, samples = table.identifier(), reads.samples[table.name]
    key = sql.Identifier(table.owner or table.tenant or "")

    def changing(command: str, ctids: list[str]) -> sql.Composed:
        rows = sql.Literal(ctids)
        if command == "UPDATE":
            return sql.SQL("UPDATE {} SET {} = {} WHERE ctid = ANY({}::tid[])").format(
                t, key, key, rows
            )
        return sql.SQL("DELETE FROM {} WHERE ctid = ANY({}::tid[])").format(t, rows)

    # A write that names no row changes none: decided here, it is not sent.
    writes = []
    for code, what, command in OTHERS_CODES:
        theirs = _theirs(table, reads, command)
        writes.append(Write("user_a", code, what, command, changing(command, theirs), not theirs))
    everyone = sorted({*samples.get("user_a", []), *samples.get("user_b", [])})
    for name, code in STRANGER_CODES.items():
        for what, command in (("update users' rows", "UPDATE"), ("delete users' rows", "DELETE")):
            statement = changing(command, everyone)
            writes.append(Write(name, code, what, command, statement, not everyone))
    if table.owner:
        writes += _owner_writes(table, who, bool(samples.get("user_a")))
    return writes


def _into_their_tenant(
    conn: Connection, table: Table, reads: Reads, exposed: set[tuple[str, str]]
) -> list[Write]:
    """A copies one of its rows into a tenant of B's that A cannot read — one whose rows and,
    where the API exposes it, whose own row (the organisation, the account) A cannot see:
    joining a team by inserting one's own membership is the classic hole. Only where the
    tenant key is a foreign key (a row keyed by itself starts a tenant, it joins none)."""
    from psycopg import sql

    mine = reads.samples[table.name].get("user_a", [])
    theirs = _beyond_reach(table, reads)
    if not (table.tenant and table.tenant in table.keys and mine and theirs):
        return []
    t, tenant = table.identifier(), sql.Identifier(table.tenant)
    query = sql.SQL("SELECT {}::text AS value FROM {} WHERE ctid = ANY({}::tid[]) LIMIT 1")
    [row] = fetch(conn, query.format(tenant, t, sql.Literal(theirs)))
    value = sql.Literal(row["value"])  # untyped: PostgreSQL gives it the column's type
    schema, relation, column = table.keys[table.tenant]
    guard: sql.Composable = sql.SQL("")
    if (schema, relation) in exposed:
        guard = sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {} WHERE {} = {})").format(
            sql.Identifier(schema, relation), sql.Identifier(column), value
        )
    kept = [table.owner or "", *table.required, *table.sequenced]
    copied = [c for c in dict.fromkeys(kept) if c and c != table.tenant]
    fields = sql.SQL("").join(sql.Identifier(c) + sql.SQL(", ") for c in copied)
    statement = sql.SQL(
        "INSERT INTO {t} ({f}{k}) OVERRIDING SYSTEM VALUE SELECT {f}{v} FROM {t}"
        " WHERE ctid = ANY({mine}::tid[]){guard} LIMIT 1"
    ).format(t=t, f=fields, k=tenant, v=value, mine=sql.Literal(mine), guard=guard)
    what = f"put a row in a tenant of user B's it cannot read ({table.tenant} {row['value']})"
    return [Write("user_a", "cross_tenant_insert", what, "INSERT", statement)]


def _theirs(table: Table, reads: Reads, command: str) -> list[str]:
    """The rows of B's that A must not reach with ``command``: all of B's sample where its
    policies keep each user to their own rows, else those A cannot even read (a tenant A and
    B share is both users' to write in)."""
    if table.boundary(command) == "user":
        return reads.samples[table.name].get("user_b", [])
    return _beyond_reach(table, reads)


def _beyond_reach(table: Table, reads: Reads) -> list[str]:
    """The rows of B's sample that A cannot read."""
    theirs = reads.samples[table.name].get("user_b", [])
    return sorted(set(theirs) - set(reads.seen.get(table.name, [])))


def _owner_writes(table: Table, who: dict[str, Identity], a_has_rows: bool) -> list[Write]:
    """On a user-owned table: A gives a row to B or makes one out as B's (a copy of one of
    A's, if A has any), where the policies keep each user to their own rows; anon and a
    stranger make one out as B's."""
    from psycopg import sql

    t, owner = table.identifier(), table.owner_identifier()
    a, b = sql.Literal(who["user_a"].user), sql.Literal(who["user_b"].user)
    reassign = sql.SQL("UPDATE {} SET {} = {} WHERE {} = {}").format(t, owner, b, owner, a)
    writes = [
        Write(n, code, "make a row out as user B's", "INSERT", _insert_as(table, b))
        for n, code in STRANGER_CODES.items()
    ]
    if table.boundary("UPDATE") == "user":
        what, owns_none = "give its own rows to user B", not a_has_rows
        writes.append(
            Write("user_a", "cross_user_reassign_own", what, "UPDATE", reassign, owns_none)
        )
    if table.boundary("INSERT") == "user":
        what = "make a row out as user B's"
        copy = _copy_as(table, b, a) if a_has_rows else _insert_as(table, b)
        writes.append(Write("user_a", "cross_user_insert_as_other", what, "INSERT", copy))
    return writes


def _copy_as(table: Table, owner: sql.Literal, source: sql.Literal) -> sql.Composed:
    """A copy of one of the source user's rows, made out as ``owner``'s: required and
    sequence-filled columns copied (no ``nextval``; a duplicate key comes after the RLS check)."""
    from psycopg import sql

    copied = [c for c in dict.fromkeys([*table.required, *table.sequenced]) if c != table.owner]
    fields = sql.SQL("").join(sql.Identifier(c) + sql.SQL(", ") for c in copied)
    return sql.SQL(
        "INSERT INTO {t} ({f}{o}) OVERRIDING SYSTEM VALUE SELECT {f}{new} FROM {t}"
        " WHERE {o} = {source} LIMIT 1"
    ).format(t=table.identifier(), f=fields, o=table.owner_identifier(), new=owner, source=source)


def _insert_as(table: Table, owner: sql.Literal) -> sql.Composed:
    """A row made out as ``owner``'s, every sequence-filled column given NULL: the RLS check
    decides before the NOT NULL one, and no ``nextval`` runs."""
    from psycopg import sql

    nulls = [c for c in table.sequenced if c != table.owner]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in [table.owner or "", *nulls])
    values = sql.SQL(", ").join([owner, *(sql.NULL for _ in nulls)])
    return sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
        table.identifier(), names, values
    )


def _hole(conn: Connection, table: Table, who: Identity, write: Write) -> Finding:
    """A write that should have been refused, with the statements that reproduce it."""
    steps = reproduce(conn, who, write.statement, write=True)
    message = f"as {who}, the API could {write.what} on {table.name}. Reproduce: {steps}"
    return Finding(write.code, table.name, message)
