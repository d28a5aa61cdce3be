"""The login flows both modes share: log in, prove it on the server, identify the session
cookie, log out like a user and prove the old session refused; and the wrong-credentials
attempts, made once. Agents (``in_browser.BrowserAgent``, ``over_http.FormAgent`` /
``TokenAgent``) play the user; a ``Prober`` asks the server what a session opens."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from pytest_deploycheck.core.model import Evidence, Finding, Gate
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.login.judge import (
    Attempt,
    Outcome,
    SetCookie,
    cookie_findings,
    outcome,
    same_answer,
)
from pytest_deploycheck.login.over_http import FormAgent, Prober, Session, Stopped, TokenAgent
from pytest_deploycheck.login.pages import Page
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.net.http import Exchange

if TYPE_CHECKING:
    import httpx

# The codes that differ by mode: the credentials refused, the old session still accepted.
REFUSED_CODES = {"browser": "login-failed", "api": "api-login-failed"}
LOGOUT_CODES = {"browser": "logout-failed", "api": "api-logout-failed"}


class Agent(Protocol):
    """Plays the user: in a browser, or over HTTP."""

    mode: str

    @property
    def set_cookies(self) -> list[SetCookie]: ...  # as the server sent them, in order
    @property
    def stopped(self) -> Stopped | None: ...  # the first exchange the gate stopped

    def open_login(self) -> Page: ...
    def misconfigured(self, username: str) -> tuple[str, str] | None: ...  # (code, message)
    def still_asking(self, landing: Page) -> bool: ...
    def submit(self, username: str, password: str) -> tuple[int | None, Page]: ...
    def session(self) -> Session: ...
    def get(self, url: str) -> Page: ...
    def logout(self, protected: Page) -> Page | None: ...  # None: no log-out control


@dataclass
class FlowResult:
    """How a flow went: its first failure (or why it could not decide), what it learnt about
    the session, and what shows it."""

    problem: tuple[str, str] | None = None  # (reason code, message)
    undecided: tuple[str, str] | None = None  # could not check: (reason code, message)
    set_cookies: list[SetCookie] = field(default_factory=list)
    session_cookies: list[str] = field(default_factory=list)
    fixated: list[str] = field(default_factory=list)  # kept the same value across the login
    exchanges: list[Exchange] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    page_state: str = ""
    health: list[Finding] = field(default_factory=list)
    protected: str | None = None  # the page that told signed-in from signed-out
    revoked: bool | None = None  # the server refused the session once logged out of it

    @property
    def stopped(self) -> bool:
        return self.problem is not None or self.undecided is not None

    def fail(self, code: str, message: str) -> None:
        if not self.stopped:
            self.problem = (code, message)

    def undecide(self, code: str, message: str) -> None:
        if not self.stopped:
            self.undecided = (code, message)

    def result(self) -> Result:
        """The check's conclusion, with the page state, exchanges and files that show why; a
        pass keeps no evidence."""
        if not self.stopped:
            return Result()
        page = [Evidence("page", self.page_state)] if self.page_state else []
        evidence = [*page, *(exchange.evidence() for exchange in self.exchanges)]
        return Result(self.problem, evidence=evidence, files=self.files, undecided=self.undecided)


def protected_url(settings: LoginSettings, mode: str, landing: Page) -> str | None:
    """The resource that tells signed-in from signed-out: the configured one, else the page
    the login lands on when that is not the login page."""
    configured = settings.api_protected_url if mode == "api" else None
    if configured or settings.protected_url:
        return configured or settings.protected_url
    on_login = urlsplit(landing.url).path == urlsplit(settings.login_url).path
    usable = landing.status is not None and landing.status < 400 and landing.url
    return landing.url if usable and not on_login and not landing.asks_password else None


def attempt(
    agent: Agent, prober: Prober, settings: LoginSettings, username: str, password: str
) -> tuple[Attempt, str | None]:
    """Submit credentials and ask the server what they opened."""
    status, landing = agent.submit(username, password)
    url = protected_url(settings, agent.mode, landing)
    reached = prober.opens(url, agent.session()) if url and status is not None else None
    anonymous = prober.opens_anonymously(url) if url and reached is not None else None
    asking = agent.still_asking(landing) if status is not None else False
    stopped = agent.stopped or prober.stopped
    return Attempt(status, landing.locked, asking, reached, anonymous, landing.text, stopped), url


def _not_logged_in(result: FlowResult, found: Outcome, attempt_: Attempt, mode: str) -> None:
    status = attempt_.status
    if found is Outcome.RATE_LIMITED:
        result.undecide(
            "rate-limited",
            f"the login answered {status}: too many attempts, or the account is locked;"
            " not a verdict on the credentials",
        )
    elif found is Outcome.NO_ANSWER:
        result.undecide("login-server-error", "the login request got no answer in time")
    elif found is Outcome.SERVER_ERROR:
        result.fail("login-server-error", f"the login request answered {status}")
    elif found is Outcome.UNPROVEN:
        result.undecide(
            "protected-unknown",
            "nothing tells signed-in from signed-out: set protected_url to a page only a"
            " signed-in user can open",
        )
    else:
        result.fail(REFUSED_CODES[mode], f"valid credentials did not log in (answer {status})")


def login_page_opens(agent: Agent, result: FlowResult, username: str) -> bool:
    """The login page loads and asks for a password, and the settings fit it."""
    page = agent.open_login()
    if agent.stopped:
        result.fail(*agent.stopped)
    elif page.status == 429 or page.locked:
        result.undecide("rate-limited", f"the login page answered {page.status}: rate limited")
    elif page.status is None or page.status >= 500:
        result.fail("login-server-error", f"the login page answered {page.status or page.error}")
    elif page.status < 400 and (problem := agent.misconfigured(username)):
        result.undecide(*problem)
    elif page.status >= 400 or not agent.still_asking(page):
        result.fail("login-page", f"{page.url} ({page.status}) shows no password field")
    return not result.stopped


def login_logout(
    agent: Agent, prober: Prober, settings: LoginSettings, username: str, password: str
) -> FlowResult:
    """Log in, prove it, learn the session cookie, log out like a user and prove the user is
    signed out (what the browser, or the client's own cookie jar, holds no longer opens the
    page); then ask whether the server revoked the session: a copy of it taken before logging
    out, replayed (a stolen cookie), is refused — or not, where the session is a signed cookie
    the server keeps nothing of."""
    result = FlowResult()
    if not login_page_opens(agent, result, username):
        return result
    before = agent.session()
    tried, url = attempt(agent, prober, settings, username, password)
    found = outcome(tried)
    if tried.stopped:
        result.fail(*tried.stopped)
        return result
    if found is not Outcome.LOGGED_IN or url is None:
        _not_logged_in(result, found, tried, agent.mode)
        return result
    session = agent.session()
    result.set_cookies = list(agent.set_cookies)  # those of the login, not of the logout
    result.session_cookies = prober.session_cookies(url, session)
    result.fixated = [
        name
        for name in result.session_cookies
        if before.cookies.get(name) is not None
        and before.cookies.get(name) == session.cookies[name]
    ]
    protected = agent.get(url)
    answer = agent.logout(protected) if not _server_error(protected) else None
    stopped = agent.stopped or prober.stopped
    if stopped:
        result.fail(*stopped)
    elif _server_error(protected):
        result.fail("login-server-error", f"{url}, opened to log out, answered {protected.status}")
    elif answer is None:
        result.fail("logout-missing", f"no log-out control on {url}")
    elif _server_error(answer):
        result.fail("login-server-error", f"the log-out request answered {answer.status}")
    elif prober.opens(url, agent.session()):
        result.fail(
            LOGOUT_CODES[agent.mode],
            f"{url} still opens after logging out, with what the {agent.mode} client holds"
            " then: the user is still signed in",
        )
    else:
        result.protected, result.revoked = url, not prober.opens(url, session)
    return result


def _server_error(page: Page) -> bool:
    return page.status is not None and page.status >= 500


def over_http(
    client: httpx.Client, prober: Prober, settings: LoginSettings, credentials: tuple[str, str]
) -> FlowResult:
    """The login flow over HTTP: a form as a browser would send it, or a token endpoint."""
    agent = (
        FormAgent(client, settings) if settings.api_kind == "form" else TokenAgent(client, settings)
    )
    result = login_logout(agent, prober, settings, *credentials)
    result.exchanges = agent.http.exchanges
    return result


def session_cookie(flow: FlowResult, https: bool) -> Result:
    """The cookie the session lives in carries the flags that keep it from scripts and other
    sites, and changed at login."""
    if not flow.session_cookies:
        return Result(skip="no cookie holds the session (a token-based session?)")
    findings = cookie_findings(flow.set_cookies, flow.session_cookies, https)
    findings += [
        Finding("session-fixation", name, f"session cookie {name} kept its value across the login")
        for name in flow.fixated
    ]
    result = Result(findings=findings)
    if findings:
        result.fail(findings[0].rule, "; ".join(f.message for f in findings))
    return result


REVOCATION_GATE = "login.session_revocation"


def session_revocation(flow: FlowResult, before: float | None) -> Result:
    """The server refuses a session once the user logged out of it. Not revoked is a finding
    (its level the check's severity: major, or minor where ``sessions = "stateless"`` says the
    framework keeps sessions in signed cookies), and a ROLLBACK where the baseline (``before``:
    1 revoked, 0 not) shows the server revoked them then."""
    if flow.revoked is None:
        return Result(skip="the flow did not log out: see its own check")
    regressed = not flow.revoked and before == 1.0
    detail = "revoked" if flow.revoked else "still accepted after logging out"
    gate = Gate(
        REVOCATION_GATE,
        float(flow.revoked),
        1.0,
        "rollback" if regressed else "pass",
        detail + (" (revoked at the baseline)" if regressed else ""),
        1,
    )
    result = Result(gates=[gate])
    if not flow.revoked:
        since = "; it was revoked at the last GO" if regressed else ""
        result.fail(
            "session-not-revoked",
            f"a copy of the session taken before logging out still opens {flow.protected} after"
            " it: the server keeps nothing it could revoke (a signed-cookie session?), so a"
            f" stolen cookie stays good until it expires{since}",
        )
    return result


def page_health(flow: FlowResult) -> Result:
    """The login page loads without console errors or failed resources."""
    result = Result(findings=list(flow.health))
    if flow.health:
        result.fail(flow.health[0].rule, "; ".join(f.message for f in flow.health[:5]))
    return result


# -- wrong credentials ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusals:
    """A wrong password for the real user, and any password for a user that does not exist."""

    username: str
    unknown: str
    wrong_password: Attempt
    unknown_user: Attempt


def unknown_user(username: str) -> str:
    """A username no account has, shaped like the real one (an email stays an email)."""
    token = secrets.token_hex(6)
    _, at, domain = username.partition("@")
    return f"nobody-{token}@{domain}" if at else f"nobody-{token}"


def wrong_credentials(
    agents: list[Agent], prober: Prober, settings: LoginSettings, username: str
) -> Refusals:
    """One attempt with a wrong password, one with an unknown user, each in a fresh agent (a
    login that asks for a password alone has no user to be unknown: one attempt)."""
    tries: list[Attempt] = []
    unknown = unknown_user(username) if username else ""
    for agent, name in zip(agents, (username, unknown), strict=True):
        if tries and not unknown:
            tries.append(Attempt(None))
            continue
        page = agent.open_login()
        problem = agent.misconfigured(name)
        if problem or not agent.still_asking(page):
            tries.append(Attempt(None, undecided=problem))
            continue
        tries.append(
            attempt(agent, prober, settings, name, f"Wrong-{secrets.token_urlsafe(12)}")[0]
        )
    return Refusals(username, unknown, *tries)


def wrong_password_refused(refusals: Refusals) -> Result:
    """A wrong password must not log in; a lockout or a server error says nothing either way."""
    found = outcome(refusals.wrong_password)
    result = Result()
    if refusals.wrong_password.undecided:
        result.undecided = refusals.wrong_password.undecided
    elif refusals.wrong_password.stopped:
        result.fail(*refusals.wrong_password.stopped)
    elif found is Outcome.LOGGED_IN:
        result.fail("auth-bypass", f"a wrong password for {refusals.username} was accepted")
    elif found is not Outcome.REFUSED:
        flow = FlowResult()
        _not_logged_in(flow, found, refusals.wrong_password, "browser")
        result.undecided = flow.undecided or flow.problem
    return result


def same_answer_for_unknown_users(refusals: Refusals) -> Result:
    """An unknown user gets the answer a wrong password gets: no way to learn who has an
    account."""
    both = (refusals.wrong_password, refusals.unknown_user)
    if not refusals.username:
        return Result(skip="the login asks for a password alone: no user to tell apart")
    if any(outcome(a) is not Outcome.REFUSED for a in both):
        return Result(skip="needs both wrong-credential attempts refused")
    result = Result()
    if not same_answer(*both, (refusals.username, refusals.unknown)):
        result.fail(
            "user-enumeration",
            f"an unknown user gets another answer ({refusals.unknown_user.status},"
            f" {_gist(refusals.unknown_user)!r}) than a wrong password"
            f" ({refusals.wrong_password.status}, {_gist(refusals.wrong_password)!r})",
        )
    return result


def _gist(attempt_: Attempt) -> str:
    return re.sub(r"\s+", " ", attempt_.text)[:120]
