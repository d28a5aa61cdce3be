"""What a deployment changed in the database: the pre-deploy snapshot against one taken now.

Pure functions from two snapshots (``db.snapshot``) to findings, in three kinds: data that is
gone (a table, a column, rows of a critical table, values a narrower type cannot hold, a
sequence moved back), changes the version still running cannot live with (expand/contract: a
rename, a NOT NULL without a default, a dropped view or function, a changed type), and the
changes the config or a migration acknowledged as intended.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.core.model import Finding
from pytest_deploycheck.net.postgres import RuleResult

DATA_LOSS_CODE = "data-loss"
SEQUENCE_CODE = "sequence-backwards"
INCOMPATIBLE_CODE = "not-backward-compatible"
ACKNOWLEDGED_CODE = "schema-change-acknowledged"
ACKNOWLEDGE = re.compile(r"deploycheck:\s*acknowledge\s+(\S+)")  # in a migration's comment

Snapshot = Mapping[str, Any]


@dataclass
class Changes:
    """Findings by kind; an acknowledged finding is moved out of the other two."""

    data_loss: list[Finding] = field(default_factory=list)
    incompatible: list[Finding] = field(default_factory=list)
    acknowledged: list[Finding] = field(default_factory=list)


def compare(
    before: Snapshot, after: Snapshot, row_loss_max: float, acknowledged: Iterable[str] = ()
) -> Changes:
    """Every change between the two snapshots that loses data or breaks the version before."""
    changes = Changes()
    lost = [*_tables(before, after), *_rows(before, after, row_loss_max)]
    lost += _sequences(before, after)
    broken = [*_compatibility(before, after), *_gone(before, after, "views", "view")]
    broken += _gone(before, after, "functions", "function")
    known = {_plain(name) for name in acknowledged}
    for found in lost + broken:
        if _names(found.object) & known:
            changes.acknowledged.append(
                Finding(ACKNOWLEDGED_CODE, found.object, f"{found.message} (acknowledged)")
            )
        elif found in lost:
            changes.data_loss.append(found)
        else:
            changes.incompatible.append(found)
    return changes


def found(rule: str, findings: list[Finding], taken_at: float) -> RuleResult:
    """Findings of one kind as a rule's result, each change a row of its evidence."""
    from datetime import datetime, timezone

    when = datetime.fromtimestamp(taken_at, timezone.utc).isoformat(timespec="seconds")
    return RuleResult(
        rule,
        findings=findings,
        query=f"compared with the pre-deploy snapshot taken at {when}",
        rows=[{"object": f.object, "change": f.message} for f in findings],
    )


def acknowledged_in(migrations: Iterable[str]) -> list[str]:
    """Objects acknowledged in migration files' comments (``-- deploycheck: acknowledge
    public.notes.legacy``)."""
    return [name for text in migrations for name in ACKNOWLEDGE.findall(text)]


def _tables(before: Snapshot, after: Snapshot) -> Iterator[Finding]:
    now_by_oid = {t["oid"]: name for name, t in after["tables"].items()}
    for name, table in before["tables"].items():
        now = after["tables"].get(name)
        if now is None and table["oid"] in now_by_oid:
            continue  # renamed: the compatibility rules say so, the data is there
        if now is None:
            yield Finding(DATA_LOSS_CODE, name, f"table {name} was dropped")
            continue
        renamed = {c["num"] for c in now["columns"].values()}
        for column, was in table["columns"].items():
            is_ = now["columns"].get(column)
            if is_ is None and was["num"] not in renamed:
                yield Finding(
                    DATA_LOSS_CODE, f"{name}.{column}", f"column {name}.{column} was dropped"
                )
            elif is_ is not None and narrower(was["type"], is_["type"]):
                yield Finding(
                    DATA_LOSS_CODE,
                    f"{name}.{column}",
                    f"column {name}.{column} was narrowed from {was['type']} to {is_['type']}",
                )


def _rows(before: Snapshot, after: Snapshot, row_loss_max: float) -> Iterator[Finding]:
    for table, count in before.get("counts", {}).items():
        now = after.get("counts", {}).get(table)
        if now is not None and count and (count - now) / count > row_loss_max:
            share = (count - now) / count
            yield Finding(
                DATA_LOSS_CODE,
                table,
                f"critical table {table} lost {count - now} of its {count} rows ({share:.0%},"
                f" more than row_loss_max {row_loss_max:.0%})",
            )


def _sequences(before: Snapshot, after: Snapshot) -> Iterator[Finding]:
    for sequence, position in before.get("sequences", {}).items():
        now = after.get("sequences", {}).get(sequence)
        if now is not None and now < position:
            yield Finding(
                SEQUENCE_CODE,
                sequence,
                f"sequence {sequence} moved back from {position} to {now} (a restore or a"
                " reset: new rows may reuse ids)",
            )


