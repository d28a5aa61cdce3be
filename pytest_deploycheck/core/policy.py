"""The thresholds and severities a verdict is decided by (defaults from the runbook)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.settings_table import Ranged, number


@dataclass(frozen=True)
class Policy(Ranged):
    """Thresholds and severities the verdict is decided by (defaults from the runbook)."""

    error_rate_hold: float = number(0.01, 0, 1)
    error_rate_rollback: float = number(0.10, 0, 1)
    # a window's error rate may reach this times the baseline's
    baseline_error_ratio: float = number(2.0, 1, 1000)
    rollback_severities: frozenset[Severity] = frozenset({Severity.CRITICAL})
    hold_severities: frozenset[Severity] = frozenset({Severity.MAJOR})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.error_rate_hold > self.error_rate_rollback:
            raise ValueError("error_rate_hold must not exceed error_rate_rollback")


DEFAULT_POLICY = Policy()
