"""Impersonation probes: acting as the API does — the role and the token's claims set the way
PostgREST sets them, inside transactions that are always rolled back — they measure what anon,
users A and B and a signed-in stranger can read and write, and prove that users are kept apart.

Reads run as one statement per identity over every exposed table. Writes touch only sampled
rows, and give sequence-filled columns (a default that calls ``nextval``, however deep) their
values so that no ``nextval`` runs: a rollback undoes a row, not a sequence; a command whose
triggers may advance one is not run at all. A write that fails on a constraint after Row
Level Security let it through counts as let through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import CouldNotCheck, Finding
from pytest_deploycheck.net.postgres import Row, RuleResult, deadline, fetch, run
from pytest_deploycheck.rls.evidence import API_ROLES, COMMANDS, Table
from pytest_deploycheck.rls.identities import Identity
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

SAMPLE = 20  # rows a write probe may touch per table
CHUNK = 50  # tables read in one statement


def reproduce(conn: Connection, who: Identity, statement: sql.Composed, write: bool = False) -> str:
    """The probe as statements a person can paste into psql: what was run."""
    begin = "BEGIN READ WRITE" if write else "BEGIN"
    steps = [who.impersonation().as_string(conn), statement.as_string(conn)]
    return "; ".join([begin, *steps, "ROLLBACK;"])


def probe(
    conn: Connection,
    who: Identity,
    statement: sql.Composed,
    settings: RlsSettings,
    write: bool = False,
    scale: int = 1,
) -> list[Row] | None:
    """Run ``statement`` as ``who``, in a transaction always rolled back (READ WRITE only for
    ``write``): the rows it read, or one ``{"rows": n}`` for the rows it changed; None when the
    role may not run it at all. A write stopped by a constraint after Row Level Security let
    it through is ``{"rows": -1}``: let through.

    The role is set before the statement runs, each step is one statement through the
    extended protocol, and the statement is composed from identifiers and literals only:
    nothing in a name can leave the role or the transaction.
    """
    import psycopg
    from psycopg import sql

    timeout = sql.SQL(", set_config('statement_timeout', {}, true)").format(
        sql.Literal(str(settings.probe_timeout_ms * scale))
    )
    conn.rollback()
    conn.read_only = not write  # BEGIN READ WRITE or READ ONLY
    try:
        with (
            deadline(conn, settings.probe_timeout_ms * scale),
            conn.transaction(force_rollback=True),
        ):
            run(conn, who.impersonation() + timeout)
            cursor = run(conn, statement)
            return cursor.fetchall() if cursor.description else [{"rows": cursor.rowcount}]
    except psycopg.errors.InsufficientPrivilege:
        return None
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
        raise CouldNotCheck(f"[db-timeout] {str(exc).strip()}") from None
    except psycopg.errors.IntegrityError:
        return [{"rows": -1}] if write else None
    except psycopg.errors.DataError:
        return None  # the statement could not be evaluated at all: nothing shown
    finally:
        conn.read_only = True


# -- reads ------------------------------------------------------------------------------------


@dataclass
class Reads:
    """What each identity read of each table: ``rows`` (None: no grant), ``others`` (rows
    owned by user B that A saw), ``samples`` (ctids of rows A or B saw, their own where the
    table has an owner column) and ``seen`` (those of B's that A saw too)."""

    rows: dict[str, dict[str, int | None]] = field(default_factory=dict)
    others: dict[str, dict[str, int]] = field(default_factory=dict)
    samples: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    seen: dict[str, list[str]] = field(default_factory=dict)


def read_all(
    conn: Connection, settings: RlsSettings, tables: Sequence[Table], who: dict[str, Identity]
) -> Reads:
    """Every identity's reads of every exposed table, B before A (A is asked about B's rows)."""
    names = [t.name for t in tables]
    reads = Reads({n: {} for n in names}, {n: {} for n in names}, {n: {} for n in names})
    for name in ("user_b", "user_a", "anon", "stranger"):
        other = who["user_a" if name == "user_b" else "user_b"]
        for chunk in _chunks([t for t in tables if "SELECT" in t.writable[who[name].role]]):
            _read(conn, settings, chunk, who[name], other, reads)
    return reads


def _chunks(tables: Sequence[Table]) -> Iterable[Sequence[Table]]:
    return (tables[i : i + CHUNK] for i in range(0, len(tables), CHUNK))


def _read(
    conn: Connection,
    settings: RlsSettings,
    tables: Sequence[Table],
    who: Identity,
    other: Identity,
    reads: Reads,
) -> None:
    """One statement reads every table of the chunk; a chunk that fails reads table by table."""
    from psycopg import sql

    parts = [_measures(t, who, other, reads) for t in tables]
    columns = [
        sql.SQL("{} AS {}").format(measure, sql.Identifier(f"{i}.{name}"))
        for i, part in enumerate(parts)
        for name, measure in part.items()
    ]
    statement = sql.SQL("SELECT {}").format(sql.SQL(", ").join(columns))
    rows = probe(conn, who, statement, settings, scale=len(tables))
    if rows is None and len(tables) > 1:
        for table in tables:
            _read(conn, settings, [table], who, other, reads)
        return
    for i, table in enumerate(tables):
        got = {k: rows[0][f"{i}.{k}"] for k in parts[i]} if rows else {}
        reads.rows[table.name][who.name] = got.get("rows")
        if "others" in got:
            reads.others[table.name][who.name] = int(got["others"])
        if "sample" in got:
            reads.samples[table.name][who.name] = list(got["sample"])
        if "seen" in got:
            reads.seen[table.name] = list(got["seen"])


def _measures(table: Table, who: Identity, other: Identity, reads: Reads) -> dict[str, Any]:
    """What to ask of a table as ``who``: its rows; for A and B a sample of ctids (of their
    own rows where there is an owner column); for A, B's rows it sees — by owner, and among
    B's sample."""
    from psycopg import sql

    t = table.identifier()
    measures: dict[str, Any] = {"rows": sql.SQL("(SELECT count(*) FROM {})").format(t)}
    if who.name not in ("user_a", "user_b") or not table.owned:
        return measures
    own: sql.Composable = sql.SQL("")
    if table.owner:
        own = sql.SQL(" WHERE {} = {}").format(table.owner_identifier(), sql.Literal(who.user))
    measures["sample"] = sql.SQL("ARRAY(SELECT ctid::text FROM {}{} LIMIT {})").format(
        t, own, sql.Literal(SAMPLE)
    )
    if who.name == "user_a":
        if table.owner:
            measures["others"] = sql.SQL("(SELECT count(*) FROM {} WHERE {} = {})").format(
                t, table.owner_identifier(), sql.Literal(other.user)
            )
        theirs = sql.Literal(reads.samples[table.name].get(other.name, []))
        among = sql.SQL("ARRAY(SELECT ctid::text FROM {} WHERE ctid = ANY({}::tid[]))")
        measures["seen"] = among.format(t, theirs)
    return measures


def read_findings(
    conn: Connection,
    settings: RlsSettings,
    tables: Sequence[Table],
    who: dict[str, Identity],
    reads: Reads,
) -> RuleResult:
    """Reads the schema restricts that the probes show open: anon reading an owned table whose
    SELECT policies do not open it; user A seeing B's rows where the SELECT policies keep each
    user to their own; a stranger seeing rows although the SELECT policies ask who the user
    is. Reads opened on purpose are the evidence rules' business; shared tables have no owner
    to protect."""
    from psycopg import sql

    result = RuleResult("rls_read_probes")
    for table in tables:
        if not table.owned or settings.reads_public(table.name):
            continue
        seen, t = reads.rows[table.name], table.identifier()
        closed = {role: table.reads(role) != "open" or not table.rls for role in API_ROLES}
        if closed["anon"] and seen.get("anon"):
            steps = reproduce(conn, who["anon"], sql.SQL("SELECT count(*) FROM {}").format(t))
            message = f"as {who['anon']}, the API reads {seen['anon']} rows of {table.name}"
            result.findings.append(
                Finding("anon_reads_user_rows", table.name, f"{message}. Reproduce: {steps}")
            )
        if not closed["authenticated"]:
            continue
        if table.boundary("SELECT") == "user" and reads.others[table.name].get("user_a"):
            result.findings.append(_cross_user(conn, table, who, reads))
        if seen.get("stranger"):
            steps = reproduce(conn, who["stranger"], sql.SQL("SELECT * FROM {}").format(t))
            message = (
                f"as {who['stranger']} the API reads {seen['stranger']} rows of"
                f" {table.name}, although its policies for reading ask who the user is"
            )
            result.findings.append(
                Finding("stranger_reads_rows", table.name, f"{message}. Reproduce: {steps}")
            )
    return result


def _cross_user(conn: Connection, table: Table, who: dict[str, Identity], reads: Reads) -> Finding:
    from psycopg import sql

    a, b = who["user_a"], who["user_b"]
    shown = sql.SQL("SELECT * FROM {} WHERE {} = {}").format(
        table.identifier(), table.owner_identifier(), sql.Literal(b.user)
    )
    count = reads.others[table.name]["user_a"]
    steps = reproduce(conn, a, shown)
    message = (
        f"as {a}, the API reads {count} rows of {table.name} that belong to user {b.user}."
        f" Reproduce: {steps}"
    )
    return Finding("cross_user_read", table.name, message)


# -- writes -----------------------------------------------------------------------------------

NOT_TRIED_CODE = "writes-not-tried"
# Who tries to write users' rows without being one of them, and the code when it goes through.
STRANGER_CODES = {"anon": "anon_writes_rows", "stranger": "stranger_writes_rows"}


@dataclass(frozen=True)
class Write:
    """One write to try: who, the reason code if it goes through, what it does, the command
    whose policies decide it, and the statement."""

    who: str
    code: str
    what: str
    command: str
    statement: sql.Composed


@dataclass
class Writes:
    """What each identity managed to write, per table (``who what`` -> rows changed, -1: let
    through but stopped by a constraint), the writes not tried (``who what`` -> why), and the
    holes found."""

    done: dict[str, dict[str, int]] = field(default_factory=dict)
    result: RuleResult = field(default_factory=lambda: RuleResult("rls_write_probes"))
    not_tried: dict[str, dict[str, str]] = field(default_factory=dict)


def write_all(
    conn: Connection,
    settings: RlsSettings,
    tables: Sequence[Table],
    who: dict[str, Identity],
    reads: Reads,
) -> Writes:
    """As A against B's rows, and as anon and a stranger against everyone's, on every owned
    table: each write in its own rolled-back transaction, on sampled rows only."""
    writes = Writes({t.name: {} for t in tables}, not_tried={t.name: {} for t in tables})
    exposed = {(t.schema, t.relation) for t in tables}
    for table in tables:
        if not table.owned:
            continue
        joining = _into_their_tenant(conn, table, reads, exposed)
        for write in [*_writes(table, who, reads), *joining]:
            if not _worth(table, who[write.who], write.command):
                continue
            if write.command in table.unwritable:
                writes.not_tried[table.name][f"{write.who} {write.what}"] = table.unwritable[
                    write.command
                ]
                continue
            changed = probe(conn, who[write.who], write.statement, settings, write=True)
            count = changed[0]["rows"] if changed else 0
            writes.done[table.name][f"{write.who} {write.what}"] = count
            if count:
                writes.result.findings.append(_hole(conn, table, who[write.who], write))
    not_tried = {t: why for t, skipped in writes.not_tried.items() for why in skipped.values()}
    if not_tried and not any(writes.done.values()):  # nothing seen: never a pass
        writes.result.note = f"[{NOT_TRIED_CODE}] no write could be tried without advancing a" + (
            " sequence: " + "; ".join(f"{t}: {why}" for t, why in sorted(not_tried.items()))
        )
    return writes


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
    anyone = sql.Literal(sorted({*samples.get("user_a", []), *samples.get("user_b", [])}))
    update = sql.SQL("UPDATE {} SET {} = {} WHERE ctid = ANY({}::tid[])")
    delete = sql.SQL("DELETE FROM {} WHERE ctid = ANY({}::tid[])")
    theirs = {command: sql.Literal(_theirs(table, reads, command)) for command in COMMANDS}
    others = update.format(t, key, key, theirs["UPDATE"]), delete.format(t, theirs["DELETE"])
    writes = [
        Write("user_a", "cross_user_update_others", "update user B's rows", "UPDATE", others[0]),
        Write("user_a", "cross_user_delete_others", "delete user B's rows", "DELETE", others[1]),
    ]
    for name, code in STRANGER_CODES.items():
        writes += [
            Write(name, code, "update users' rows", "UPDATE", update.format(t, key, key, anyone)),
            Write(name, code, "delete users' rows", "DELETE", delete.format(t, anyone)),
        ]
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
        what = "give its own rows to user B"
        writes.append(Write("user_a", "cross_user_reassign_own", what, "UPDATE", reassign))
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
