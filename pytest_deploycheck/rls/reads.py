"""The read probes: one statement per identity over every exposed table, measuring what anon,
users A and B and a signed-in stranger can read — and, for A and B, how much of it is their
own (by the data: ``membership``) and how much is not. A table where neither user reads any of
their own rows is one the probes are blind on (a claim the policies want and the token lacks, a
helper that refuses): could not check there, never a pass. A user reading rows of a tenant
they do not belong to is a leak, whatever the policies say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import Finding
from pytest_deploycheck.net.postgres import RuleResult
from pytest_deploycheck.rls.evidence import API_ROLES, Table
from pytest_deploycheck.rls.identities import Identity
from pytest_deploycheck.rls.membership import (
    CHUNK,
    SIGNED_IN,
    Belonging,
    belonging,
    count_own,
    mine,
    target,
)
from pytest_deploycheck.rls.probes import (
    SAMPLE,
    ProbeFailed,
    failed,
    read_many,
    reproduce,
)
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

BLIND_CODE = "probes-blind"
_CLAIMS = re.compile(r"auth\.jwt\(\)\s*(?:->>?\s*'(\w+)'\s*)+")


@dataclass
class Reads:
    """What each identity read of each table: ``rows`` (None: no grant); for A and B ``own``
    (rows that are theirs, by the data) and ``outside`` (rows that are not, nor their
    tenants'), with ``truth`` (how many rows are theirs); ``others`` (rows owned by user B
    that A saw), ``samples`` (ctids of rows A or B saw, their own where the table has an owner
    column), ``seen`` (those of B's that A saw too) and ``failed`` (a statement that failed,
    by identity: its SQLSTATE and message)."""

    rows: dict[str, dict[str, int | None]] = field(default_factory=dict)
    others: dict[str, dict[str, int]] = field(default_factory=dict)
    samples: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    seen: dict[str, list[str]] = field(default_factory=dict)
    own: dict[str, dict[str, int]] = field(default_factory=dict)
    outside: dict[str, dict[str, int]] = field(default_factory=dict)
    truth: dict[str, dict[str, int]] = field(default_factory=dict)
    failed: dict[str, dict[str, str]] = field(default_factory=dict)
    belonging: Belonging = field(default_factory=Belonging)


def read_all(
    conn: Connection, settings: RlsSettings, tables: Sequence[Table], who: dict[str, Identity]
) -> Reads:
    """Every identity's reads of every exposed table, B before A (A is asked about B's rows)."""
    names = [t.name for t in tables]
    found = belonging(conn, tables, who)
    reads = Reads(
        rows={n: {} for n in names},
        others={n: {} for n in names},
        samples={n: {} for n in names},
        own={n: {} for n in names},
        outside={n: {} for n in names},
        truth=found.own,
        belonging=found,
    )
    for name in ("user_b", "user_a", "anon", "stranger"):
        other = who["user_a" if name == "user_b" else "user_b"]
        readable = [t for t in tables if "SELECT" in t.writable[who[name].role]]
        _read(conn, settings, list(_chunks(readable)), who[name], other, reads)
    # Whose rows are whose matters where neither user read any row of their own: blind, or
    # nothing of theirs to read. Counted there only.
    unseen = [
        t
        for t in tables
        if t.name in reads.own and reads.own[t.name] and not any(reads.own[t.name].values())
    ]
    count_own(conn, unseen, who, found)
    return reads


def _chunks(tables: Sequence[Table]) -> Iterable[Sequence[Table]]:
    return (tables[i : i + CHUNK] for i in range(0, len(tables), CHUNK))


def _statement(parts: Sequence[dict[str, Any]]) -> sql.Composed:
    """One statement asking every measure of a chunk's tables, each as ``i.name``."""
    from psycopg import sql

    columns = [
        sql.SQL("{} AS {}").format(measure, sql.Identifier(f"{i}.{name}"))
        for i, part in enumerate(parts)
        for name, measure in part.items()
    ]
    return sql.SQL("SELECT {}").format(sql.SQL(", ").join(columns))


