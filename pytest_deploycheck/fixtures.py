"""Fixtures that give each check its deployment target; clients are created on first use."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import pytest

from pytest_deploycheck.core.options import OPTION_NAMES, dest

if TYPE_CHECKING:
    import httpx
    import psycopg
    from playwright.sync_api import Browser

    from pytest_deploycheck.config import Settings, Target
    from pytest_deploycheck.core.catalogue import Check
    from pytest_deploycheck.core.model import Evidence, Finding, Gate
    from pytest_deploycheck.core.redact import Redactor
    from pytest_deploycheck.core.result import Result

SETTINGS = pytest.StashKey["Settings"]()
RECORD = pytest.StashKey["Record"]()
PROBLEMS = pytest.StashKey[list[str]]()
REDACTOR = pytest.StashKey["Redactor"]()
IDENTITY = pytest.StashKey[dict[str, str]]()  # a check's id, suite, phase and severity


def redactor_of(config: pytest.Config) -> Redactor:
    """The one redaction step of this run: its secrets and the patterns hooks add."""
    redactor = config.stash.get(REDACTOR, None)
    if redactor is None:
        from pytest_deploycheck.core.redact import Redactor

        extra = config.hook.pytest_deploycheck_redact_patterns(config=config)
        patterns = [pattern for patterns in extra for pattern in patterns]
        redactor = Redactor(settings_of(config).secrets, patterns)
        config.stash[REDACTOR] = redactor
    return redactor


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, resolved once; a bad configuration is a usage error."""
    settings = config.stash.get(SETTINGS, None)
    if settings is None:
        from pytest_deploycheck.bundled import check_suite_settings
        from pytest_deploycheck.config import ConfigError, resolve

        options = {key: getattr(config.option, dest(key), None) for key in OPTION_NAMES}
        try:
            settings = resolve(options, os.environ, config.rootpath, config.invocation_params.dir)
            check_suite_settings(settings)
        except ConfigError as exc:
            raise pytest.UsageError(f"deploycheck: {exc}") from None
        config.stash[SETTINGS] = settings
    return settings


EVIDENCE_LIMIT = 16 * 1024  # characters kept of one piece of evidence


class Record:
    """What a check records besides its outcome: findings, gates, evidence, flakiness."""

    def __init__(self, config: pytest.Config, settings: Settings, check_id: str = "") -> None:
        self._config = config
        self._settings = settings
        self._check_id = check_id
        self.findings: list[Finding] = []
        self.gates: list[Gate] = []
        self.evidence: list[Evidence] = []
        self.flaky_because = ""
        self.data: dict[str, Any] = {}

    def finding(self, rule: str, object: str, message: str) -> Finding:
        """Record one fact about one object of the target (a table, an URL, a cookie)."""
        from pytest_deploycheck.core.model import Finding

        found = Finding(rule, object, message)
        self.findings.append(found)
        return found

    def attach(self, name: str, text: str, content_type: str = "text/plain") -> Evidence:
        """Keep evidence next to the result: capped, redacted, and attached to Allure when on."""
        from pytest_deploycheck.core.model import Evidence
        from pytest_deploycheck.report.allure import attach

        if len(text) > EVIDENCE_LIMIT:
            text = text[:EVIDENCE_LIMIT] + f"\n... ({len(text) - EVIDENCE_LIMIT} more characters)"
        redact = redactor_of(self._config)
        item = Evidence(redact(name), redact(text), content_type)
        self.evidence.append(item)
        attach(self._config, item.name, item.text, content_type)
        return item

    def attach_file(self, path: Path, content_type: str) -> Evidence:
        """Keep a file (screenshot, trace) as evidence: its path here, the file in Allure."""
        from pytest_deploycheck.core.model import Evidence
        from pytest_deploycheck.report.allure import attach_file

        item = Evidence(path.name, str(path), content_type)
        self.evidence.append(item)
        attach_file(self._config, path, content_type)
        return item

    def flaky(self, why: str) -> None:
        """Note that the check passed only after a retry; the sign-off lists it."""
        self.flaky_because = why

    def gate(self, gate: Gate) -> None:
        """Record a measured figure for the sign-off to judge."""
        self.gates.append(gate)

    def error_rate(self, name: str, errors: int, total: int) -> Gate:
        """Record an error rate; the policy's thresholds decide its status."""
        from pytest_deploycheck.signoff.engine import error_rate_gate

        gate = error_rate_gate(name, errors, total, self._settings.policy)
        self.gates.append(gate)
        return gate

    def conclude(self, result: Result) -> None:
        """End the check with what a rule concluded: its findings, gates, evidence and files
        recorded, then a skip when it does not apply, a failure with its reason code (and the
        catalogue's fix for it), or a pass."""
        from pytest_deploycheck.bundled import CATALOGUE

        self.findings += result.findings
        self.gates += result.gates
        for item in result.evidence:
            self.attach(item.name, item.text, item.content_type)
        for path in result.files:
            self.attach_file(path, FILE_TYPES.get(path.suffix, "application/octet-stream"))
        self.flaky_because = result.flaky
        self.data.update(result.data)
        fixes = {
            (found.rule, declared.fix)
            for found in result.findings
            if (declared := CATALOGUE.code(self._check_id, found.rule)) and declared.fix
        }
        if fixes:
            from html import escape

            items = "".join(
                f"<li><b>{escape(rule)}</b>: {escape(fix)}</li>" for rule, fix in sorted(fixes)
            )
            self.attach("how to fix", f"<ul>{items}</ul>", "text/html")
        if result.skip is not None:
            pytest.skip(result.skip)
        if result.undecided is not None:
            from pytest_deploycheck.core.model import CouldNotCheck

            raise CouldNotCheck("[{}] {}".format(*result.undecided))
        if result.problem is not None:
            name, message = result.problem
            code = CATALOGUE.code(self._check_id, name)
            fix = f". Fix: {code.fix}" if code and code.fix else ""
            pytest.fail(f"[{name}] {message}{fix}", pytrace=False)


