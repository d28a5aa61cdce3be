"""Settings of the prebuilt db suite (``[targets.NAME.suites.db]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.core.settings_table import parse_table

MIGRATION_TOOLS = ("auto", "supabase", "alembic", "django", "flyway", "prisma", "golang-migrate")


@dataclass(frozen=True)
class DbSuiteSettings:
    """Thresholds of the database checks and where the expected migrations are."""

    expect_replica: bool = False
    migrations_dir: str | None = None  # file name prefixes are the versions
    expected_versions: tuple[str, ...] = ()
    expected_latest: str | None = None
    migration_tool: str = "auto"
    sample_rows: int = 5  # evidence rows kept per finding
    scan_limit: int = 1000  # rows an orphan or CHECK scan looks for, per constraint
    scan_timeout_ms: int = 2000  # per constraint
    sequence_warn: float = 0.85
    sequence_critical: float = 0.95
    wraparound_warn: int = 1_000_000_000
    wraparound_critical: int = 1_600_000_000
    long_query_s: float = 300.0  # the runbook's five minutes
    idle_in_transaction_s: float = 600.0
    connections_hold: float = 0.80
    connections_rollback: float = 0.95
    replication_lag_s: float = 30.0
    archive_age_s: float = 900.0
    deep: bool = False  # amcheck in the extended phase
    amcheck_heapallindexed: bool = True  # also verify every heap row has its index entry
    amcheck_max_mb: int = 1024
    amcheck_timeout_ms: int = 60000

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> DbSuiteSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        settings = parse_table(cls, table, {})
        if settings.migration_tool not in MIGRATION_TOOLS:
            raise ValueError(f"migration_tool must be one of {', '.join(MIGRATION_TOOLS)}")
        ordered = [
            ("sequence_warn", "sequence_critical"),
            ("wraparound_warn", "wraparound_critical"),
            ("connections_hold", "connections_rollback"),
        ]
        for low, high in ordered:
            if getattr(settings, low) > getattr(settings, high):
                raise ValueError(f"{low} must not exceed {high}")
        return settings