def _read(
    conn: Connection,
    settings: RlsSettings,
    groups: Sequence[Sequence[Table]],
    who: Identity,
    other: Identity,
    reads: Reads,
) -> None:
    """A statement per group of tables, all in one transaction; where that fails, group by
    group, then table by table, and a table whose statement fails is recorded as failed for
    ``who``."""
    if not groups:
        return
    asked: list[list[dict[str, Any]]] = []  # each group's measures, as they are composed

    def statements() -> Iterable[sql.Composed]:
        for group in groups:
            asked.append([_measures(t, who, other, reads) for t in group])
            yield _statement(asked[-1])

    alone = len(groups) == 1 and len(groups[0]) == 1
    scale = max(len(group) for group in groups)
    try:
        answers = read_many(conn, who, statements(), settings, scale=scale)
    except ProbeFailed as error:
        if alone:
            reads.failed.setdefault(groups[0][0].name, {})[f"as {who.name}"] = str(error)
            return
        answers = None
    if answers is None and not alone:
        smaller = [[g] for g in groups] if len(groups) > 1 else [[[t]] for t in groups[0]]
        for part in smaller:
            _read(conn, settings, part, who, other, reads)
        return
    found: Sequence[list[Any] | None] = [None] if answers is None else answers  # None: no grant
    for group, parts, rows in zip(groups, asked, found, strict=True):
        for i, table in enumerate(group):
            got = {k: rows[0][f"{i}.{k}"] for k in parts[i]} if rows else {}
            _record(table.name, who.name, got, reads)


def _record(table: str, who: str, got: dict[str, Any], reads: Reads) -> None:
    if "counts" in got:  # [rows, own, outside, B's rows]
        counts = [int(n) for n in got["counts"]]
        got["rows"], reads.own[table][who], reads.outside[table][who] = counts[:3]
        if len(counts) > 3:
            reads.others[table][who] = counts[3]
    reads.rows[table][who] = got.get("rows")
    if "sample" in got:
        reads.samples[table][who] = list(got["sample"])
    if "seen" in got:
        reads.seen[table] = list(got["seen"])


def _measures(table: Table, who: Identity, other: Identity, reads: Reads) -> dict[str, Any]:
    """What to ask of a table as ``who``: its rows; for A and B, how many of them are theirs
    and how many are not (one scan), and a sample of ctids (of their own rows where there is
    an owner column); for A, B's rows it sees — by owner, and among B's sample."""
    from psycopg import sql

    t = table.identifier()
    measures: dict[str, Any] = {"rows": sql.SQL("(SELECT count(*) FROM {})").format(t)}
    if who.name not in SIGNED_IN or not table.owned:
        return measures
    theirs = mine(table, who, reads.belonging)
    if theirs is not None:
        counted = [
            sql.SQL("count(*)"),
            sql.SQL("count(*) FILTER (WHERE {})").format(theirs),
            sql.SQL("count(*) FILTER (WHERE NOT coalesce({}, false))").format(theirs),
        ]
        if who.name == "user_a" and table.owner:
            counted.append(
                sql.SQL("count(*) FILTER (WHERE {} = {})").format(
                    table.owner_identifier(), sql.Literal(other.user)
                )
            )
        measures = {
            "counts": sql.SQL("(SELECT ARRAY[{}] FROM {})").format(sql.SQL(", ").join(counted), t)
        }
    own: sql.Composable = sql.SQL("")
    if table.owner:
        own = sql.SQL(" WHERE {} = {}").format(table.owner_identifier(), sql.Literal(who.user))
    measures["sample"] = sql.SQL("ARRAY(SELECT ctid::text FROM {}{} LIMIT {})").format(
        t, own, sql.Literal(SAMPLE)
    )
    if who.name == "user_a":
        sampled = sql.Literal(reads.samples[table.name].get(other.name, []))
        among = sql.SQL("ARRAY(SELECT ctid::text FROM {} WHERE ctid = ANY({}::tid[]))")
        measures["seen"] = among.format(t, sampled)
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
    user to their own; A or B reading rows of a tenant they do not belong to; a stranger seeing
    rows although the SELECT policies ask who the user is. Reads opened on purpose are the
    evidence rules' business; shared tables have no owner to protect. Could not check where a
    probe failed, or where the probes saw none of the users' own rows."""
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
        elif table.boundary("SELECT") == "tenant" and _tenants_known(table, reads):
            result.findings += _cross_tenant(conn, table, who, reads)
        if seen.get("stranger"):
            steps = reproduce(conn, who["stranger"], sql.SQL("SELECT * FROM {}").format(t))
            message = (
                f"as {who['stranger']}, the API reads {seen['stranger']} rows of"
                f" {table.name}, although its policies for reading ask who the user is"
            )
            result.findings.append(
                Finding("stranger_reads_rows", table.name, f"{message}. Reproduce: {steps}")
            )
    result.undecided = _undecided(tables, reads, settings)
    return result


