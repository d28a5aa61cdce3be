"""Row Level Security: a hole here is a data breach shipped by a deploy.

The evidence comes first: who owns each exposed table's rows and who its policies let read and
write. Static rules read the catalog (splinter's lint names where the rule is the same); the
probes act as the API does — the role and ``request.jwt.claims`` set inside transactions that
are always rolled back — and measure what anon, two users and a stranger can do; the access
matrix compares it all with the last GO. Settings: ``[targets.NAME.suites.rls]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.core.model import Finding
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.fixtures import Record, catalogued, marks
from pytest_deploycheck.net.postgres import RuleResult
from pytest_deploycheck.rls import access, evidence, rules
from pytest_deploycheck.rls.catalogue import CATALOGUE
from pytest_deploycheck.rls.identities import Identity, identities
from pytest_deploycheck.rls.reads import Reads, read_all, read_findings
from pytest_deploycheck.rls.settings import RlsSettings
from pytest_deploycheck.rls.writes import Writes, write_all

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection

Exposed = tuple[list[str], list[Finding]]


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> RlsSettings:
    return RlsSettings.parse(deploy_target.suite("rls"))


@pytest.fixture(scope="module")
def exposed(deploy_db_connection: Connection, settings: RlsSettings) -> Exposed:
    schemas = rules.exposed_schemas(deploy_db_connection, settings)
    deploy_db_connection.rollback()
    return schemas


@pytest.fixture(scope="module")
def tables(
    deploy_db_connection: Connection, settings: RlsSettings, exposed: Exposed
) -> list[evidence.Table]:
    found = evidence.exposed_tables(deploy_db_connection, settings, exposed[0])
    deploy_db_connection.rollback()
    return found


@pytest.fixture(scope="module")
def who(deploy_db_connection: Connection, settings: RlsSettings) -> dict[str, Identity]:
    found = identities(deploy_db_connection, settings)
    deploy_db_connection.rollback()
    return found


@pytest.fixture(scope="module")
def reads(
    deploy_db_connection: Connection,
    settings: RlsSettings,
    tables: list[evidence.Table],
    who: dict[str, Identity],
) -> Reads:
    return read_all(deploy_db_connection, settings, tables, who)


@pytest.fixture(scope="module")
def writes(
    deploy_db_connection: Connection,
    settings: RlsSettings,
    tables: list[evidence.Table],
    who: dict[str, Identity],
    reads: Reads,
    deploy_settings: Settings,
) -> Writes | None:
    """The write probes, on production only with --deploy-allow-destructive (else None)."""
    if deploy_settings.target.production and not deploy_settings.allow_destructive:
        return None
    return write_all(deploy_db_connection, settings, tables, who, reads)


@pytest.fixture(scope="module")
def changes(
    tables: list[evidence.Table],
    reads: Reads,
    writes: Writes | None,
    settings: RlsSettings,
    deploy_settings: Settings,
) -> tuple[Result, Result]:
    """The access matrix, judged against the baseline's: what widened, what narrowed."""
    now = access.matrix(tables, reads, writes, settings)
    baseline = deploy_settings.baseline
    before = baseline.data.get(CATALOGUE["rls.access"].id, {}).get("access")
    since = f"since {baseline.version}" if baseline.version else "since the last GO"
    return access.judged(now, before, since)


def conclude(record: Record, result: RuleResult) -> None:
    record.conclude(result.result(20))


@catalogued(CATALOGUE["rls.exposed_schemas"])
def test_exposed_schemas_are_known(exposed: Exposed, deploy_record: Record) -> None:
    conclude(deploy_record, RuleResult("exposed_schemas_unknown", exposed[1]))


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(name, marks=marks(CATALOGUE[f"rls.{name}"]), id=name)
        for name in rules.STATIC_RULES
    ],
)
def test_static_rule(
    rule: str, db: Connection, settings: RlsSettings, exposed: Exposed, deploy_record: Record
) -> None:
    conclude(deploy_record, rules.STATIC_RULES[rule](db, settings, exposed[0]))


@pytest.fixture(scope="module")
def judged(tables: list[evidence.Table], settings: RlsSettings) -> dict[str, RuleResult]:
    return rules.evidence_rules(tables, settings)


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(name, marks=marks(CATALOGUE[f"rls.{name}"]), id=name)
        for name in rules.EVIDENCE_RULES
    ],
)
def test_evidence_rule(rule: str, judged: dict[str, RuleResult], deploy_record: Record) -> None:
    conclude(deploy_record, judged[rule])


@catalogued(CATALOGUE["rls.read_probes"])
def test_users_are_kept_apart_when_reading(
    db: Connection,
    settings: RlsSettings,
    tables: list[evidence.Table],
    who: dict[str, Identity],
    reads: Reads,
    deploy_record: Record,
) -> None:
    conclude(deploy_record, read_findings(db, settings, tables, who, reads))


@catalogued(CATALOGUE["rls.write_probes"])
def test_users_are_kept_apart_when_writing(writes: Writes | None, deploy_record: Record) -> None:
    if writes is None:
        pytest.skip("write probes run on production only with --deploy-allow-destructive")
    conclude(deploy_record, writes.result)


@catalogued(CATALOGUE["rls.access"])
def test_access_did_not_widen(changes: tuple[Result, Result], deploy_record: Record) -> None:
    deploy_record.conclude(changes[0])


@catalogued(CATALOGUE["rls.access_narrowed"])
def test_access_narrowing_is_reported(
    changes: tuple[Result, Result], deploy_record: Record
) -> None:
    deploy_record.conclude(changes[1])
