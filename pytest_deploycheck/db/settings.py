"""Settings of the prebuilt db suite (``[targets.NAME.suites.db]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.settings_table import Ranged, number, parse_table

MIGRATION_TOOLS = ("auto", "supabase", "alembic", "django", "flyway", "prisma", "golang-migrate")


@dataclass(frozen=True)
class DbSuiteSettings(Ranged):
    """Thresholds of the database checks and where the expected migrations are."""

    expect_replica: bool = False
    migrations_dir: str | None = None  # file name prefixes are the versions
    expected_versions: tuple[str, ...] = ()
    expected_latest: str | None = None
    migration_tool: str = "auto"
    sample_rows: int = number(5, 0, 1000)  # evidence rows kept per finding
    # rows an orphan or CHECK scan looks for, per constraint
    scan_limit: int = number(1000, 1, 1_000_000)
    scan_timeout_ms: int = number(2000, 0, 3_600_000, above=True)  # per constraint
    sequence_warn: float = number(0.85, 0, 1, above=True)
    sequence_critical: float = number(0.95, 0, 1, above=True)
    wraparound_warn: int = number(1_000_000_000, 0, 2_147_483_647, above=True)
    wraparound_critical: int = number(1_600_000_000, 0, 2_147_483_647, above=True)
    long_query_s: float = number(300.0, 0, 604_800)  # the runbook's five minutes
    idle_in_transaction_s: float = number(600.0, 0, 604_800)
    connections_hold: float = number(0.80, 0, 1)
    connections_rollback: float = number(0.95, 0, 1)
    replication_lag_s: float = number(30.0, 0, 86_400)
    archive_age_s: float = number(900.0, 0, 604_800, above=True)
    amcheck_phases: tuple[str, ...] = ("extended",)  # [] turns deep verification off
    amcheck_heapallindexed: bool = True  # also verify every heap row has its index entry
    amcheck_max_mb: int = number(1024, 0, 1_048_576)
    amcheck_timeout_ms: int = number(60000, 0, 86_400_000, above=True)
    # CHECK constraints calling the target's code that may stay unevaluated (``public.t.chk``)
    unevaluated_checks: tuple[str, ...] = ()
    snapshot_schemas: tuple[str, ...] = ()  # default: all but the system's and the platform's
    critical_tables: tuple[str, ...] = ()  # counted exactly before and after the deploy
    count_timeout_ms: int = number(5000, 0, 3_600_000, above=True)  # per critical table
    # the share of a critical table's rows that may go
    row_loss_max: float = number(0.10, 0, 1)
    acknowledged: tuple[str, ...] = ()  # objects whose loss or change is intended
    # calls since the snapshot before a query's time is judged
    query_min_calls: int = number(20, 1, 1_000_000_000)
    query_max_ratio: float = number(2.0, 1, 1000, above=True)
    # mean times under this per call are never a regression
    query_min_ms: float = number(1.0, 0, 3_600_000)
    # a table this large should not start being scanned whole
    large_table_rows: int = number(100_000, 0, 1_000_000_000_000)
    confirm_backups: bool = True  # false: backups are confirmed elsewhere
    backup_query: str | None = None  # SELECT the time the latest backup finished
    backup_command: str | None = None  # prints it (its last line)
    backup_url: str | None = None  # answers it in JSON, at backup_jmespath
    backup_jmespath: str = ""
    # a daily backup, and two hours' slack
    backup_max_age_s: float = number(93600.0, 0, 2_592_000, above=True)
    backup_timeout_s: float = number(30.0, 0, 3600, above=True)

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> DbSuiteSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        settings = parse_table(cls, table, {})
        for phase in settings.amcheck_phases:
            Phase.parse(phase)
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
