"""Is the deployment's database reachable, migrated, intact and healthy — checked read-only.

Every check runs on one read-only connection per worker with statement, lock and
idle-in-transaction timeouts; a check blocked by a lock gives up and reports that it could not
check. Settings: ``[targets.NAME.suites.db]`` (see the README's db suite section).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.db import rules as db_rules
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.fixtures import Record
from pytest_deploycheck.net.postgres import fetch


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> DbSuiteSettings:
    return DbSuiteSettings.parse(deploy_target.suite("db"))


def judge(record: Record, result: db_rules.RuleResult, settings: DbSuiteSettings) -> None:
    """Record what the rule found and fail when it found anything."""
    for gate in result.gates:
        record.gate(gate)
    if not result.findings:
        return
    for found in result.findings:
        record.finding(found.rule, found.object, found.message)
    record.attach(f"{result.rule}.csv", result.evidence(settings.sample_rows), "text/csv")
    named = ", ".join(f.object for f in result.findings[:5])
    more = f" and {len(result.findings) - 5} more" if len(result.findings) > 5 else ""
    pytest.fail(
        f"[{result.rule}] {result.findings[0].message}; objects: {named}{more}", pytrace=False
    )


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.connectivity", severity="critical")
def test_connectivity(db: Any, settings: DbSuiteSettings) -> None:
    _, rows = fetch(
        db,
        "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(),"
        " current_setting('transaction_read_only')",
    )
    version_num, in_recovery, read_only = rows[0]
    assert read_only == "on", "[db-not-read-only] the check session is not read-only"
    assert version_num >= 120000, f"[db-version] PostgreSQL {version_num} is older than 12"
    assert in_recovery == settings.expect_replica, (
        f"[db-recovery] server in recovery is {in_recovery}, expected {settings.expect_replica}"
    )


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.migrations", severity="critical")
def test_migrations(
    db: Any, settings: DbSuiteSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    base = deploy_settings.config_path.parent if deploy_settings.config_path else Path.cwd()
    result = db_rules.migrations(db, settings, base)
    if not result.gates:
        pytest.skip(result.note)
    judge(deploy_record, result, settings)


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.invalid_indexes", severity="major")
def test_invalid_indexes(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.invalid_indexes(db, settings), settings)


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.not_valid_constraints", severity="major")
def test_not_valid_constraints(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.not_valid_constraints(db, settings), settings)


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.disabled_triggers", severity="major")
def test_disabled_triggers(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.disabled_triggers(db, settings), settings)


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.blocked_sessions", severity="major")
def test_blocked_sessions(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.blocked_sessions(db, settings), settings)


@pytest.mark.immediate
@pytest.mark.deploy_check(id="db.connections", severity="critical")
def test_connections(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.connections(db, settings), settings)


@pytest.mark.short_term
@pytest.mark.deploy_check(id="db.long_queries", severity="major")
def test_long_queries(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.long_queries(db, settings), settings)


@pytest.mark.short_term
@pytest.mark.deploy_check(id="db.idle_in_transaction", severity="major")
def test_idle_in_transaction(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.idle_in_transaction(db, settings), settings)


@pytest.mark.standard
@pytest.mark.deploy_check(id="db.fk_orphans", severity="critical")
def test_fk_orphans(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.fk_orphans(db, settings), settings)


@pytest.mark.standard
@pytest.mark.deploy_check(id="db.check_violations", severity="critical")
def test_check_violations(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.check_violations(db, settings), settings)


@pytest.mark.standard
@pytest.mark.deploy_check(id="db.sequences", severity="critical")
def test_sequences(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.sequences(db, settings), settings)


@pytest.mark.standard
@pytest.mark.deploy_check(id="db.wraparound", severity="critical")
def test_wraparound(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.wraparound(db, settings), settings)


@pytest.mark.extended
@pytest.mark.deploy_check(id="db.replication_lag", severity="major")
def test_replication_lag(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.replication_lag(db, settings), settings)


@pytest.mark.extended
@pytest.mark.deploy_check(id="db.wal_archiving", severity="major")
def test_wal_archiving(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    judge(deploy_record, db_rules.wal_archiving(db, settings), settings)


@pytest.mark.extended
@pytest.mark.deploy_check(id="db.amcheck", severity="critical")
def test_amcheck(db: Any, settings: DbSuiteSettings, deploy_record: Record) -> None:
    if not settings.deep:
        pytest.skip("deep verification is opt-in: suites.db.deep = true")
    result = db_rules.amcheck(db, settings)
    if result.note and not result.findings:
        pytest.skip(result.note)
    judge(deploy_record, result, settings)
