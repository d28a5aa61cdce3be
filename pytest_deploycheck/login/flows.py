"""Login flows, in a real browser and over plain HTTP, and what they show about the session
cookie. Playwright is imported by the caller; httpx through ``http_client``."""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from pytest_deploycheck.core.artifacts import artifact_path
from pytest_deploycheck.core.model import Evidence, Finding
from pytest_deploycheck.core.redact import Redactor
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.core.scrub import scrub_zip
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.net.http import Exchange, exchange_of

if TYPE_CHECKING:
    import httpx
    from playwright.sync_api import BrowserContext

LOGOUT_NAME = re.compile(r"log ?out|sign ?out", re.IGNORECASE)


@dataclass(frozen=True)
class SetCookie:
    """A cookie's name and attributes as the server set them; its value is never kept."""

    name: str
    attributes: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> SetCookie:
        first, *rest = header.split(";")
        attributes = {}
        for part in rest:
            key, _, value = part.strip().partition("=")
            attributes[key.lower()] = value.strip()
        return cls(first.split("=", 1)[0].strip(), attributes)


@dataclass
class FlowResult:
    """How a login flow went: the first failure, if any, and what it left behind."""

    failure: tuple[str, str] | None = None  # (reason code, message)
    cookies: list[SetCookie] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    page_state: str = ""

    def fail(self, code: str, message: str) -> None:
        if self.failure is None:
            self.failure = (code, message)

    def result(self) -> Result:
        """What the check concludes: the flow's first failure with the files, the page state
        and the exchanges that show why; a pass keeps no evidence."""
        if self.failure is None:
            return Result()
        page = [Evidence("page", self.page_state)] if self.page_state else []
        exchanges = [exchange.evidence() for exchange in self.exchanges]
        return Result(self.failure, evidence=[*page, *exchanges], files=list(self.artifacts))


# The flags a session cookie must carry, with the reason code of each one's absence; Secure
# only on https.
COOKIE_CODES = {
    "HttpOnly": "cookie-no-httponly",
    "SameSite": "cookie-no-samesite",
    "Secure": "cookie-no-secure",
}


def cookie_findings(
    cookies: list[SetCookie], https: bool, session_cookie: str | None
) -> list[Finding]:
    """HttpOnly, SameSite, and Secure on https, for the session cookie(s) set at login."""
    wanted = [c for c in cookies if session_cookie in (None, c.name)]
    findings = [
        Finding(code, cookie.name, f"cookie {cookie.name} lacks {flag}")
        for cookie in wanted
        for flag, code in COOKIE_CODES.items()
        if (https or flag != "Secure") and flag.lower() not in cookie.attributes
    ]
    if session_cookie and not wanted:
        findings.append(
            Finding("cookie-missing", session_cookie, f"login set no cookie {session_cookie}")
        )
    return findings


def session_cookie(flow: FlowResult, https: bool, settings: LoginSettings) -> Result:
    """The session cookie the login set carries the flags that keep it from scripts and other
    sites."""
    if not flow.cookies and not settings.session_cookie:
        return Result(skip="login set no cookie (a token-based session?)")
    findings = cookie_findings(flow.cookies, https, settings.session_cookie)
    result = Result(findings=findings)
    if findings:
        result.fail("cookie-flags", "; ".join(f.message for f in findings))
    return result


# -- the browser flow -------------------------------------------------------------------------