def _tenants_known(table: Table, reads: Reads) -> bool:
    named = target(table)
    return named is not None and named in reads.belonging.tenants


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


def _cross_tenant(
    conn: Connection, table: Table, who: dict[str, Identity], reads: Reads
) -> list[Finding]:
    """A or B reading rows of the table that are neither theirs nor their tenants'."""
    from psycopg import sql

    found = []
    for name in SIGNED_IN:
        count = reads.outside[table.name].get(name)
        theirs = mine(table, who[name], reads.belonging)
        if not count or theirs is None:
            continue
        shown = sql.SQL("SELECT * FROM {} WHERE NOT coalesce({}, false)").format(
            table.identifier(), theirs
        )
        message = (
            f"as {who[name]}, the API reads {count} rows of {table.name} of tenants"
            f" ({table.tenant}) the user is not a member of. Reproduce:"
            f" {reproduce(conn, who[name], shown)}"
        )
        found.append(Finding("cross-tenant-read", table.name, message))
    return found


def blind_tables(tables: Sequence[Table], reads: Reads, settings: RlsSettings) -> list[str]:
    """The tables whose SELECT policies let users read their own rows, where users own rows,
    and where the probes saw none of them: what they measured there proves nothing."""
    return [
        table.name
        for table in tables
        if table.owned
        and table.rls
        and table.reads("authenticated") == "scoped"
        and "SELECT" in table.writable["authenticated"]
        and not settings.reads_public(table.name)
        and sum(reads.truth.get(table.name, {}).values()) > 0
        and not any(reads.own[table.name].get(name) for name in SIGNED_IN)
        and table.name not in reads.failed
    ]


def _undecided(
    tables: Sequence[Table], reads: Reads, settings: RlsSettings
) -> tuple[str, str] | None:
    if reads.failed:
        return failed("read", reads.failed)
    blind = blind_tables(tables, reads, settings)
    if not blind:
        return None
    by_name = {t.name: t for t in tables}
    described = "; ".join(
        f"{name}: users A and B own {sum(reads.truth[name].values())} rows and read none of"
        f" them{_claims_wanted(by_name[name])}"
        for name in blind
    )
    return BLIND_CODE, (
        f"the probes are blind on {len(blind)} table(s): {described}. Give the probes' tokens"
        " what the application's own carry: [suites.rls.claims] or identity_claims"
    )


def _claims_wanted(table: Table) -> str:
    """The token claims a table's policies read, as a likely cause."""
    claims = sorted(
        {
            claim
            for policy in table.policies
            for text in (policy.using, policy.check)
            for match in _CLAIMS.finditer(text)
            for claim in re.findall(r"'(\w+)'", match.group(0))
        }
    )
    return f" (its policies read the claims {', '.join(claims)})" if claims else ""
