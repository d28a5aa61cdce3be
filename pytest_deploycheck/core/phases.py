"""The runbook's validation phases and everything known about each: the one table every
marker, default, window and report order is read from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pytest_deploycheck.core.model import Severity


class Phase(str, Enum):
    """The runbook's validation phases, in the order they run after a deploy."""

    IMMEDIATE = "immediate"
    SHORT_TERM = "short_term"
    STANDARD = "standard"
    EXTENDED = "extended"

    @classmethod
    def parse(cls, name: str) -> Phase:
        """Read a phase name; ``short-term`` and ``short_term`` are the same phase."""
        try:
            return cls(name.strip().lower().replace("-", "_"))
        except ValueError:
            raise ValueError(f"unknown phase {name!r} (choose from {NAMES})") from None

    @property
    def rank(self) -> int:
        """Position in the runbook's order, from 1."""
        return list(Phase).index(self) + 1

    @property
    def span(self) -> str:
        """When the runbook runs it, after the deploy."""
        return _FACTS[self].span

    @property
    def window_s(self) -> float | None:
        """The length of a watch window over this phase (``--deploy-window=auto``)."""
        return _FACTS[self].window_s

    @property
    def severity(self) -> Severity:
        """The severity of a check of this phase that names none."""
        return _FACTS[self].severity


@dataclass(frozen=True)
class _Facts:
    span: str
    window_s: float | None
    severity: Severity


# The runbook's user smoke tests run first and a failure there rolls back.
_FACTS = {
    Phase.IMMEDIATE: _Facts("0-5 min after the deploy", None, Severity.CRITICAL),
    Phase.SHORT_TERM: _Facts("5-30 min after the deploy", 1800.0, Severity.MAJOR),
    Phase.STANDARD: _Facts("30 min-2 h after the deploy", 7200.0, Severity.MAJOR),
    Phase.EXTENDED: _Facts("2-24 h after the deploy", 86400.0, Severity.MAJOR),
}
NAMES = ", ".join(phase.value for phase in Phase)