def _compatibility(before: Snapshot, after: Snapshot) -> Iterator[Finding]:
    """Changes the version still serving (a rolling deploy, a rollback) breaks on."""
    old_by_oid = {t["oid"]: name for name, t in before["tables"].items()}
    for name, table in after["tables"].items():
        earlier = old_by_oid.get(table["oid"])
        if earlier is not None and earlier != name:
            yield Finding(INCOMPATIBLE_CODE, earlier, f"table {earlier} was renamed to {name}")
        was = before["tables"].get(earlier or name)
        if was is None:
            continue  # a new table: nothing old uses it
        by_num = {c["num"]: (n, c) for n, c in was["columns"].items()}
        for column, is_ in table["columns"].items():
            old_name, old = by_num.get(is_["num"], (None, None))
            where = f"{name}.{column}"
            if old_name is not None and old_name != column:
                yield Finding(
                    INCOMPATIBLE_CODE,
                    f"{name}.{old_name}",
                    f"column {name}.{old_name} was renamed to {column}",
                )
            if is_["not_null"] and not is_["default"] and (old is None or not old["not_null"]):
                what = "was added" if old is None else "became"
                yield Finding(
                    INCOMPATIBLE_CODE,
                    where,
                    f"column {where} {what} NOT NULL without a default: inserts of the version"
                    " before fail",
                )
            if (
                old is not None
                and old["type"] != is_["type"]
                and narrower(old["type"], is_["type"]) is None
            ):
                yield Finding(
                    INCOMPATIBLE_CODE,
                    where,
                    f"column {where} changed type from {old['type']} to {is_['type']}",
                )


def _gone(before: Snapshot, after: Snapshot, kind: str, what: str) -> Iterator[Finding]:
    for name in before.get(kind, {}):
        if name not in after.get(kind, {}):
            yield Finding(
                INCOMPATIBLE_CODE, name, f"{what} {name} was dropped: the version before uses it"
            )


_INTEGERS = ("smallint", "integer", "bigint")
_FLOATS = ("real", "double precision")
_LENGTH = re.compile(r"^(character varying|character|varchar|char|bit varying|bit)\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


def narrower(old: str, new: str) -> bool | None:
    """Whether type ``new`` holds less than ``old`` (True), as much or more (False), or
    cannot be told (None: a change between unrelated types)."""
    if old == new:
        return False
    rank = _rank(old, new)
    if rank is not None:
        return rank
    if new == "text" or (new == "numeric" and _NUMERIC.match(old)):
        return False  # the widest of their kind
    if old in ("text", "character varying") and _LENGTH.match(new):
        return True
    if old == "timestamp with time zone" and new in ("date", "timestamp without time zone"):
        return True
    return None


def _rank(old: str, new: str) -> bool | None:
    """Narrowing within one family of types: numbers, lengths, numeric precision."""
    for family in (_numbers, _lengths, _numerics):
        verdict = family(old, new)
        if verdict is not None:
            return verdict
    return None


def _numbers(old: str, new: str) -> bool | None:
    for family in (_INTEGERS, _FLOATS):
        if old in family and new in family:
            return family.index(new) < family.index(old)
    if old in _INTEGERS and new in (*_FLOATS, "numeric"):
        return False
    if old in (*_FLOATS, "numeric") and new in _INTEGERS:
        return True
    return None


def _lengths(old: str, new: str) -> bool | None:
    was, now = _LENGTH.match(old), _LENGTH.match(new)
    if was and now:
        return int(now.group(2)) < int(was.group(2))
    if was and new in ("text", "character varying"):
        return False
    return None


def _numerics(old: str, new: str) -> bool | None:
    was, now = _NUMERIC.match(old), _NUMERIC.match(new)
    if was and now:
        (p0, s0), (p1, s1) = (int(was[1]), int(was[2])), (int(now[1]), int(now[2]))
        return p1 - s1 < p0 - s0 or s1 < s0
    if old == "numeric" and now:
        return True
    return None


def _plain(name: str) -> str:
    """A name as people write it: without PostgreSQL's quotes."""
    return name.replace('"', "")


def _names(obj: str) -> set[str]:
    """The names that acknowledge a change to ``obj`` (``public.notes.body``): itself and its
    table, each with or without the schema."""
    plain = _plain(obj)
    names = {plain, plain.split(".", 1)[-1]}
    if plain.count(".") == 2:
        table = plain.rsplit(".", 1)[0]
        names |= {table, table.split(".", 1)[-1]}
    return names


SLOWER_CODE = "query-regression"
SEQ_SCAN_CODE = "new-seq-scan"


def slower_queries(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    min_calls: int,
    max_ratio: float,
    min_ms: float,
) -> Iterator[Finding]:
    """Queries whose mean time per call since the snapshot is more than ``max_ratio`` times
    their mean before it, over at least ``min_calls`` calls."""
    for text, now in after.items():
        was = before.get(text)
        if was is None or not was["calls"]:
            continue  # a new query: nothing to compare with
        calls = now["calls"] - was["calls"]
        if calls < min_calls:
            continue  # too few calls since (or the statistics were reset)
        mean_before = was["total_ms"] / was["calls"]
        mean_since = (now["total_ms"] - was["total_ms"]) / calls
        if mean_since >= min_ms and mean_since > max_ratio * mean_before:
            shown = text[:300] + ("..." if len(text) > 300 else "")
            yield Finding(
                SLOWER_CODE,
                f"query {text[:60]}",
                f"a query takes {mean_since:.2f} ms per call over {calls} calls since the"
                f" snapshot, against {mean_before:.2f} ms before ({mean_since / mean_before:.1f}x;"
                f" more than {max_ratio:g}x): {shown}",
            )


def new_seq_scans(before: Snapshot, after: Snapshot, large_rows: int) -> Iterator[Finding]:
    """Large tables never scanned whole before the deploy and scanned whole since (an index
    gone, or a query that cannot use one)."""
    for name, table in after["tables"].items():
        was = before["tables"].get(name)
        if was is None or table["estimate"] < large_rows:
            continue
        if not was.get("seq_scan") and (table.get("seq_scan") or 0) > 0:
            yield Finding(
                SEQ_SCAN_CODE,
                name,
                f"table {name} ({table['estimate']} rows) is scanned whole since the deploy"
                f" ({table['seq_scan']} scans) and never was before",
            )
