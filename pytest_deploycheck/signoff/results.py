"""Turns per-phase test reports (setup, call, teardown) into one result per check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_deploycheck.core.model import CheckResult, Evidence, Finding, Gate, Outcome, Severity
from pytest_deploycheck.core.phases import Phase


@dataclass
class _Entry:
    info: Mapping[str, Any]
    outcome: Outcome = Outcome.PASSED
    message: str = ""
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    flaky: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ran: bool = False  # a call report arrived, or setup ended the check early


class ResultBook:
    """Collects reports in any order (xdist interleaves them); lists results in collection order."""

    def __init__(self) -> None:
        self._order: dict[str, int] = {}
        self._entries: dict[str, _Entry] = {}

    def expect(self, nodeids: Iterable[str]) -> None:
        """Record the selected checks, in collection order."""
        self._order = {nodeid: index for index, nodeid in enumerate(nodeids)}

    @property
    def selected(self) -> int:
        """How many checks were selected to run."""
        return len(self._order)

    def add(
        self, nodeid: str, when: str, outcome: str, duration_s: float, info: Mapping[str, Any]
    ) -> None:
        """Fold one report; ``info`` is what the worker attached (identity, kind, message...)."""
        entry = self._entries.setdefault(nodeid, _Entry(info))
        entry.duration_s += duration_s
        if "findings" in info:
            entry.findings = [Finding(**f) for f in info["findings"]]
            entry.gates = [replace(Gate(**g), check=str(info["id"])) for g in info["gates"]]
            entry.evidence = [Evidence(**e) for e in info["evidence"]]
            entry.flaky = str(info["flaky"])
            entry.data = dict(info.get("data", {}))
        entry.ran = entry.ran or when == "call" or outcome != "passed"
        new = _outcome(when, outcome, info.get("kind"))
        if new is not None and _worse(new, entry.outcome):
            entry.outcome = new
            entry.message = str(info.get("message", ""))

    def clear(self) -> None:
        """Forget the reports so far (a watch window's next round), keeping the selection."""
        self._entries.clear()

    def results(self) -> list[CheckResult]:
        """One result per check that ran to the end, in collection order."""
        return [_result(nodeid, entry) for nodeid, entry in self._ordered()]

    def gates(self) -> list[Gate]:
        """The gates the checks measured, in collection order."""
        return [gate for _, entry in self._ordered() for gate in entry.gates]

    def _ordered(self) -> list[tuple[str, _Entry]]:
        last = len(self._order)
        ran = [(nodeid, entry) for nodeid, entry in self._entries.items() if entry.ran]
        return sorted(ran, key=lambda item: self._order.get(item[0], last))


_RANK = {Outcome.PASSED: 0, Outcome.SKIPPED: 1, Outcome.FAILED: 2, Outcome.ERROR: 3}


def _worse(new: Outcome, old: Outcome) -> bool:
    return _RANK[new] > _RANK[old]


def _outcome(when: str, outcome: str, kind: str | None) -> Outcome | None:
    if outcome == "passed":
        return None
    if outcome == "skipped":
        return Outcome.SKIPPED
    if when == "call" and kind == "failed":
        return Outcome.FAILED
    return Outcome.ERROR  # setup and teardown failures, and crashes, mean we could not check


def _result(nodeid: str, entry: _Entry) -> CheckResult:
    info = entry.info
    return CheckResult(
        id=str(info["id"]),
        nodeid=nodeid,
        suite=str(info["suite"]),
        phase=Phase(info["phase"]),
        severity=Severity(info["severity"]),
        outcome=entry.outcome,
        duration_s=round(entry.duration_s, 6),
        message=entry.message,
        findings=tuple(entry.findings),
        gates=tuple(entry.gates),
        evidence=tuple(entry.evidence),
        flaky=entry.flaky if entry.outcome is Outcome.PASSED else "",
        severity_source=str(info.get("severity_source", "")),
        data=entry.data,
    )
