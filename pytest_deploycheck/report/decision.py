"""The decision block: what a release engineer reads first, at 3 a.m., wherever the sign-off
is shown (the terminal, the job summary, the Allure verdict result, ``deploycheck show``).

One line with the verdict, its exit code and the next action; the causes, one line each,
grouped by the object they are about and ordered by level; then every measured gate in a
table, for a GO too. Every line fits in ``WIDTH`` characters but those naming the sign-off's
path, which stay whole to be copied: a longer one wraps under its
text, and one longer than ``MAX_LINES`` lines loses its middle, never its start (the code and
the object) nor its end (the diagnosis, the source of a merged reason). Made from the sign-off
document alone, so that every place shows the same text.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pytest_deploycheck.core.model import figure, reason_code
from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.signoff.engine import (
    FLEET_HOLD_CODE,
    FLEET_ROLLBACK_CODE,
    SIGNOFF_CODES,
    Verdict,
)

WIDTH = 120
MAX_LINES = 3  # a cause's lines at most
_NEXT = {
    "GO": "next: nothing; the deployment stays",
    "HOLD": "next: hold; a person decides, with the causes below",
    "ROLLBACK": "next: roll back now, then: deploycheck postmortem {signoff}",
}
_MARKS = {"pass": "✓", "hold": "!", "rollback": "✗"}
_FLEET_CODES = (FLEET_ROLLBACK_CODE, FLEET_HOLD_CODE)
_CHECK_ID = re.compile(r"\b[a-z][a-z0-9_]*\.[\w.*\[\]-]+")


def decision(document: Mapping[str, Any], signoff: str = "deploycheck-signoff.json") -> list[str]:
    """The block's lines."""
    verdict, target = document["verdict"], document["target"]
    fleet = document.get("targets")
    lines = [
        f"VERDICT: {verdict} (exit {document['exit_code']}) -"
        + (f" fleet of {len(fleet)} targets" if fleet is not None else f" target {target['name']}")
        + (f", version {target['version']}" if target.get("version") else ""),
        _NEXT[verdict].format(signoff=signoff),
        _what(document),
    ]
    if fleet is not None:
        return [*lines, "", *_fleet(document, fleet), "", f"every target's reasons: {signoff}"]
    causes = list(_causes(document))
    if causes:
        lines += ["", *causes]
    lines += [f"  advisory: {text}" for text in document.get("advisories", [])]
    table = _gates(document.get("gates", []))
    if table:
        lines += ["", *table]
    if causes:
        lines += ["", f"every reason in full, with its evidence: {signoff}"]
    fitted: list[str] = []
    for line in lines:  # a line naming the sign-off is a command to copy: it stays whole
        fitted += [one_line(line)] if signoff in line else _fit(line)
    return fitted


