"""The sign-off as lines of text, for the terminal."""

from __future__ import annotations

from collections import Counter

from pytest_deploycheck.core.model import Outcome
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.signoff.document import SignOff

_COLUMNS = [outcome.value for outcome in Outcome]


def lines(signoff: SignOff) -> list[str]:
    """The verdict in one line, then the reasons, advisories and a per-phase/suite table."""
    verdict = signoff.decision.verdict
    where = f"target {signoff.target_name}"
    if signoff.version:
        where += f", version {signoff.version}"
    out = [f"VERDICT: {verdict.value} (exit {verdict.exit_code}) - {where}"]
    out += [f"  {reason.text}" for reason in signoff.decision.reasons]
    out += [f"  [advisory] {text}" for text in signoff.decision.advisories]
    return [one_line(line) for line in out] + _table(signoff)


def _table(signoff: SignOff) -> list[str]:
    counts: Counter[tuple[str, str, str]] = Counter(
        (check.phase.value, check.suite, check.outcome.value) for check in signoff.checks
    )
    rows = sorted({(phase, suite) for phase, suite, _ in counts}, key=_row_order)
    if not rows:
        return []
    width = max(len("suite"), *(len(suite) for _, suite in rows))
    header = f"  {'phase':<11} {'suite':<{width}} " + " ".join(f"{c:>7}" for c in _COLUMNS)
    body = [
        f"  {phase:<11} {suite:<{width}} "
        + " ".join(f"{counts[(phase, suite, c)]:>7}" for c in _COLUMNS)
        for phase, suite in rows
    ]
    return ["", header, *body]


def _row_order(row: tuple[str, str]) -> tuple[int, str]:
    return Phase(row[0]).rank, row[1]
