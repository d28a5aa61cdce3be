"""The verdict engine: pure functions from check results and gates to GO, HOLD or ROLLBACK."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from pytest_deploycheck.core.model import (
    NOT_CONFIGURED_CODE,
    CheckResult,
    Gate,
    Outcome,
    Severity,
    figure,
)
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.policy import DEFAULT_POLICY, Policy
from pytest_deploycheck.core.stats import exact_lower_bound, samples_needed, wilson_interval


class Verdict(str, Enum):
    """What the pipeline should do with the deployment; ordered from best to worst."""

    GO = "GO"
    HOLD = "HOLD"
    ROLLBACK = "ROLLBACK"

    @property
    def exit_code(self) -> int:
        """The process exit status a pipeline acts on."""
        return _EXIT_CODES[self]

    @property
    def rank(self) -> int:
        """Position from best (0) to worst."""
        return list(Verdict).index(self)


_EXIT_CODES = {Verdict.GO: 0, Verdict.HOLD: 10, Verdict.ROLLBACK: 20}

# The reason code of a failed check, by its severity, and of a gate, by its status.
FAILURE_CODES = {Severity.CRITICAL: "critical-failure", Severity.MAJOR: "major-failure"}
GATE_CODES = {"rollback": "gate-rollback", "hold": "gate-hold"}
# The verdict a gate's status calls for.
STATUS_VERDICT = {"pass": Verdict.GO, "hold": Verdict.HOLD, "rollback": Verdict.ROLLBACK}

ERROR_CODE = "could-not-check"  # a check that stopped with an error, not a finding
# A fleet's own reasons: targets call for ROLLBACK beyond [fleet] rollback_if, or hold; a
# target whose run wrote no sign-off.
FLEET_ROLLBACK_CODE = "fleet-rollback"
FLEET_HOLD_CODE = "fleet-hold"
NOT_CHECKED_CODE = "target-not-checked"

# The reason codes a sign-off's reasons and advisories start with, and the verdict each calls
# for: a failed check's by its severity, a gate's by its status, the run's own faults (the
# session glue reports interruptions, collection and internal errors, a superuser session on
# production); a hook's override calls for whatever it says (None), a flaky check for nothing.
SIGNOFF_CODES: dict[str, Verdict | None] = {
    "override": None,
    "flaky": Verdict.GO,
    "critical-failure": Verdict.ROLLBACK,
    "gate-rollback": Verdict.ROLLBACK,
    "major-failure": Verdict.HOLD,
    "gate-hold": Verdict.HOLD,
    ERROR_CODE: Verdict.HOLD,
    NOT_CONFIGURED_CODE: Verdict.HOLD,
    "incomplete": Verdict.HOLD,
    "nothing-collected": Verdict.HOLD,
    "interrupted": Verdict.HOLD,
    "collection-error": Verdict.HOLD,
    "internal-error": Verdict.HOLD,
    "db-superuser": Verdict.HOLD,
    FLEET_ROLLBACK_CODE: Verdict.ROLLBACK,
    FLEET_HOLD_CODE: Verdict.HOLD,
    NOT_CHECKED_CODE: Verdict.HOLD,
}


@dataclass(frozen=True)
class Run:
    """Everything the engine needs to know about one run."""

    checks: Sequence[CheckResult]
    gates: Sequence[Gate] = ()
    selected: int | None = None  # checks selected to run; None when unknown
    phases: Sequence[Phase] = ()
    problems: Sequence[
        str
    ] = ()  # run-level faults (interrupted, collection errors), each "[code] ..."


@dataclass(frozen=True)
class Reason:
    """One cause of the verdict: the verdict it calls for and a line that starts with its code."""

    verdict: Verdict
    text: str


@dataclass(frozen=True)
class Decision:
    """The verdict, the reasons that call for it, and advisory findings that do not block."""

    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    advisories: tuple[str, ...] = field(default=())
    levels: Mapping[str, Verdict] = field(default_factory=dict)  # nodeid -> more than GO


def decide(run: Run, policy: Policy = DEFAULT_POLICY) -> Decision:
    """Decide GO, HOLD or ROLLBACK; an empty, partial or interrupted run is never GO."""
    levels = {check.nodeid: level(check, policy) for check in run.checks}
    reasons = [*_run_reasons(run), *_check_reasons(run.checks, levels), *_gate_reasons(run.gates)]
    reasons.sort(key=lambda reason: -reason.verdict.rank)
    advisories = tuple(
        f"{check.id}: {check.message}".rstrip(": ")
        for check in run.checks
        if check.outcome is Outcome.FAILED
        and check.severity not in policy.rollback_severities | policy.hold_severities
    ) + tuple(f"[flaky] {check.id}: {check.flaky}" for check in run.checks if check.flaky)
    verdict = reasons[0].verdict if reasons else Verdict.GO
    return Decision(
        verdict,
        tuple(r for r in reasons if r.verdict is not Verdict.GO),
        advisories,
        {nodeid: found for nodeid, found in levels.items() if found is not Verdict.GO},
    )


def level(check: CheckResult, policy: Policy = DEFAULT_POLICY) -> Verdict:
    """What a check's result calls for: its worst measured gate's level (a watch window's
    gate too), else a failure's by its severity, HOLD when it could not check, else GO."""
    gates = [STATUS_VERDICT[gate.status] for gate in check.gates]
    if any(found is not Verdict.GO for found in gates):
        return max(gates, key=lambda found: found.rank)
    if check.outcome is Outcome.FAILED and check.severity in policy.rollback_severities:
        return Verdict.ROLLBACK
    if check.outcome is Outcome.FAILED and check.severity in policy.hold_severities:
        return Verdict.HOLD
    return Verdict.HOLD if check.outcome is Outcome.ERROR else Verdict.GO