def _fleet(document: Mapping[str, Any], targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fleet's own reasons, then one line per target that is not GO, worst first, with
    its first cause; then the count of each verdict."""
    lines = [
        f"  {reason_level(text).value:<8} {_said(reason_code(text) or '', text)}"
        for text in document["reasons"]
        if reason_code(text) in _FLEET_CODES
    ]
    failing = sorted(
        (t for t in targets if t["verdict"] != Verdict.GO.value),
        key=lambda t: (-Verdict(t["verdict"]).rank, t["name"]),
    )
    for target in failing:
        reasons = target["reasons"]
        first = _said(reason_code(reasons[0]) or "", reasons[0]) if reasons else ""
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        lines.append(f"  {target['verdict']:<8} {target['name']}: {first}{more}")
    counts = {v.value: sum(1 for t in targets if t["verdict"] == v.value) for v in Verdict}
    lines.append(
        "  targets: "
        + ", ".join(f"{n} {v}" for v, n in reversed(counts.items()) if n)
        + f" (rollback_if = {document.get('fleet_policy', 'any')})"
    )
    return [fitted for line in lines for fitted in _fit(line)]


TARGET_COLUMNS = ("target", "verdict", "version", "checks", "failed", "could not check")


def target_rows(document: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """A fleet's per-target table: one row per target, worst first (TARGET_COLUMNS)."""
    counted: dict[str, list[int]] = {}
    for check in document["checks"]:
        row = counted.setdefault(check["nodeid"].split("::", 1)[0], [0, 0, 0])
        row[0] += 1
        row[1] += check["outcome"] == "failed"
        row[2] += check["outcome"] == "error"
    targets = sorted(document["targets"], key=lambda t: -Verdict(t["verdict"]).rank)
    return [
        (t["name"], t["verdict"], t["version"] or "", *map(str, counted.get(t["name"], [0] * 3)))
        for t in targets
    ]


def reason_level(reason: str) -> Verdict:
    """The verdict a reason calls for (an override's: HOLD at least)."""
    return SIGNOFF_CODES.get(reason_code(reason) or "") or Verdict.HOLD


def _what(document: Mapping[str, Any]) -> str:
    checks = document["checks"]
    counted = {o: sum(1 for c in checks if c["outcome"] == o) for o in ("failed", "error")}
    phases = ", ".join(document["phases"]) or "no phase"
    return (
        f"{phases}: {len(checks)} checks, {counted['failed']} failed,"
        f" {counted['error']} could not check"
    )


def _causes(document: Mapping[str, Any]) -> Iterator[str]:
    """One line per object the failed checks found something about, then one per remaining
    reason; rollback causes first."""
    by_check = levels(document)
    objects: dict[str, dict[str, Any]] = {}
    covered: set[str] = set()
    for check in document["checks"]:
        level = by_check.get(check["id"])
        if check["outcome"] != "failed" or level is None or not check["findings"]:
            continue
        covered.add(check["id"])
        for found in check["findings"]:
            entry = objects.setdefault(found["object"], {"rules": {}, "level": level, "n": 0})
            entry["rules"][found["rule"]] = None
            entry["n"] += 1
            entry["severity"] = min(entry.get("severity", "minor"), check["severity"])
            entry["level"] = max(entry["level"], level, key=lambda v: Verdict(v).rank)
    lines = [
        (
            Verdict(entry["level"]).rank,
            f"  {entry['level']:<8} {obj} ({entry['n']} {entry['severity']}"
            f" finding{'s' if entry['n'] > 1 else ''}) — {', '.join(entry['rules'])}",
        )
        for obj, entry in objects.items()
    ]
    for text in document["reasons"]:
        code = reason_code(text) or ""
        ids = set(_CHECK_ID.findall(text.split(": ", 1)[0]))
        if ids and ids <= covered:
            continue
        level = SIGNOFF_CODES.get(code) or Verdict(document["verdict"])
        lines.append((level.rank, f"  {level.value:<8} {_said(code, text)}"))
    yield from (line for _, line in sorted(lines, key=lambda pair: -pair[0]))


def _said(code: str, text: str) -> str:
    """A reason without what the level column already says, and without its fix."""
    rest = text[len(code) + 3 :] if code else text
    rest = rest.split(". Fix: ", 1)[0].split(" (objects: ", 1)[0]
    return {
        "could-not-check": "could not check: ",
        "gate-hold": "gate ",
        "gate-rollback": "gate ",
    }.get(code, "" if code in ("critical-failure", "major-failure") else f"[{code}] ") + rest


def levels(document: Mapping[str, Any]) -> dict[str, str]:
    """The level each check's result calls for, by check id (the worst of a check run in
    several phases), as the sign-off recorded it."""
    found: dict[str, str] = {}
    for check in document["checks"]:
        if check.get("level") and found.get(check["id"]) != Verdict.ROLLBACK.value:
            found[check["id"]] = check["level"]
    return found


def _gates(gates: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every gate as k6 shows its thresholds: mark, name, value, threshold, sample size."""
    if not gates:
        return []
    rows = [
        (
            _MARKS[g["status"]],
            g["name"],
            figure(g.get("value"), g.get("unit", "")),
            "" if g.get("threshold") is None else figure(g["threshold"], g.get("unit", "")),
            "" if g.get("samples") is None else f"n={g['samples']}",
        )
        for g in gates
    ]
    width = min(max(len(r[1]) for r in rows), 60)
    return [
        f"  {mark} {name[:width]:<{width}}  {value:>12}  limit {limit:<12} {samples}".rstrip()
        for mark, name, value, limit, samples in rows
    ]


def _fit(line: str) -> list[str]:
    """``line`` in lines of ``WIDTH``, continued under its text (past a cause's level column)."""
    line = one_line(line)
    if len(line) <= WIDTH:
        return [line]
    indent = " " * (11 if line.startswith("  ") else 4)
    room = WIDTH + (MAX_LINES - 1) * (WIDTH - len(indent)) - 30  # word breaks waste some
    if len(line) > room:
        head = room * 3 // 5
        line = f"{line[:head]} … {line[-(room - head - 3) :]}"
    return textwrap.wrap(
        line, WIDTH, subsequent_indent=indent, break_on_hyphens=False, drop_whitespace=True
    )
