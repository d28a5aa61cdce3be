"""The db suite's checks: migrations applied, data consistent, the server healthy — read-only."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, codes
from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase

IMMEDIATE, SHORT_TERM = (Phase.IMMEDIATE,), (Phase.SHORT_TERM,)
STANDARD, EXTENDED = (Phase.STANDARD,), (Phase.EXTENDED,)
CRITICAL, MAJOR = Severity.CRITICAL, Severity.MAJOR
DATA, HEALTH = Category.DATA, Category.DATABASE
MIGRATION = (
    "Rollback Procedures, option 3: database rollback; the runbook's rollback trigger 'database "
    "migration fails'."
)
CORRUPTION = "Database Corruption: stop writes, assess integrity, restore from the backup."
STALLED = (
    "Troubleshooting: database migration stalled; find the blocking session "
    "(pg_stat_activity, pg_locks) and cancel it."
)
POOL = "Troubleshooting: database connection pool exhausted; kill idle connections, then scale."

CATALOGUE = Catalogue(
    [
        Check(
            "db.connectivity",
            IMMEDIATE,
            CRITICAL,
            (
                *codes(Category.SETUP, "db-not-read-only"),
                *codes(HEALTH, "db-version", "db-recovery"),
            ),
            "Troubleshooting: smoke tests failing; check the database's connectivity and role.",
        ),
        Check(
            "db.migrations",
            IMMEDIATE,
            CRITICAL,
            (
                *codes(
                    DATA, "migrations", "migration_failed", "migration_pending", "migration_unknown"
                ),
                *codes(Category.SETUP, "migrations-unknown", "migrations-dir"),
            ),
            MIGRATION,
            gated=True,
        ),
        Check("db.invalid_indexes", IMMEDIATE, MAJOR, codes(HEALTH, "invalid_index"), STALLED),
        Check(
            "db.not_valid_constraints",
            IMMEDIATE,
            MAJOR,
            codes(DATA, "not_valid_constraint"),
            MIGRATION,
        ),
        Check("db.disabled_triggers", IMMEDIATE, MAJOR, codes(DATA, "disabled_trigger"), MIGRATION),
        Check("db.blocked_sessions", IMMEDIATE, MAJOR, codes(HEALTH, "blocked_session"), STALLED),
        Check(
            "db.connections",
            IMMEDIATE,
            CRITICAL,
            codes(HEALTH, "connection_saturation"),
            POOL,
            gated=True,
        ),
        Check("db.long_queries", SHORT_TERM, MAJOR, codes(HEALTH, "long_running_query"), STALLED),
        Check(
            "db.idle_in_transaction", SHORT_TERM, MAJOR, codes(HEALTH, "idle_in_transaction"), POOL
        ),
        Check("db.fk_orphans", STANDARD, CRITICAL, codes(DATA, "fk_orphan"), CORRUPTION),
        Check(
            "db.check_violations", STANDARD, CRITICAL, codes(DATA, "check_violation"), CORRUPTION
        ),
        Check(
            "db.sequences",
            STANDARD,
            CRITICAL,
            codes(HEALTH, "sequence_exhaustion"),
            "Emergency Procedures: a sequence about to run out stops every insert; widen the "
            "column (bigint) or reset the sequence before it does.",
            gated=True,
        ),
        Check(
            "db.wraparound",
            STANDARD,
            CRITICAL,
            codes(HEALTH, "xid_wraparound"),
            "Emergency Procedures: transaction-ID wraparound stops writes; vacuum the oldest "
            "database now.",
            gated=True,
        ),
        Check(
            "db.replication_lag",
            EXTENDED,
            MAJOR,
            codes(HEALTH, "replication_lag"),
            "Extended validation: check replication lag; Database failover if a replica is lost.",
        ),
        Check(
            "db.wal_archiving",
            EXTENDED,
            MAJOR,
            codes(HEALTH, "wal_archiving"),
            "Extended validation: verify backups running; fix the archiver before relying on a "
            "restore.",
        ),
        Check("db.amcheck", EXTENDED, CRITICAL, codes(DATA, "amcheck"), CORRUPTION),
    ]
)