def override(decision: Decision, verdict: Verdict, why: str) -> Decision:
    """A decision replaced by a hook, keeping the original reasons for the record."""
    note = Reason(verdict, f"[override] {decision.verdict.value} -> {verdict.value}: {why}")
    return Decision(verdict, (note, *decision.reasons), decision.advisories, decision.levels)


def error_rate_gate(name: str, errors: int, total: int, policy: Policy = DEFAULT_POLICY) -> Gate:
    """A gate on an error rate measured once, that knows how sure it is.

    ROLLBACK only when the rate's exact lower 99 % bound is above the rollback threshold (at
    a true rate at the threshold, at most 1 % of measurements roll back); GO only when the
    observed rate is within the hold threshold *and* the 95 % interval's top is below the
    rollback threshold; everything in between, too few samples included, is HOLD. One burst
    cannot prove a rate under 1 %: a watch window can (``window.judge``).
    """
    hold, rollback = policy.error_rate_hold, policy.error_rate_rollback
    if total <= 0:
        return Gate(
            name, None, hold, "hold", "no requests were measured", 0, 0.0, 1.0, unit="ratio"
        )
    rate = errors / total
    low = exact_lower_bound(errors, total, 0.01)
    high = wilson_interval(errors, total)[1]
    detail = (
        f"{errors} of {total} requests failed (lower 99 % bound {low:.1%}, upper 95 % {high:.1%})"
    )
    if low > rollback:
        status, threshold = "rollback", rollback
    elif rate > hold:
        status, threshold = "hold", hold
    elif high > rollback:
        more = samples_needed(rate, rollback) - total
        status, threshold = "hold", rollback
        detail += f"; inconclusive, need about {more} more samples"
    else:
        status, threshold = "pass", hold
    return Gate(name, rate, threshold, status, detail, total, low, high, unit="ratio")


def _run_reasons(run: Run) -> list[Reason]:
    reasons = [Reason(Verdict.HOLD, problem) for problem in run.problems]
    phases = ", ".join(p.value for p in run.phases) or "any phase"
    if run.selected == 0 or (run.selected is None and not run.checks):
        reasons.append(Reason(Verdict.HOLD, f"[nothing-collected] no checks selected for {phases}"))
    elif run.selected is not None and len(run.checks) < run.selected:
        missing = run.selected - len(run.checks)
        reasons.append(
            Reason(Verdict.HOLD, f"[incomplete] {missing} of {run.selected} checks did not run")
        )
    return reasons


