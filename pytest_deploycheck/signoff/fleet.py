"""A fleet's sign-off: one verdict per target and the fleet's, by ``[fleet] rollback_if``.

A fleet sign-off is made by :func:`combine` from parts, each a fleet sign-off itself: one run
of many targets combines the one-target parts of its runs (:func:`part`); ``deploycheck
merge`` combines the sign-offs of shards. Both give the same document, so N shards merged say
what one process would have said.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.signoff.document import SCHEMA_ID
from pytest_deploycheck.signoff.engine import FLEET_HOLD_CODE, FLEET_ROLLBACK_CODE, Verdict

NAMED = 5  # targets named in the fleet's name and its reasons; the rest are counted
_MORE_THAN = re.compile(r"^more_than\s*=\s*(\d+(?:\.\d+)?)\s*%$")


@dataclass(frozen=True)
class FleetPolicy:
    """When the fleet rolls back: any target calling for ROLLBACK (``any``), or more than a
    share of them (``more_than = 10%``); below it the fleet holds, never goes."""

    more_than: float | None = None  # percent of the targets; None: any

    def __str__(self) -> str:
        return "any" if self.more_than is None else f"more_than = {self.more_than:g}%"

    @classmethod
    def parse(cls, text: str) -> FleetPolicy:
        """``any`` or ``more_than = N%``; raises ValueError."""
        if text.strip() == "any":
            return cls()
        found = _MORE_THAN.match(text.strip())
        if not found or float(found[1]) >= 100:
            raise ValueError(
                f'rollback_if must be "any" or "more_than = N%" (N < 100), not {text!r}'
            )
        return cls(float(found[1]))

    def rolls_back(self, failing: int, total: int) -> bool:
        """Whether ``failing`` targets calling for ROLLBACK, of ``total``, roll the fleet back."""
        if self.more_than is None:
            return failing > 0
        return failing > math.floor(total * self.more_than / 100)


def part(name: str, document: Mapping[str, Any], policy: FleetPolicy) -> dict[str, Any]:
    """One target's sign-off as a fleet of one: its checks and gates labelled by it."""
    entry = {
        "name": name,
        "verdict": document["verdict"],
        "exit_code": document["exit_code"],
        "version": document["target"].get("version"),
        "base_url": document["target"].get("base_url"),
        "reasons": list(document["reasons"]),
        "advisories": list(document["advisories"]),
    }
    return {
        "fleet_policy": str(policy),
        "targets": [entry],
        "phases": list(document["phases"]),
        "started_at": document["started_at"],
        "finished_at": document["finished_at"],
        "checks": [{**c, "nodeid": f"{name}::{c['nodeid']}"} for c in document["checks"]],
        "gates": [{**g, "name": f"{name}: {g['name']}"} for g in document["gates"]],
    }


def combine(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet sign-off of ``parts`` (each a fleet sign-off or a :func:`part`); raises
    ValueError when they disagree on the policy or check one target twice."""
    if not parts:
        raise ValueError("no sign-off to combine")
    policies = {p["fleet_policy"] for p in parts}
    if len(policies) > 1:
        raise ValueError(f"the sign-offs have different fleet policies: {', '.join(policies)}")
    policy = FleetPolicy.parse(policies.pop())
    targets = sorted((t for p in parts for t in p["targets"]), key=lambda t: t["name"])
    names = [t["name"] for t in targets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"target {twice[0]} is in more than one sign-off")
    order = {name: i for i, name in enumerate(names)}
    verdict, fleet_reasons = judge(targets, policy)
    versions = list(dict.fromkeys(t["version"] for t in targets if t["version"]))
    return {
        "schema": SCHEMA_ID,
        "verdict": verdict.value,
        "exit_code": verdict.exit_code,
        "reasons": fleet_reasons
        + [f"{r} (from {t['name']})" for t in _worst_first(targets) for r in t["reasons"]],
        "advisories": [f"{a} (from {t['name']})" for t in targets for a in t["advisories"]],
        "target": {
            "name": _named(names),
            "base_url": None,
            "version": ", ".join(versions) or None,
        },
        "fleet_policy": str(policy),
        "targets": targets,
        "phases": sorted({ph for p in parts for ph in p["phases"]}, key=lambda v: Phase(v).rank),
        "started_at": min(p["started_at"] for p in parts),
        "finished_at": max(p["finished_at"] for p in parts),
        "checks": sorted(
            (c for p in parts for c in p["checks"]),
            key=lambda c: order[c["nodeid"].split("::", 1)[0]],
        ),
        "gates": sorted(
            (g for p in parts for g in p["gates"]), key=lambda g: order[g["name"].split(": ")[0]]
        ),
    }


def judge(targets: Sequence[Mapping[str, Any]], policy: FleetPolicy) -> tuple[Verdict, list[str]]:
    """The fleet's verdict and its own reasons, from its targets' verdicts."""
    by = {v: [t["name"] for t in targets if t["verdict"] == v.value] for v in Verdict}
    failing, holding, total = by[Verdict.ROLLBACK], by[Verdict.HOLD], len(targets)
    reasons = []
    if failing:
        verdict = Verdict.ROLLBACK.value
        said = f"{len(failing)} of {total} targets call for {verdict}: {_named(failing)}"
        if policy.rolls_back(len(failing), total):
            reasons.append(f"[{FLEET_ROLLBACK_CODE}] {said} (rollback_if = {policy})")
        else:
            reasons.append(
                f"[{FLEET_HOLD_CODE}] {said}; rollback_if = {policy} rolls the fleet back only"
                f" above {math.floor(total * (policy.more_than or 0) / 100)}: roll those"
                " targets back on their own"
            )
    if holding:
        reasons.append(
            f"[{FLEET_HOLD_CODE}] {len(holding)} of {total} targets hold: {_named(holding)}"
        )
    if reasons:
        rolls = reasons[0].startswith(f"[{FLEET_ROLLBACK_CODE}]")
        return (Verdict.ROLLBACK if rolls else Verdict.HOLD), reasons
    return Verdict.GO, reasons


def _worst_first(targets: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(targets, key=lambda t: -Verdict(t["verdict"]).rank)


def _named(names: Sequence[str]) -> str:
    """Names, the first few of a long list, then how many in all."""
    if len(names) <= NAMED:
        return ", ".join(names)
    return f"{', '.join(names[:NAMED])} and {len(names) - NAMED} more"
