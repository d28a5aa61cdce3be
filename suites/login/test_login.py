"""The runbook's "Login/logout working", in a real browser and over HTTP.

Each flow runs once per module; each check judges its part. Settings:
``[targets.NAME.suites.login]`` (see the README's login suite section); credentials come from
the target's ``credentials.username`` and ``credentials.password``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.core.artifacts import artifact_path
from pytest_deploycheck.core.model import Secret
from pytest_deploycheck.fixtures import Record, catalogued, not_configured, redactor_of
from pytest_deploycheck.login.catalogue import CATALOGUE
from pytest_deploycheck.login.flows import (
    FlowResult,
    api_flow,
    api_wrong_password_refused,
    browser_flow,
    session_cookie,
    wrong_password_refused,
)
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.net.browser import fresh_context
from pytest_deploycheck.net.http import make_client


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
    with fresh_context(request.getfixturevalue("deploy_browser")) as context:
        return browser_flow(
            context,
            str(deploy_settings.target.base_url),
            settings,
            *credentials,
            artifact_path(Path(deploy_settings.artifacts_dir), "login"),
            redactor_of(request.config),
        )


@pytest.fixture(scope="module")
def api_run(
    settings: LoginSettings, credentials: tuple[str, str], deploy_settings: Settings
) -> Iterator[FlowResult]:
    wants(settings, "api")
    with make_client(str(deploy_settings.target.base_url), deploy_settings.http) as client:
        yield api_flow(client, settings, *credentials)


@pytest.fixture
def wrong_password_run(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    credentials: tuple[str, str],
    deploy_settings: Settings,
) -> FlowResult:
    """One wrong-password attempt, in the browser when that mode is selected, else over HTTP."""
    target = deploy_settings.target
    if not settings.negative_allowed(target.production):
        pytest.skip("on production the wrong-password attempt runs only with negative = true")
    if "browser" in settings.modes:
        with fresh_context(request.getfixturevalue("deploy_browser")) as context:
            return wrong_password_refused(context, str(target.base_url), settings, credentials[0])
    with make_client(str(target.base_url), deploy_settings.http) as client:
        return api_wrong_password_refused(client, settings, credentials[0])


@catalogued(CATALOGUE["login.browser"])
def test_browser_login_logout(browser_run: FlowResult, deploy_record: Record) -> None:
    deploy_record.conclude(browser_run.result())


@catalogued(CATALOGUE["login.api"])
def test_api_login_logout(api_run: FlowResult, deploy_record: Record) -> None:
    deploy_record.conclude(api_run.result())


@catalogued(CATALOGUE["login.wrong_password"])
def test_wrong_password_is_refused(wrong_password_run: FlowResult, deploy_record: Record) -> None:
    deploy_record.conclude(wrong_password_run.result())


@catalogued(CATALOGUE["login.session_cookie"])
def test_session_cookie_flags(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    flow: FlowResult = request.getfixturevalue(
        "browser_run" if "browser" in settings.modes else "api_run"
    )
    https = str(deploy_settings.target.base_url).startswith("https://")
    deploy_record.conclude(session_cookie(flow, https, settings))
