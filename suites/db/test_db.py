"""Is the deployment's database reachable, migrated, intact and healthy — checked read-only.

Every check runs on one read-only connection per worker with statement, lock and
idle-in-transaction timeouts; a check blocked by a lock gives up and reports that it could not
check. Settings: ``[targets.NAME.suites.db]`` (see the README's db suite section).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.db import migrations, rules, scans
from pytest_deploycheck.db.catalogue import CATALOGUE
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.fixtures import Record, catalogued
from pytest_deploycheck.net.postgres import RuleResult

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> DbSuiteSettings:
    return DbSuiteSettings.parse(deploy_target.suite("db"))


def conclude(record: Record, result: RuleResult, settings: DbSuiteSettings) -> None:
    record.conclude(result.result(settings.sample_rows))


@catalogued(CATALOGUE["db.connectivity"])
def test_connectivity(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    deploy_record.conclude(rules.connectivity(db, settings))


@catalogued(CATALOGUE["db.migrations"])
def test_migrations(
    db: Connection, settings: DbSuiteSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    base = deploy_settings.config_path.parent if deploy_settings.config_path else Path.cwd()
    result = migrations.migrations(db, settings, base)
    if not result.gates:
        pytest.skip(result.note)
    conclude(deploy_record, result, settings)


@catalogued(CATALOGUE["db.invalid_indexes"])
def test_invalid_indexes(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.invalid_indexes(db, settings), settings)


@catalogued(CATALOGUE["db.not_valid_constraints"])
def test_not_valid_constraints(
    db: Connection, settings: DbSuiteSettings, deploy_record: Record
) -> None:
    conclude(deploy_record, rules.not_valid_constraints(db, settings), settings)


@catalogued(CATALOGUE["db.disabled_triggers"])
def test_disabled_triggers(
    db: Connection, settings: DbSuiteSettings, deploy_record: Record
) -> None:
    conclude(deploy_record, rules.disabled_triggers(db, settings), settings)


@catalogued(CATALOGUE["db.blocked_sessions"])
def test_blocked_sessions(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.blocked_sessions(db, settings), settings)


@catalogued(CATALOGUE["db.connections"])
def test_connections(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.connections(db, settings), settings)


@catalogued(CATALOGUE["db.long_queries"])
def test_long_queries(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.long_queries(db, settings), settings)


@catalogued(CATALOGUE["db.idle_in_transaction"])
def test_idle_in_transaction(
    db: Connection, settings: DbSuiteSettings, deploy_record: Record
) -> None:
    conclude(deploy_record, rules.idle_in_transaction(db, settings), settings)


@catalogued(CATALOGUE["db.fk_orphans"])
def test_fk_orphans(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, scans.fk_orphans(db, settings), settings)


@catalogued(CATALOGUE["db.check_violations"])
def test_check_violations(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, scans.check_violations(db, settings), settings)


@catalogued(CATALOGUE["db.sequences"])
def test_sequences(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.sequences(db, settings), settings)


@catalogued(CATALOGUE["db.wraparound"])
def test_wraparound(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.wraparound(db, settings), settings)


@catalogued(CATALOGUE["db.replication_lag"])
def test_replication_lag(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.replication_lag(db, settings), settings)


@catalogued(CATALOGUE["db.wal_archiving"])
def test_wal_archiving(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, rules.wal_archiving(db, settings), settings)


@catalogued(CATALOGUE["db.amcheck"])
def test_amcheck(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    if not settings.deep:
        pytest.skip("deep verification is opt-in: suites.db.deep = true")
    result = scans.amcheck(db, settings)
    if result.note and not result.findings:
        pytest.skip(result.note)
    conclude(deploy_record, result, settings)
