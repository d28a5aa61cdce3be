"""Is the deployment's database reachable, migrated, intact and healthy — checked read-only.

Every check runs on one read-only connection per worker with statement, lock and
idle-in-transaction timeouts; a check blocked by a lock gives up and reports that it could not
check. Settings: ``[targets.NAME.suites.db]`` (see the README's db suite section).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.db import backup, changes, migrations, rules, scans, snapshot
from pytest_deploycheck.db.catalogue import CATALOGUE
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.fixtures import Record, catalogued, marks, settings_of
from pytest_deploycheck.net.postgres import RuleResult

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> DbSuiteSettings:
    return DbSuiteSettings.parse(deploy_target.suite("db"))


def conclude(record: Record, result: RuleResult, settings: DbSuiteSettings) -> None:
    record.conclude(result.result(settings.sample_rows))


def config_dir(deploy_settings: Settings) -> Path:
    """Where relative paths of the config start."""
    return deploy_settings.config_path.parent if deploy_settings.config_path else Path.cwd()


@pytest.fixture(scope="module")
def snapshot_now(
    deploy_db_connection: Connection, settings: DbSuiteSettings
) -> tuple[dict[str, Any], RuleResult]:
    """The database as it is now, taken once for the checks that need it."""
    taken = snapshot.take(deploy_db_connection, settings)
    deploy_db_connection.rollback()
    return taken


@pytest.fixture(scope="module")
def snapshot_before(deploy_settings: Settings) -> Mapping[str, Any]:
    """The pre-deploy snapshot this run compares with; the check is skipped without one."""
    kept = deploy_settings.baseline.data.get("db.snapshot", {}).get("snapshot")
    if not kept:
        pytest.skip(
            "no pre-deploy snapshot to compare with: run --deploy-phase=pre_deploy before the"
            " deploy, with --deploy-state (kept there) or its sign-off as --deploy-baseline"
        )
    return dict(kept)


@pytest.fixture(scope="module")
def changed(
    snapshot_before: Mapping[str, Any],
    snapshot_now: tuple[dict[str, Any], RuleResult],
    settings: DbSuiteSettings,
    deploy_settings: Settings,
) -> changes.Changes:
    folder = config_dir(deploy_settings) / (settings.migrations_dir or "")
    texts = (
        [p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file()]
        if settings.migrations_dir and folder.is_dir()
        else []
    )
    acknowledged = [*settings.acknowledged, *changes.acknowledged_in(texts)]
    return changes.compare(snapshot_before, snapshot_now[0], settings.row_loss_max, acknowledged)


@catalogued(CATALOGUE["db.snapshot"])
def test_snapshot(snapshot_now: tuple[dict[str, Any], RuleResult], deploy_record: Record) -> None:
    deploy_record.conclude(snapshot.judged(*snapshot_now))


@pytest.fixture
def history(db: Connection, settings: DbSuiteSettings, deploy_settings: Settings) -> RuleResult:
    """The migration history against the expected migrations; skipped when there is none."""
    result = migrations.migrations(db, settings, config_dir(deploy_settings))
    if not result.gates:
        pytest.skip(result.note)
    return result


@catalogued(CATALOGUE["db.pending_migrations"])
def test_pending_migrations(
    db: Connection, settings: DbSuiteSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    base = config_dir(deploy_settings)
    deploy_record.conclude(migrations.before_deploy(db, settings, base, settings.sample_rows))


@catalogued(CATALOGUE["db.backup"])
def test_backup(
    db: Connection, settings: DbSuiteSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    production = deploy_settings.target.production
    deploy_record.conclude(backup.judged(db, settings, deploy_settings.http, production))


# The checks of what the deploy changed, by the kind of change each judges.
CHANGES = {
    "db.data_loss": "data_loss",
    "db.backward_compatible": "incompatible",
    "db.schema_changes": "acknowledged",
}


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(kind, marks=marks(CATALOGUE[check]), id=check.split(".")[1])
        for check, kind in CHANGES.items()
    ],
)
def test_changes(
    kind: str,
    changed: changes.Changes,
    snapshot_before: Mapping[str, Any],
    settings: DbSuiteSettings,
    deploy_record: Record,
) -> None:
    found = changes.found(kind, getattr(changed, kind), snapshot_before["taken_at"])
    conclude(deploy_record, found, settings)


@catalogued(CATALOGUE["db.query_regressions"])
def test_query_regressions(
    snapshot_before: Mapping[str, Any],
    snapshot_now: tuple[dict[str, Any], RuleResult],
    settings: DbSuiteSettings,
    deploy_record: Record,
) -> None:
    now = snapshot_now[0]
    findings = list(changes.new_seq_scans(snapshot_before, now, settings.large_table_rows))
    before, after = snapshot_before.get("statements"), now.get("statements")
    if before is not None and after is not None:
        findings[:0] = changes.slower_queries(
            before,
            after,
            settings.query_min_calls,
            settings.query_max_ratio,
            settings.query_min_ms,
        )
    elif not findings:
        pytest.skip("pg_stat_statements is not installed (or not readable): no query statistics")
    found = changes.found("query_regressions", findings, snapshot_before["taken_at"])
    conclude(deploy_record, found, settings)


@catalogued(CATALOGUE["db.connectivity"])
def test_connectivity(db: Connection, settings: DbSuiteSettings, deploy_record: Record) -> None:
    deploy_record.conclude(rules.connectivity(db, settings))


@catalogued(CATALOGUE["db.migrations"])
def test_migrations(history: RuleResult, settings: DbSuiteSettings, deploy_record: Record) -> None:
    conclude(deploy_record, history, settings)


@catalogued(CATALOGUE["db.migration_files"])
def test_migration_files(
    db: Connection, settings: DbSuiteSettings, deploy_settings: Settings, deploy_record: Record
) -> None:
    if not settings.migrations_dir:
        pytest.skip("no migrations_dir to read")
    base = config_dir(deploy_settings)
    deploy_record.conclude(migrations.folder_advisories(db, settings, base, settings.sample_rows))


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``db.amcheck`` runs in the phases ``amcheck_phases`` names (of those its catalogue
    allows): deep verification where it belongs, elsewhere only when asked."""
    if metafunc.definition.name != "test_amcheck":
        return
    table = settings_of(metafunc.config).target.suite("db")
    wanted = {Phase.parse(name) for name in DbSuiteSettings.parse(table).amcheck_phases}
    check = CATALOGUE["db.amcheck"]
    phases = tuple(p for p in check.phases if p in wanted) or (Phase.EXTENDED,)
    param = pytest.param(bool(wanted), marks=marks(replace(check, phases=phases)), id="deep")
    metafunc.parametrize("deep", [param])


def test_amcheck(
    deep: bool, db: Connection, settings: DbSuiteSettings, deploy_record: Record
) -> None:
    if not deep:
        pytest.skip("deep verification is off: suites.db.amcheck_phases = []")
    result = scans.amcheck(db, settings)
    if result.note and not result.findings:
        pytest.skip(result.note)
    conclude(deploy_record, result, settings)
