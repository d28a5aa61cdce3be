"""The db suite's checks: migrations applied, data consistent, the server healthy — read-only."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, Code, codes
from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase

PRE_DEPLOY, IMMEDIATE, SHORT_TERM = (Phase.PRE_DEPLOY,), (Phase.IMMEDIATE,), (Phase.SHORT_TERM,)
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
DATA_LOSS = (
    "Pre-Deployment Checklist: no data loss in migration; Rollback Procedures, option 3: roll"
    " the database back (restore the backup taken before the deploy)."
)
COMPATIBLE = (
    "Pre-Deployment Checklist: schema changes backward compatible; deploy in two steps (expand:"
    " add, backfill, switch; contract: drop once the version before is gone)."
)

DATA_LOSS_CHECK = "db.data_loss"  # the postmortem reads its result for "Data loss"

CATALOGUE = Catalogue(
    [
        Check(
            "db.snapshot",
            PRE_DEPLOY,
            MAJOR,
            codes(Category.SETUP, "snapshot-incomplete"),
            "Pre-Deployment Checklist: data backup confirmed, migrations tested; the snapshot is"
            " what the checks after the deploy compare with.",
        ),
        Check(
            "db.pending_migrations",  # fails with db.migrations' migration_failed
            PRE_DEPLOY,
            MAJOR,
            (),
            "Pre-Deployment Checklist: database migrations tested; repair a failed or dirty"
            " migration before deploying onto it.",
        ),
        Check(
            "db.backup",
            PRE_DEPLOY,
            MAJOR,
            (*codes(DATA, "backup-stale"), *codes(Category.SETUP, "backup-unknown")),
            "Pre-Deployment Checklist: data backup confirmed; take one (and check it restores)"
            " before deploying.",
        ),
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
                    DATA,
                    "migrations",
                    "migration_failed",
                    "migration_pending",
                    "migration_unknown",
                    "migration_modified",
                ),
                *codes(Category.SETUP, "migrations-unknown", "migrations-dir"),
            ),
            MIGRATION,
            gated=True,
        ),
        Check(
            "db.migration_files",
            (Phase.PRE_DEPLOY, Phase.IMMEDIATE),
            Severity.MINOR,
            codes(
                Category.SETUP,
                "migration_file_ignored",
                "migration_file_changed",
                "migration_file_unread",
            ),
            "Pre-Deployment Checklist: database migrations tested; a file its tool passes over"
            " is never applied: rename it as the tool names migrations, or move it out. A script"
            " changed after it was applied never runs again: restore it as applied, and put the"
            " change in a new migration.",
        ),
        Check(
            DATA_LOSS_CHECK,
            IMMEDIATE,
            CRITICAL,
            codes(DATA, "data-loss", "sequence-backwards"),
            DATA_LOSS,
        ),
        Check(
            "db.backward_compatible",
            IMMEDIATE,
            MAJOR,
            codes(DATA, "not-backward-compatible"),
            COMPATIBLE,
        ),
        Check(
            "db.schema_changes",
            IMMEDIATE,
            Severity.MINOR,
            codes(DATA, "schema-change-acknowledged"),
            COMPATIBLE,
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
        Check(
            "db.blocked_sessions",
            IMMEDIATE,
            MAJOR,
            codes(HEALTH, "lock_holder", "blocked_session"),
            STALLED,
        ),
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
            "db.query_regressions",
            SHORT_TERM,
            MAJOR,
            codes(Category.PERFORMANCE, "query-regression", "new-seq-scan"),
            "Post-Deployment: database queries normal; compare with the baseline, then look for"
            " a dropped index or a changed query plan (EXPLAIN).",
        ),
        Check(
            "db.idle_in_transaction", SHORT_TERM, MAJOR, codes(HEALTH, "idle_in_transaction"), POOL
        ),
        Check("db.fk_orphans", STANDARD, CRITICAL, codes(DATA, "fk_orphan"), CORRUPTION),
        Check(
            "db.check_violations",
            STANDARD,
            CRITICAL,
            (
                *codes(DATA, "check_violation"),
                Code(
                    "check-not-evaluated",
                    Category.SETUP,
                    "let the checking role act as the table's owner (GRANT owner TO checker), or"
                    " list the constraint in unevaluated_checks",
                ),
            ),
            CORRUPTION,
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
        Check(
            "db.amcheck",
            (Phase.PRE_DEPLOY, Phase.IMMEDIATE, Phase.EXTENDED),  # where amcheck_phases says
            CRITICAL,
            codes(DATA, "amcheck"),
            CORRUPTION,
        ),
    ]
)
