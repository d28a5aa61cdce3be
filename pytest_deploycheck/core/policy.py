"""The thresholds and severities a verdict is decided by (defaults from the runbook)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_deploycheck.core.model import Severity


@dataclass(frozen=True)
class Policy:
    """Thresholds and severities the verdict is decided by (defaults from the runbook)."""

    error_rate_hold: float = 0.01
    error_rate_rollback: float = 0.10
    baseline_error_ratio: float = 2.0  # a window's error rate may reach this times the baseline's
    rollback_severities: frozenset[Severity] = frozenset({Severity.CRITICAL})
    hold_severities: frozenset[Severity] = frozenset({Severity.MAJOR})

    def __post_init__(self) -> None:
        if not 0 <= self.error_rate_hold <= self.error_rate_rollback <= 1:
            raise ValueError(
                "error rates must satisfy 0 <= error_rate_hold <= error_rate_rollback <= 1"
            )


DEFAULT_POLICY = Policy()