FILE_TYPES = {".png": "image/png", ".zip": "application/zip"}
F = TypeVar("F", bound=Callable[..., object])


def marks(check: Check) -> list[pytest.MarkDecorator]:
    """The marks a bundled check carries: its phases and its catalogue identity."""
    phases = [getattr(pytest.mark, phase.value) for phase in check.phases]
    return [*phases, pytest.mark.deploy_check(id=check.id, severity=check.severity.value)]


def catalogued(check: Check) -> Callable[[F], F]:
    """Mark a bundled check's test function from its catalogue entry."""

    def apply(function: F) -> F:
        for mark in marks(check):
            function = mark(function)
        return function

    return apply


RATE_FILE = "deploycheck_rate_file"  # in xdist's workerinput


def shared_rate_cap(config: pytest.Config) -> Path | None:
    """Under xdist, the file (made by the controller) through which the workers of this run
    share one request-rate cap; None in a single process."""
    path = getattr(config, "workerinput", {}).get(RATE_FILE)
    return Path(path) if path else None


def run_problem(config: pytest.Config, problem: str) -> None:
    """Note a fault of the whole run ("[code] ..."), found by a fixture: it travels with the
    next report to the process that writes the sign-off, where it holds the deployment."""
    config.stash.setdefault(PROBLEMS, []).append(problem)


def not_configured(what: str) -> NoReturn:
    """Skip a check whose target lacks a setting; the sign-off holds for it."""
    from pytest_deploycheck.core.model import NOT_CONFIGURED_CODE

    pytest.skip(f"[{NOT_CONFIGURED_CODE}] {what}")


@pytest.fixture(scope="session")
def deploy_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return settings_of(pytestconfig)


@pytest.fixture(scope="session")
def deploy_target(deploy_settings: Settings) -> Target:
    """The deployment under check: base URL, database, expected version, credentials."""
    return deploy_settings.target


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str | None:
    """The target's base URL, or None; the same value pytest-base-url's fixture returns."""
    # Only pytestconfig: pytest-base-url's autouse fixture asks for base_url in every test.
    return settings_of(pytestconfig).target.base_url


@pytest.fixture(scope="session")
def http(deploy_target: Target, deploy_settings: Settings) -> Iterator[httpx.Client]:
    """An httpx client bound to the base URL, with explicit timeouts and connection reuse."""
    from pytest_deploycheck.net.http import make_client

    if not deploy_target.base_url:
        not_configured(f"target {deploy_target.name} has no base_url")
    with make_client(str(deploy_target.base_url), deploy_settings.http) as client:
        yield client


@pytest.fixture(scope="session")
def deploy_db_connection(
    request: pytest.FixtureRequest, deploy_target: Target, deploy_settings: Settings
) -> Iterator[psycopg.Connection[Any]]:
    """One read-only database connection per session (per xdist worker).

    On a production target a superuser session holds the deployment (``[db-superuser]``)
    unless the target sets ``allow_db_superuser``: a checker needs none of its powers.
    """
    from pytest_deploycheck.net.postgres import connect_readonly, is_superuser

    if not deploy_target.db_url:
        not_configured(f"target {deploy_target.name} has no db_url")
    conn = connect_readonly(str(deploy_target.db_url), deploy_settings.db)
    user, superuser = is_superuser(conn)
    conn.rollback()
    if superuser and deploy_target.production and not deploy_target.allow_db_superuser:
        run_problem(
            request.config,
            f"[db-superuser] the checks connected to production as superuser {user}: connect as"
            " the least-privileged checking role (README: Security model), or set"
            f" allow_db_superuser = true on target {deploy_target.name}",
        )
    yield conn
    conn.close()


@pytest.fixture
def db(deploy_db_connection: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The read-only connection; whatever the check did is rolled back after it. Once the
    database stopped answering (the session was closed on a deadline), no check waits again."""
    if deploy_db_connection.closed:
        from pytest_deploycheck.core.model import CouldNotCheck

        raise CouldNotCheck("[db-timeout] the database stopped answering earlier in this run")
    yield deploy_db_connection
    if not deploy_db_connection.closed:
        deploy_db_connection.rollback()


@pytest.fixture
def deploy_record(request: pytest.FixtureRequest, deploy_settings: Settings) -> Record:
    """Record findings and measured gates; they go into the sign-off with the check's result."""
    identity = request.node.stash.get(IDENTITY, {})
    record = Record(request.config, deploy_settings, identity.get("id", ""))
    request.node.stash[RECORD] = record
    return record


@pytest.fixture(scope="session")
def deploy_browser(request: pytest.FixtureRequest, deploy_target: Target) -> Iterator[Browser]:
    """A headless Chromium for the session (per xdist worker); give each check a new context.

    Uses pytest-playwright's Playwright when that plugin is active, else starts its own.
    """
    from pytest_deploycheck.net.browser import launch

    explicit = deploy_target.suite("login").get("browser_path")
    if request.config.pluginmanager.has_plugin("playwright"):
        browser = launch(request.getfixturevalue("playwright"), explicit)
        yield browser
        browser.close()
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright, explicit)
        yield browser
        browser.close()
