"""The sign-off as lines of text, for the terminal: the decision block, then a table of the
checks by phase and suite."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from pytest_deploycheck.core.model import Outcome
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.report.decision import TARGET_COLUMNS, decision, target_rows

_COLUMNS = [outcome.value for outcome in Outcome]


def lines(document: Mapping[str, Any], signoff: str) -> list[str]:
    """The decision block, then the per-phase/suite table (a fleet's: per target)."""
    if "targets" in document:
        return decision(document, signoff) + _targets(document)
    return decision(document, signoff) + _table(document)


def _targets(document: Mapping[str, Any]) -> list[str]:
    rows = [TARGET_COLUMNS, *target_rows(document)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TARGET_COLUMNS))]
    return [
        "",
        *(
            "  " + "  ".join(f"{v:<{w}}" for v, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ),
    ]


def _table(document: Mapping[str, Any]) -> list[str]:
    counts: Counter[tuple[str, str, str]] = Counter(
        (check["phase"], check["suite"], check["outcome"]) for check in document["checks"]
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
