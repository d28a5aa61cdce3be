"""Row Level Security: a hole here is a data breach shipped by a deploy.

Static rules read the catalog (splinter's lint names where the rule is the same); the probes act
as the API does — ``SET LOCAL ROLE`` and ``request.jwt.claims`` inside transactions that are
always rolled back — and prove that users are kept apart. Settings: ``[targets.NAME.suites.rls]``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.db.rules import RuleResult
from pytest_deploycheck.fixtures import Record
from pytest_deploycheck.rls import rules as rls_rules
from pytest_deploycheck.rls.settings import RlsSettings

pytestmark = pytest.mark.immediate

SEVERITY = {
    "rls_disabled_in_public": "critical",
    "policy_exists_rls_disabled": "critical",
    "rls_enabled_no_policy": "minor",
    "security_definer_view": "critical",
    "auth_users_exposed": "critical",
    "function_search_path_mutable": "minor",
    "anon_security_definer_function_executable": "major",
    "authenticated_security_definer_function_executable": "major",
    "rls_references_user_metadata": "critical",
    "sensitive_columns_exposed": "critical",
    "materialized_view_in_api": "major",
    "rls_policy_always_true": "major",
    "multiple_permissive_policies": "minor",
    "extension_in_public": "minor",
    "fkey_to_auth_unique": "minor",
    "public_bucket_allows_listing": "major",
    "anon_policy_always_true": "critical",
    "write_check_not_tied_to_user": "critical",
    "policy_ignores_row": "critical",
    "privileged_column_user_updatable": "critical",
    "api_role_privileges": "critical",
}


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> RlsSettings:
    return RlsSettings.parse(deploy_target.suite("rls"))


@pytest.fixture(scope="module")
def exposed(deploy_db_connection: Any, settings: RlsSettings) -> tuple[list[str], list[Any]]:
    schemas = rls_rules.exposed_schemas(deploy_db_connection, settings)
    deploy_db_connection.rollback()
    return schemas


def judge(record: Record, result: RuleResult) -> None:
    """Record the findings with the rows (and statements) that prove them; fail on any."""
    if not result.findings:
        return
    for found in result.findings:
        record.finding(found.rule, found.object, found.message)
    record.attach(f"{result.rule}.csv", result.evidence(20), "text/csv")
    fixes = sorted(
        {f"- {f.rule}: {rls_rules.REMEDIATION.get(f.rule, '')}" for f in result.findings}
    )
    record.attach("how to fix", "\n".join(fixes), "text/markdown")
    first = result.findings[0]
    objects = ", ".join(sorted({f.object for f in result.findings}))
    fix = rls_rules.REMEDIATION.get(first.rule, "")
    pytest.fail(f"[{first.rule}] {first.message} (objects: {objects}). Fix: {fix}", pytrace=False)


@pytest.mark.deploy_check(id="rls.exposed_schemas", severity="major")
def test_exposed_schemas_are_known(
    exposed: tuple[list[str], list[Any]], deploy_record: Record
) -> None:
    judge(deploy_record, RuleResult("exposed_schemas_unknown", exposed[1]))


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(name, marks=pytest.mark.deploy_check(id=f"rls.{name}", severity=severity))
        for name, severity in SEVERITY.items()
    ],
)
def test_static_rule(
    rule: str,
    db: Any,
    settings: RlsSettings,
    exposed: tuple[list[str], list[Any]],
    deploy_record: Record,
) -> None:
    judge(deploy_record, rls_rules.STATIC_RULES[rule](db, settings, exposed[0]))


@pytest.mark.deploy_check(id="rls.read_probes", severity="critical")
def test_users_are_kept_apart_when_reading(
    db: Any, settings: RlsSettings, exposed: tuple[list[str], list[Any]], deploy_record: Record
) -> None:
    judge(deploy_record, rls_rules.read_probes(db, settings, exposed[0]))


@pytest.mark.deploy_check(id="rls.write_probes", severity="critical")
def test_users_are_kept_apart_when_writing(
    db: Any,
    settings: RlsSettings,
    exposed: tuple[list[str], list[Any]],
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    if deploy_settings.target.production and not deploy_settings.allow_destructive:
        pytest.skip("write probes run on production only with --deploy-allow-destructive")
    judge(deploy_record, rls_rules.write_probes(db, settings, exposed[0]))