def _check_reasons(checks: Sequence[CheckResult], levels: Mapping[str, Verdict]) -> list[Reason]:
    """One reason per cause: checks that failed alike (the same message but for the paths of
    its URLs, as every probe of a server that is down) share one, naming each check."""
    found: dict[tuple[Verdict, str, str], list[str]] = {}  # (verdict, code, cause) -> ids
    said: dict[tuple[Verdict, str, str], str] = {}  # the first message of each cause
    unconfigured: dict[str, str] = {}
    for check in checks:
        if check.outcome is Outcome.FAILED and any(g.status != "pass" for g in check.gates):
            continue  # failed on a measured gate: the gate's own reason sets the level
        verdict = levels[check.nodeid]
        key: tuple[Verdict, str, str] | None = None
        if check.outcome is Outcome.FAILED and verdict is not Verdict.GO:
            key = (verdict, str(FAILURE_CODES.get(check.severity)), _cause(check.message))
        elif check.outcome is Outcome.ERROR:
            key = (Verdict.HOLD, ERROR_CODE, _cause(check.message))
        elif check.outcome is Outcome.SKIPPED and check.code == NOT_CONFIGURED_CODE:
            why = check.message.removeprefix(f"[{NOT_CONFIGURED_CODE}]").strip()
            unconfigured.setdefault(check.suite, why)
        if key is not None:
            found.setdefault(key, []).append(check.id)
            said.setdefault(key, check.message)
    reasons = [
        Reason(key[0], f"[{key[1]}] {_checks(ids)}: {said[key]}".rstrip(": "))
        for key, ids in found.items()
    ]
    reasons += [
        Reason(Verdict.HOLD, f"[{NOT_CONFIGURED_CODE}] suite {suite} was skipped: {why}")
        for suite, why in unconfigured.items()
    ]
    return reasons


_URL_PATH = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s]+)/\S*")


def _cause(message: str) -> str:
    """A message without the paths of its URLs: what makes two failures one cause."""
    return _URL_PATH.sub(r"\1/…", message)


def _checks(ids: list[str]) -> str:
    """One check's id, or several that stopped for the same reason, counted."""
    if len(ids) == 1:
        return ids[0]
    shown = ", ".join(ids[1:4]) + (", ..." if len(ids) > 4 else "")
    return f"{ids[0]} and {len(ids) - 1} more ({shown})"


def _gate_reasons(gates: Sequence[Gate]) -> list[Reason]:
    """One reason per gate, or per set of gates that read alike (every latency gate of a
    server that answered nothing), naming each gate."""
    alike: dict[tuple[str, str], list[str]] = {}  # (status, what it says) -> gate names
    for gate in gates:
        if gate.status in GATE_CODES:
            alike.setdefault((gate.status, _describe(gate)), []).append(gate.name)
    return [
        Reason(STATUS_VERDICT[status], f"[{GATE_CODES[status]}] {_names(names)}{text}")
        for (status, text), names in alike.items()
    ]


def _names(names: list[str]) -> str:
    """Gate names, the words they all start with said once: ``latency.p95 GET /a, /b``."""
    words = [name.split(" ") for name in names]
    common = 0  # words all the names start with, leaving each at least one of its own
    while all(len(w) > common + 1 and w[common] == words[0][common] for w in words):
        common += 1
    rests = ", ".join(" ".join(w[common:]) for w in words)
    return " ".join([*words[0][:common], rests])


def _describe(gate: Gate) -> str:
    """A gate's figures and detail, after its name."""
    text = f" = {figure(gate.value, gate.unit)} (limit {figure(gate.threshold, gate.unit)})"
    return f"{text}: {gate.detail}" if gate.detail else text
