"""Row Level Security: a hole here is a data breach shipped by a deploy.

Static rules read the catalog (splinter's lint names where the rule is the same); the probes act
as the API does — ``SET LOCAL ROLE`` and ``request.jwt.claims`` inside transactions that are
always rolled back — and prove that users are kept apart. Settings: ``[targets.NAME.suites.rls]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.fixtures import Record, catalogued, marks
from pytest_deploycheck.net.postgres import RuleResult
from pytest_deploycheck.rls import probes, rules
from pytest_deploycheck.rls.catalogue import CATALOGUE
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> RlsSettings:
    return RlsSettings.parse(deploy_target.suite("rls"))


@pytest.fixture(scope="module")
def exposed(deploy_db_connection: Connection, settings: RlsSettings) -> tuple[list[str], list[Any]]:
    schemas = rules.exposed_schemas(deploy_db_connection, settings)
    deploy_db_connection.rollback()
    return schemas


def conclude(record: Record, result: RuleResult) -> None:
    record.conclude(result.result(20))


@catalogued(CATALOGUE["rls.exposed_schemas"])
def test_exposed_schemas_are_known(
    exposed: tuple[list[str], list[Any]], deploy_record: Record
) -> None:
    conclude(deploy_record, RuleResult("exposed_schemas_unknown", exposed[1]))


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(name, marks=marks(CATALOGUE[f"rls.{name}"]), id=name)
        for name in rules.STATIC_RULES
    ],
)
def test_static_rule(
    rule: str,
    db: Connection,
    settings: RlsSettings,
    exposed: tuple[list[str], list[Any]],
    deploy_record: Record,
) -> None:
    conclude(deploy_record, rules.STATIC_RULES[rule](db, settings, exposed[0]))


@catalogued(CATALOGUE["rls.read_probes"])
def test_users_are_kept_apart_when_reading(
    db: Connection,
    settings: RlsSettings,
    exposed: tuple[list[str], list[Any]],
    deploy_record: Record,
) -> None:
    conclude(deploy_record, probes.read_probes(db, settings, exposed[0]))


@catalogued(CATALOGUE["rls.write_probes"])
def test_users_are_kept_apart_when_writing(
    db: Connection,
    settings: RlsSettings,
    exposed: tuple[list[str], list[Any]],
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    if deploy_settings.target.production and not deploy_settings.allow_destructive:
        pytest.skip("write probes run on production only with --deploy-allow-destructive")
    conclude(deploy_record, probes.write_probes(db, settings, exposed[0]))
