"""The access matrix: for each exposed table, how far each API role may read and write it by its
grants and policies, with what the probes measured — and how it changed since a baseline."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_deploycheck.core.model import Evidence, Finding
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.rls.evidence import API_ROLES, COMMANDS, LEVELS, Table, level
from pytest_deploycheck.rls.reads import Reads, blind_tables
from pytest_deploycheck.rls.settings import RlsSettings
from pytest_deploycheck.rls.writes import Writes

Matrix = dict[str, dict[str, Any]]
ACCESS_CODES = ("access-widened", "access-narrowed")
Change = tuple[str, str]  # (table, what changed)


def matrix(
    tables: Sequence[Table], reads: Reads, writes: Writes | None, settings: RlsSettings
) -> Matrix:
    """Per exposed table: its kind, whether RLS is on, whether reading it is public by design,
    each API role's level per command, and the probes' measurements: rows read per identity,
    and for users A and B how many of them were their own and how many were outside their own
    rows and tenants (by the data), whether the probes saw anything there (``blind``), and
    the writes, when they ran."""
    blind = set(blind_tables(tables, reads, settings))
    return {
        table.name: {
            "kind": table.kind,
            "rls": table.rls,
            "public_read": settings.reads_public(table.name),
            **{
                role: {command.lower(): level(table, role, command) for command in COMMANDS}
                for role in API_ROLES
            },
            "rows_read": reads.rows[table.name],
            "others_read": reads.others[table.name],
            "own_read": reads.own[table.name],
            "outside_read": reads.outside[table.name],
            "blind": table.name in blind,
            "written": writes.done[table.name] if writes else None,
            **(
                {"not_written": writes.not_tried[table.name]}
                if writes and writes.not_tried[table.name]
                else {}
            ),
        }
        for table in tables
    }


def changes(before: Mapping[str, Any], now: Matrix) -> tuple[list[Change], list[Change]]:
    """What widened and what narrowed since ``before``. Widened: a role's level for a command
    became ``open``, RLS turned off, a table newly exposed with either; reads listed in
    ``public_reads`` are open on purpose. Narrowed: a level lowered, RLS turned on, a table no
    longer exposed. A role that may now act on its own rows only (``scoped``) widens nothing."""
    widened: list[Change] = []
    narrowed: list[Change] = [
        (t, f"{t} is no longer exposed to the API") for t in before if t not in now
    ]
    for name, new in now.items():
        old = before.get(name)
        if old is None:
            opened = [f"{r} {c}" for r in API_ROLES for c in new[r] if _opens(new, r, c)]
            if opened or not new["rls"]:
                what = ", ".join(opened) if new["rls"] else "RLS off"
                widened.append((name, f"{name} is newly exposed to the API ({what})"))
            continue
        if old.get("rls") != new["rls"]:
            state = "on" if new["rls"] else "off"
            (narrowed if new["rls"] else widened).append((name, f"RLS is now {state} for {name}"))
        for role in API_ROLES:
            for command in new[role]:
                was, is_ = old.get(role, {}).get(command, "none"), new[role][command]
                if LEVELS.index(is_) < LEVELS.index(was):
                    text = f"{role} can no longer {command} {name} ({was} -> {is_})"
                    narrowed.append((name, text))
                elif was != "open" and _opens(new, role, command):
                    widened.append((name, f"{role} can now {command} {name} ({was} -> open)"))
        widened += _leaking(name, old, new)
    return widened, narrowed


def _leaking(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Users who now read rows outside their own rows and tenants, where they read none at the
    baseline (a baseline that did not measure it says nothing)."""
    was, now = old.get("outside_read"), new.get("outside_read") or {}
    if was is None or new.get("public_read"):
        return []
    return [
        (
            name,
            f"user {who[-1].upper()} now reads {count} rows of {name} outside its own rows"
            " and tenants (none before)",
        )
        for who, count in sorted(now.items())
        if count and not was.get(who)
    ]


def _opens(cell: Mapping[str, Any], role: str, command: str) -> bool:
    return cell[role][command] == "open" and not (command == "select" and cell["public_read"])


def judged(now: Matrix, before: Mapping[str, Any] | None, since: str) -> tuple[Result, Result]:
    """The widening check's result (the matrix as its data and evidence) and the narrowing
    check's; without a baseline, nothing changed."""
    widened, narrowed = changes(before, now) if before is not None else ([], [])
    results = []
    for code, found in zip(ACCESS_CODES, (widened, narrowed), strict=True):
        result = Result(findings=[Finding(code, table, f"{text} {since}") for table, text in found])
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            result.fail(code, f"{found[0][1]} {since}{more}")
        results.append(result)
    results[0].data["access"] = now
    results[0].evidence.append(Evidence("access matrix.csv", _csv(now), "text/csv"))
    return results[0], results[1]


def _csv(now: Matrix) -> str:
    """The matrix as a table: one row per exposed table."""
    rows = [
        {
            "table": name,
            "kind": cell["kind"],
            "rls": cell["rls"],
            **{f"{role} {c}": cell[role][c] for role in API_ROLES for c in cell[role]},
            **{f"rows read by {who}": n for who, n in cell["rows_read"].items()},
        }
        for name, cell in now.items()
    ]
    out = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
