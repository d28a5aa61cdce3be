"""The runbook's validation phases and everything known about each: the one table every
marker, default, window and report order is read from."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_deploycheck.core.model import Severity


class Phase(str, Enum):
    """The runbook's validation phases, in the order they run: one before the deploy, four
    after it."""

    PRE_DEPLOY = "pre_deploy"
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
        return _FACTS[self][0]

    @property
    def window_s(self) -> float | None:
        """The length of a watch window over this phase (``--deploy-window=auto``)."""
        return _FACTS[self][1]

    @property
    def budget_s(self) -> float:
        """How long a run over this phase may take (the length of its span in the runbook)."""
        return _FACTS[self][3]

    @property
    def severity(self) -> Severity:
        """The severity of a check of this phase that names none."""
        from pytest_deploycheck.core.model import Severity

        return Severity(_FACTS[self][2])


# phase -> (the runbook's span, default watch window in seconds, default severity, default
# run budget in seconds). Plain values: the plugin reads this table in every pytest run. The
# runbook's user smoke tests run first and a failure there rolls back; before the deploy, a
# failure holds it: nothing is deployed yet, a person decides whether to go ahead.
_FACTS: dict[Phase, tuple[str, float | None, str, float]] = {
    Phase.PRE_DEPLOY: ("before the deploy", None, "major", 600.0),
    Phase.IMMEDIATE: ("0-5 min after the deploy", None, "critical", 300.0),
    Phase.SHORT_TERM: ("5-30 min after the deploy", 1800.0, "major", 1500.0),
    Phase.STANDARD: ("30 min-2 h after the deploy", 7200.0, "major", 5400.0),
    Phase.EXTENDED: ("2-24 h after the deploy", 86400.0, "major", 79200.0),
}
NAMES = ", ".join(phase.value for phase in Phase)
AFTER_DEPLOY = tuple(phase for phase in Phase if phase is not Phase.PRE_DEPLOY)
