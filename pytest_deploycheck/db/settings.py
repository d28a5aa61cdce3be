"""Settings of the prebuilt db suite (``[targets.NAME.suites.db]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.core.phases import Phase
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
    amcheck_phases: tuple[str, ...] = ("extended",)  # [] turns deep verification off
    amcheck_heapallindexed: bool = True  # also verify every heap row has its index entry
    amcheck_max_mb: int = 1024
    amcheck_timeout_ms: int = 60000
    snapshot_schemas: tuple[str, ...] = ()  # default: all but the system's and the platform's
    critical_tables: tuple[str, ...] = ()  # counted exactly before and after the deploy
    count_timeout_ms: int = 5000  # per critical table
    row_loss_max: float = 0.10  # the share of a critical table's rows that may go
    acknowledged: tuple[str, ...] = ()  # objects whose loss or change is intended
    query_min_calls: int = 20  # calls since the snapshot before a query's time is judged
    query_max_ratio: float = 2.0
    query_min_ms: float = 1.0  # mean times under this per call are never a regression
    large_table_rows: int = 100_000  # a table this large should not start being scanned whole
    confirm_backups: bool = True  # false: backups are confirmed elsewhere
    backup_query: str | None = None  # SELECT the time the latest backup finished
    backup_command: str | None = None  # prints it (its last line)
    backup_url: str | None = None  # answers it in JSON, at backup_jmespath
    backup_jmespath: str = ""
    backup_max_age_s: float = 93600.0  # a daily backup, and two hours' slack
    backup_timeout_s: float = 30.0

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> DbSuiteSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        settings = parse_table(cls, table, {})
        for phase in settings.amcheck_phases:
            Phase.parse(phase)
        if not 0 <= settings.row_loss_max <= 1:
            raise ValueError("row_loss_max must be a share between 0 and 1")
        if settings.query_max_ratio <= 1:
            raise ValueError("query_max_ratio must be above 1")
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
