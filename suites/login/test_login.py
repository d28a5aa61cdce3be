"""The runbook's "Login/logout working", in a real browser and over HTTP.

Each flow runs once per module and each check judges its part; the wrong-credential attempts
run at most once per run (or watch window), so that no lockout policy ever counts more than
one failure against the smoke account. Settings: ``[targets.NAME.suites.login]`` (see the
README's login suite section); credentials come from the target's ``credentials.username``
and ``credentials.password``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_deploycheck.config import Settings, Target
from pytest_deploycheck.core.artifacts import artifact_path
from pytest_deploycheck.core.model import Secret, Severity
from pytest_deploycheck.fixtures import (
    Record,
    catalogued,
    marks,
    not_configured,
    redactor_of,
    settings_of,
)
from pytest_deploycheck.login import flows
from pytest_deploycheck.login.catalogue import CATALOGUE
from pytest_deploycheck.login.in_browser import BrowserAgent, in_browser
from pytest_deploycheck.login.over_http import FormAgent, Prober, TokenAgent
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.net.browser import fresh_context
from pytest_deploycheck.net.http import make_client

REFUSALS = pytest.StashKey[flows.Refusals]()


@pytest.fixture(scope="module")
def settings(deploy_target: Target) -> LoginSettings:
    return LoginSettings.parse(deploy_target.suite("login"))


@pytest.fixture(scope="module")
def credentials(deploy_target: Target) -> tuple[str, str]:
    """The username (none for a login that asks for a password alone) and the password."""
    username, password = (deploy_target.credentials.get(k) for k in ("username", "password"))
    if not deploy_target.base_url:
        not_configured(f"target {deploy_target.name} has no base_url")
    if not isinstance(password, Secret):
        not_configured(f"target {deploy_target.name} has no credentials.password")
    assert isinstance(password, Secret)
    return (username if isinstance(username, str) else ""), password.reveal()


@pytest.fixture(scope="module")
def prober(settings: LoginSettings, deploy_settings: Settings) -> Iterator[Prober]:
    """Asks the server what a session opens, in a client of its own."""
    with make_client(
        str(deploy_settings.target.base_url), deploy_settings.http, settings.origins
    ) as client:
        yield Prober(client, settings)


def wants(settings: LoginSettings, mode: str) -> None:
    if mode not in settings.modes:
        pytest.skip(f"{mode} mode is not selected (suites.login.modes)")


@pytest.fixture(scope="module")
def browser_run(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    credentials: tuple[str, str],
    prober: Prober,
    deploy_settings: Settings,
) -> flows.FlowResult:
    wants(settings, "browser")
    with fresh_context(request.getfixturevalue("deploy_browser")) as context:
        return in_browser(
            context,
            str(deploy_settings.target.base_url),
            settings,
            credentials,
            prober,
            artifact_path(Path(deploy_settings.artifacts_dir), "login"),
            redactor_of(request.config),
        )


@pytest.fixture(scope="module")
def api_run(
    settings: LoginSettings,
    credentials: tuple[str, str],
    prober: Prober,
    deploy_settings: Settings,
) -> Iterator[flows.FlowResult]:
    wants(settings, "api")
    with make_client(
        str(deploy_settings.target.base_url), deploy_settings.http, settings.origins
    ) as client:
        yield flows.over_http(client, prober, settings, credentials)


@pytest.fixture
def refusals(
    request: pytest.FixtureRequest,
    settings: LoginSettings,
    credentials: tuple[str, str],
    prober: Prober,
    deploy_settings: Settings,
) -> flows.Refusals:
    """A wrong password and an unknown user, tried once per run or window: in the browser
    when that mode is selected, else over HTTP."""
    target = deploy_settings.target
    if not settings.negative_allowed(target.production):
        pytest.skip("on production the wrong-credential attempts run only with negative = true")
    if REFUSALS not in request.config.stash:
        request.config.stash[REFUSALS] = _refuse(request, settings, credentials[0], prober)
    return request.config.stash[REFUSALS]


def _refuse(
    request: pytest.FixtureRequest, settings: LoginSettings, username: str, prober: Prober
) -> flows.Refusals:
    deploy_settings: Settings = request.getfixturevalue("deploy_settings")
    base_url = str(deploy_settings.target.base_url)
    if "browser" in settings.modes:
        browser = request.getfixturevalue("deploy_browser")
        redact = redactor_of(request.config)
        with fresh_context(browser) as first, fresh_context(browser) as second:
            agents = [BrowserAgent(c, base_url, settings, redact) for c in (first, second)]
            return flows.wrong_credentials(list(agents), prober, settings, username)
    kind = FormAgent if settings.api_kind == "form" else TokenAgent
    with (
        make_client(base_url, deploy_settings.http, settings.origins) as first,
        make_client(base_url, deploy_settings.http, settings.origins) as second,
    ):
        agents_ = [kind(first, settings), kind(second, settings)]
        return flows.wrong_credentials(list(agents_), prober, settings, username)


@catalogued(CATALOGUE["login.browser"])
def test_browser_login_logout(browser_run: flows.FlowResult, deploy_record: Record) -> None:
    deploy_record.conclude(browser_run.result())


@catalogued(CATALOGUE["login.api"])
def test_api_login_logout(api_run: flows.FlowResult, deploy_record: Record) -> None:
    deploy_record.conclude(api_run.result())


@catalogued(CATALOGUE["login.page_health"])
def test_login_page_health(browser_run: flows.FlowResult, deploy_record: Record) -> None:
    deploy_record.conclude(flows.page_health(browser_run))


@catalogued(CATALOGUE["login.wrong_password"])
def test_wrong_password_is_refused(refusals: flows.Refusals, deploy_record: Record) -> None:
    deploy_record.conclude(flows.wrong_password_refused(refusals))


@catalogued(CATALOGUE["login.user_enumeration"])
def test_unknown_user_gets_the_wrong_password_answer(
    refusals: flows.Refusals, deploy_record: Record
) -> None:
    deploy_record.conclude(flows.same_answer_for_unknown_users(refusals))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``login.session_revocation`` is minor (an advisory) where ``sessions = "stateless"``
    acknowledges a framework that keeps sessions in signed cookies."""
    if metafunc.definition.name != "test_session_revocation":
        return
    table = settings_of(metafunc.config).target.suite("login")
    stateless = LoginSettings.parse(table).sessions == "stateless"
    check = CATALOGUE["login.session_revocation"]
    if stateless:
        check = replace(check, severity=Severity.MINOR)
    param = pytest.param(stateless, marks=marks(check), id="stateless" if stateless else "server")
    metafunc.parametrize("stateless", [param])


@pytest.fixture
def session_flow(request: pytest.FixtureRequest, settings: LoginSettings) -> flows.FlowResult:
    """The login the session checks read: the browser's when that mode runs, else HTTP's."""
    flow: flows.FlowResult = request.getfixturevalue(
        "browser_run" if "browser" in settings.modes else "api_run"
    )
    return flow


def test_session_revocation(
    stateless: bool,
    session_flow: flows.FlowResult,
    deploy_settings: Settings,
    deploy_record: Record,
) -> None:
    before = deploy_settings.baseline.figures.get(flows.REVOCATION_GATE)
    deploy_record.conclude(flows.session_revocation(session_flow, before))


@catalogued(CATALOGUE["login.session_cookie"])
def test_session_cookie(
    session_flow: flows.FlowResult, deploy_settings: Settings, deploy_record: Record
) -> None:
    https = str(deploy_settings.target.base_url).startswith("https://")
    deploy_record.conclude(flows.session_cookie(session_flow, https))
