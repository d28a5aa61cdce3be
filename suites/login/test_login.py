"""The runbook's "Login/logout working", in a real browser and over HTTP.

Each flow runs once per module; each check judges its part. Settings:
``[targets.NAME.suites.login]`` (see the README's login suite section); credentials come from
the target's ``credentials.username`` and ``credentials.password``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.core.artifacts import artifact_path
from pytest_deploycheck.core.model import Secret
from pytest_deploycheck.fixtures import Record, not_configured, redactor_of
from pytest_deploycheck.login.flows import (
    FlowResult,
    api_flow,
    api_wrong_password_refused,
    browser_flow,
    cookie_findings,
    wrong_password_refused,
)
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.net.http import make_client

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# A smoke test right after the deploy, and again in the short-term watch.
pytestmark = [pytest.mark.immediate, pytest.mark.short_term]


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> LoginSettings:
    return LoginSettings.parse(deploy_target.suite("login"))


@pytest.fixture(scope="module")
def credentials(deploy_target: Target) -> tuple[str, str]:
    username, password = (deploy_target.credentials.get(k) for k in ("username", "password"))
    if not deploy_target.base_url:
        not_configured(f"target {deploy_target.name} has no base_url")
    if not isinstance(username, str) or not isinstance(password, Secret):
        not_configured(f"target {deploy_target.name} has no credentials.username and .password")
    assert isinstance(username, str)
    assert isinstance(password, Secret)
    return username, password.reveal()


def wants(settings: LoginSettings, mode: str) -> None:
    if mode not in settings.modes:
        pytest.skip(f"{mode} mode is not selected (suites.login.modes)")


@pytest.fixture(scope="module")
def browser_run(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    credentials: tuple[str, str],
    deploy_settings: Settings,
) -> FlowResult:
    wants(settings, "browser")
    browser: Browser = request.getfixturevalue("deploy_browser")
    context = browser.new_context()
    try:
        return browser_flow(
            context,
            str(deploy_settings.target.base_url),
            settings,
            *credentials,
            artifact_path(Path(deploy_settings.artifacts_dir), "login"),
            redactor_of(request.config),
        )
    finally:
        context.close()


@pytest.fixture(scope="module")
def api_run(
    settings: LoginSettings, credentials: tuple[str, str], deploy_settings: Settings
) -> Iterator[FlowResult]:
    wants(settings, "api")
    with make_client(str(deploy_settings.target.base_url), deploy_settings.http) as client:
        yield api_flow(client, settings, *credentials)


def judge(record: Record, result: FlowResult) -> None:
    """Fail with the flow's first failure, keeping its evidence."""
    for path in result.artifacts:
        record.attach_file(path, "image/png" if path.suffix == ".png" else "application/zip")
    if result.page_state:
        record.attach("page", result.page_state)
    for exchange in result.exchanges:
        record.attach(f"{exchange.method} {exchange.url}", exchange.describe())
    if result.failure is not None:
        code, message = result.failure
        pytest.fail(f"[{code}] {message}", pytrace=False)


@pytest.mark.deploy_check(id="login.browser", severity="critical")
def test_browser_login_logout(browser_run: FlowResult, deploy_record: Record) -> None:
    judge(deploy_record, browser_run)


@pytest.mark.deploy_check(id="login.api", severity="critical")
def test_api_login_logout(api_run: FlowResult, deploy_record: Record) -> None:
    if api_run.failure is None:
        api_run.exchanges.clear()  # evidence is kept for failures only
    judge(deploy_record, api_run)


@pytest.mark.deploy_check(id="login.wrong_password", severity="critical")
def test_wrong_password_is_refused(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    credentials: tuple[str, str],
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    target = deploy_settings.target
    if not settings.negative_allowed(target.production):
        pytest.skip("on production the wrong-password attempt runs only with negative = true")
    if "browser" in settings.modes:
        browser: Browser = request.getfixturevalue("deploy_browser")
        context = browser.new_context()
        try:
            result = wrong_password_refused(context, str(target.base_url), settings, credentials[0])
        finally:
            context.close()
    else:
        with make_client(str(target.base_url), deploy_settings.http) as client:
            result = api_wrong_password_refused(client, settings, credentials[0])
    judge(deploy_record, result if result.failure else FlowResult())


@pytest.mark.deploy_check(id="login.session_cookie", severity="major")
def test_session_cookie_flags(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    mode = "browser_run" if "browser" in settings.modes else "api_run"
    result: FlowResult = request.getfixturevalue(mode)
    if not result.cookies and not settings.session_cookie:
        pytest.skip("login set no cookie (a token-based session?)")
    https = str(deploy_settings.target.base_url).startswith("https://")
    findings = cookie_findings(result.cookies, https, settings.session_cookie)
    for found in findings:
        deploy_record.finding(found.rule, found.object, found.message)
    if findings:
        pytest.fail("[cookie-flags] " + "; ".join(f.message for f in findings), pytrace=False)