class BrowserFlow:
    """One login, protected page, logout and refused page, in a fresh browser context.

    Tracing pauses from filling the credentials until the page no longer holds them, and every
    trace is scrubbed of secrets before it is kept.
    """

    def __init__(
        self,
        context: BrowserContext,
        base_url: str,
        settings: LoginSettings,
        artifacts: Path,
        redact: Redactor,
    ) -> None:
        self.context = context
        self.base_url = base_url
        self.settings = settings
        self.artifacts = artifacts
        self.redact = redact
        self.console_errors: list[str] = []
        self.result = FlowResult()
        self._recording_cookies = False
        self.page = context.new_page()
        self.page.set_default_timeout(settings.timeout_ms)
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(self.redact(message.text))

    def _response(self, response: Any) -> None:
        if self._recording_cookies:
            for header in response.headers_array():
                if header["name"].lower() == "set-cookie":
                    self.result.cookies.append(SetCookie.parse(header["value"]))

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/")) if "://" not in path else path

    def open_login(self) -> bool:
        """Open the login page; False (and a failure) when it does not load."""
        response = self.page.goto(self.url(self.settings.login_url))
        if response is None or response.status >= 400:
            status = response.status if response else "no response"
            self.result.fail("login-page", f"GET {self.settings.login_url} -> {status}")
            return False
        return True

    def submit(self, username: str, password: str) -> bool:
        """Fill in and send the credentials; True when the success condition holds afterwards."""
        page, s = self.page, self.settings
        self._recording_cookies = True
        page.locator(s.username_selector).first.fill(username)
        page.locator(s.password_selector).first.fill(password)
        page.locator(s.submit_selector).first.click()
        self._settle()
        self._recording_cookies = False  # later cookies (a logout's deletion) are not the session's
        return self._succeeded()

    def _settle(self) -> None:
        try:
            self.page.wait_for_load_state("networkidle", timeout=self.settings.timeout_ms)
        except Exception:  # a page that never idles still gets judged
            self.page.wait_for_load_state("load")

    def _succeeded(self) -> bool:
        s, page = self.settings, self.page
        if s.success_selector:
            return page.locator(s.success_selector).first.is_visible()
        if s.success_url:
            return re.search(s.success_url, page.url) is not None
        on_login = urlsplit(page.url).path == urlsplit(self.url(s.login_url)).path
        return not on_login and not page.locator(s.password_selector).first.is_visible()

    def forget_password(self) -> None:
        """Empty any password field still on the page, so later snapshots cannot hold it."""
        fields = self.page.locator(self.settings.password_selector)
        for index in range(fields.count()):
            if fields.nth(index).is_editable():
                fields.nth(index).fill("")

    def opens(self, url: str) -> bool:
        """Whether a protected page opens (not refused, not sent back to the login page)."""
        response = self.page.goto(url)
        refused = response is None or response.status >= 400
        on_login = urlsplit(self.page.url).path == urlsplit(self.url(self.settings.login_url)).path
        return not refused and not on_login

    def logout(self) -> None:
        s, page = self.settings, self.page
        if s.logout_url:
            page.goto(self.url(s.logout_url))
        elif s.logout_selector:
            page.locator(s.logout_selector).first.click()
        else:
            control = page.get_by_role("button", name=LOGOUT_NAME).or_(
                page.get_by_role("link", name=LOGOUT_NAME)
            )
            if control.count() == 0:
                self.result.fail("logout-missing", f"no log-out control on {page.url}")
                return
            control.first.click()
        self._settle()

    def evidence(self, name: str) -> None:
        """Screenshot (password fields masked), URL, title and console errors."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifact_path(self.artifacts, f"{name}.png")
        masked = [self.page.locator(self.settings.password_selector)]
        self.page.screenshot(path=str(shot), full_page=True, mask=masked)
        self.result.artifacts.append(shot)
        errors = "\n".join(self.console_errors) or "(none)"
        self.result.page_state = self.redact(
            f"URL: {self.page.url}\nTitle: {self.page.title()}\nConsole errors:\n{errors}"
        )

    def save_trace(self, name: str) -> None:
        """Stop the current trace chunk into the artifacts, scrubbed of secrets."""
        path = artifact_path(self.artifacts, f"{name}.zip")
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.context.tracing.stop_chunk(path=str(path))
        scrub_zip(path, self.redact)
        self.result.artifacts.append(path)


def browser_flow(
    context: BrowserContext,
    base_url: str,
    settings: LoginSettings,
    username: str,
    password: str,
    artifacts: Path,
    redact: Redactor,
) -> FlowResult:
    """Log in, open the protected page, log out, and check it no longer opens.

    Evidence (screenshot, page state, traces) is kept only when the flow fails.
    """
    shutil.rmtree(artifacts, ignore_errors=True)  # a run keeps only its own evidence
    flow = BrowserFlow(context, base_url, settings, artifacts, redact)
    before = artifact_path(artifacts, "trace-before-login.zip")
    context.tracing.start(screenshots=True, snapshots=True)
    tracing = True
    try:
        if flow.open_login():
            # The credential step is not traced: a trace keeps what was typed and sent.
            artifacts.mkdir(parents=True, exist_ok=True)
            context.tracing.stop_chunk(path=str(before))
            tracing = False
            logged_in = flow.submit(username, password)
            flow.forget_password()
            context.tracing.start_chunk()
            tracing = True
            _after_login(flow, logged_in)
    except Exception as exc:  # Playwright's errors: a missing field, a timeout, a crash
        flow.result.fail("browser-step", str(exc).splitlines()[0])
    finally:
        if flow.result.failure is not None:
            flow.evidence("failure")
            if before.exists():
                scrub_zip(before, redact)
                flow.result.artifacts.append(before)
            if tracing:
                flow.save_trace("trace-after-login")
        else:
            before.unlink(missing_ok=True)
        context.tracing.stop()
    return flow.result


def _after_login(flow: BrowserFlow, logged_in: bool) -> None:
    page, s = flow.page, flow.settings
    if not logged_in:
        flow.result.fail(
            "login-failed", f"valid credentials did not log in; the page is {page.url}"
        )
        return
    protected = flow.url(s.protected_url) if s.protected_url else page.url
    if not flow.opens(protected):
        flow.result.fail("protected-page", f"{protected} did not open after logging in")
        return
    flow.logout()
    if flow.result.failure is None and flow.opens(protected):
        flow.result.fail("logout-failed", f"{protected} still opens after logging out")


def wrong_password_refused(
    context: BrowserContext, base_url: str, settings: LoginSettings, username: str
) -> FlowResult:
    """One attempt with a wrong password must not log in (an auth bypass would)."""
    flow = BrowserFlow(context, base_url, settings, Path(), Redactor())
    if not flow.open_login():
        return flow.result
    accepted = flow.submit(username, f"wrong-{secrets.token_urlsafe(12)}")
    protected = settings.protected_url
    if accepted or (protected and flow.opens(flow.url(protected))):
        flow.result.fail("auth-bypass", f"a wrong password for {username} was accepted")
    return flow.result


# -- the API flow -----------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The forms of a page with their inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({**values, "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(values)


def login_form(html: str) -> dict[str, Any] | None:
    """The form that holds a password field."""
    parser = _Forms()
    parser.feed(html)
    return next(
        (f for f in parser.forms if any(i.get("type") == "password" for i in f["inputs"])), None
    )


def form_data(form: dict[str, Any], username: str, password: str) -> dict[str, str]:
    """Hidden fields (a CSRF token among them) as given, plus the credentials."""
    data = {}
    user_field = None
    for field_ in form["inputs"]:
        name, kind = field_.get("name", ""), field_.get("type", "text")
        if not name:
            continue
        if kind == "password":
            data[name] = password
        elif kind == "hidden":
            data[name] = field_.get("value", "")
        elif user_field is None and kind in ("email", "text"):
            user_field = name
            data[name] = username
    return data


def api_flow(
    client: httpx.Client, settings: LoginSettings, username: str, password: str
) -> FlowResult:
    """Log in over HTTP (a form with its CSRF token, or a token endpoint), call a protected
    URL, log out, and check the protected URL is refused."""
    result = FlowResult()
    headers = (
        _form_login(client, settings, username, password, result)
        if settings.api_kind == "form"
        else _token_login(client, settings, username, password, result)
    )
    if headers is None:
        return result
    protected = settings.api_protected_url or settings.protected_url or "/"
    answer = _call(client, result, "GET", protected, headers)
    if not _allowed(answer, settings):
        result.fail("api-protected", f"GET {protected} -> {answer.status} after logging in")
        return result
    logout = settings.api_logout_url or settings.logout_url or "/logout"
    _call(client, result, settings.api_logout_method, logout, headers)
    answer = _call(client, result, "GET", protected, headers)
    if _allowed(answer, settings):
        result.fail("api-logout-failed", f"GET {protected} -> {answer.status} after logging out")
    return result


def _call(
    client: httpx.Client, result: FlowResult, method: str, url: str, headers: dict[str, str]
) -> Exchange:
    exchange = exchange_of(client.request(method, url, headers=headers))
    result.exchanges.append(exchange)
    return exchange


def _allowed(answer: Exchange, settings: LoginSettings) -> bool:
    if answer.status is None or answer.status >= 400:
        return False
    location = answer.header("location") or ""
    return not (300 <= answer.status < 400 and settings.login_url in location)


def _form_login(
    client: httpx.Client, settings: LoginSettings, username: str, password: str, result: FlowResult
) -> dict[str, str] | None:
    page = _call(client, result, "GET", settings.login_url, {})
    form = login_form(page.body) if page.status == 200 else None
    if form is None:
        result.fail("login-page", f"GET {settings.login_url} -> {page.status}, no login form")
        return None
    action = form.get("action") or settings.login_url
    response = client.post(action, data=form_data(form, username, password))
    answer = exchange_of(response)
    result.exchanges.append(answer)
    result.cookies += [SetCookie.parse(h) for h in response.headers.get_list("set-cookie")]
    location = answer.header("location") or ""
    if answer.status is None or answer.status >= 400 or settings.login_url in location:
        result.fail("api-login-failed", f"POST {action} -> {answer.status}: not logged in")
        return None
    return {}


def _token_login(
    client: httpx.Client, settings: LoginSettings, username: str, password: str, result: FlowResult
) -> dict[str, str] | None:
    body = {settings.token_username_key: username, settings.token_password_key: password}
    answer = exchange_of(client.post(str(settings.token_url), json=body))
    result.exchanges.append(answer)
    token = answer.json_field(settings.token_field)
    if answer.status != 200 or not isinstance(token, str):
        result.fail("api-login-failed", f"POST {settings.token_url} -> {answer.status}, no token")
        return None
    return {"Authorization": f"Bearer {token}"}


def api_wrong_password_refused(
    client: httpx.Client, settings: LoginSettings, username: str
) -> FlowResult:
    """One API login with a wrong password must be refused."""
    result = FlowResult()
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    login = _form_login if settings.api_kind == "form" else _token_login
    if login(client, settings, username, wrong, result) is not None:
        return FlowResult(("auth-bypass", f"a wrong password for {username} was accepted"))
    return FlowResult(exchanges=result.exchanges)
