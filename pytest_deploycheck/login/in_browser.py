"""Logging in in a real browser: the same steps as over HTTP, played by Playwright in a fresh
context, with what only a browser sees — console errors, failed page resources, screenshots
and traces. The credential step is never traced: tracing stops before the fields are filled
and a new trace starts once the page no longer holds the password; every trace kept is also
scrubbed of every encoding of every secret."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from pytest_deploycheck.core.artifacts import artifact_path
from pytest_deploycheck.core.model import NOT_CONFIGURED_CODE, Finding
from pytest_deploycheck.core.redact import Redactor, encodings
from pytest_deploycheck.core.scrub import scrub_zip
from pytest_deploycheck.login.flows import FlowResult, login_logout
from pytest_deploycheck.login.judge import SetCookie
from pytest_deploycheck.login.over_http import Prober, Session, Stopped
from pytest_deploycheck.login.pages import LOGOUT_NAME, Page
from pytest_deploycheck.login.settings import USERNAME_SELECTOR, LoginSettings
from pytest_deploycheck.net.http import LIMIT_CODES, origin

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

LOGIN_CONFIG_CODE = "login-config"  # the settings do not fit the login page: HOLD
# Each input and button of a page as ``input[type=email][name=user]``, for telling a person
# what a selector could have named.
DESCRIBE_INPUTS = """els => els.map(e => e.tagName.toLowerCase()
  + (e.type ? `[type=${e.type}]` : '') + (e.name ? `[name=${e.name}]` : '')
  + (e.id ? `#${e.id}` : ''))"""


class BrowserAgent:
    """One browser context playing the user."""

    mode = "browser"

    def __init__(
        self,
        context: BrowserContext,
        base_url: str,
        settings: LoginSettings,
        redact: Redactor,
        tracer: Tracer | None = None,
    ) -> None:
        self.context = context
        self.tracer = tracer
        self.base_url = base_url
        self.settings = settings
        self.redact = redact
        self.set_cookies: list[SetCookie] = []
        self.health: list[Finding] = []  # console errors and failed resources of the login page
        self._phase = ""  # "login page", "submit" or ""
        self._posts: list[int] = []  # the statuses of the POSTs sent while submitting or leaving
        self._document: int | None = None  # the status of the page now shown
        self.origins = {origin(url) for url in (base_url, *settings.origins)}
        self.stopped: Stopped | None = None  # the first request kept from leaving
        self._blocked: set[str] = set()  # the URLs of the requests kept from leaving
        self._typed: frozenset[str] = frozenset()  # every form of the password being typed
        self._in_flight: set[Any] = set()  # the page's requests not answered yet
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.set_default_timeout(settings.timeout_ms)
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.page.on("request", self._request)
        self.page.on("requestfinished", self._request_finished)
        self.page.on("requestfailed", self._request_failed)

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/")) if "://" not in path else path

    def _route(self, route: Any) -> None:
        """Every request, before it leaves: one bound for another origin that would carry the
        password (in any encoding) or the target's session is answered here instead, never
        sent; what a page loads from elsewhere without them goes on."""
        request = route.request
        bound = request.url.startswith(("http://", "https://"))
        carried = (
            self._carried(request) if bound and origin(request.url) not in self.origins else None
        )
        if carried is None:
            route.continue_()
            return
        self._blocked.add(request.url)
        message = self.redact(
            f"{request.method} {request.url} would carry {carried} to {origin(request.url)},"
            " which is not the target's origin: kept from leaving"
        )
        self.stopped = self.stopped or (LIMIT_CODES["origin"], message)
        route.fulfill(status=403, body="kept from leaving by pytest-deploycheck")

    def _carried(self, request: Any) -> str | None:
        """What of the credentials a request would carry: the password, the session's
        cookies, an Authorization header; None when none of them."""
        headers = request.headers
        body = request.post_data_buffer or b""
        texts = [request.url, *headers.values(), body.decode("utf-8", "replace")]
        forms = self.redact.secrets | self._typed
        if any(form in text for text in texts for form in forms):
            return "the password"
        if "authorization" in {name.lower() for name in headers}:
            return "an Authorization header"
        session = {(c["name"], c["value"]) for c in self.context.cookies(self.base_url)}
        if session & {(c["name"], c["value"]) for c in self.context.cookies(request.url)}:
            return "the session's cookies"
        return None

    def _console(self, message: Any) -> None:
        # A failed resource is reported by the network events, with its URL; the browser's own
        # requests (the favicon) are not the page's.
        resource = message.text.startswith("Failed to load resource")
        if message.type == "error" and self._phase == "login page" and not resource:
            text = self.redact(message.text)
            self.health.append(Finding("console-error", self.settings.login_url, text))

    def _response(self, response: Any) -> None:
        if response.request.is_navigation_request() and response.frame == self.page.main_frame:
            self._document = response.status
        kept = response.url in self._blocked
        if self._phase == "login page" and response.status >= 400 and not kept:
            url = self.redact(response.url)
            message = f"{response.request.method} {url} -> {response.status}"
            self.health.append(Finding("resource-failed", url, message))
        if self._phase == "submit":
            self.set_cookies += [
                SetCookie.parse(h["value"])
                for h in response.headers_array()
                if h["name"].lower() == "set-cookie"
            ]
        if self._phase in ("submit", "log-out") and response.request.method == "POST":
            self._posts.append(response.status)

    def _request(self, request: Any) -> None:
        self._in_flight.add(request)

    def _request_finished(self, request: Any) -> None:
        self._in_flight.discard(request)

    def _request_failed(self, request: Any) -> None:
        self._in_flight.discard(request)
        if self._phase == "login page":
            url = self.redact(request.url)
            failure = request.failure or "failed"
            self.health.append(
                Finding("resource-failed", url, f"{request.method} {url}: {failure}")
            )

    def _current(self, status: int | None) -> Page:
        return Page(self.page.url, status, self.page.content())

    def open_login(self) -> Page:
        """The login page once settled and showing a password field — one a script renders
        late (after a timer) is waited for, up to ``timeout_ms``: a page is judged to ask for
        no password only after that, never for being slow to ask."""
        self._phase = "login page"
        try:
            response = self.page.goto(self.url(self.settings.login_url))
            self._settle()
            if response is not None and response.ok:
                # Any password field ends the wait: one the settings do not match is
                # [login-config], said at once, not after timeout_ms.
                fields = self.page.locator(
                    f"{self.settings.password_selector}, input[type=password]"
                ).filter(visible=True)
                if not fields.count():  # a settled page showing one is judged at once
                    try:
                        fields.first.wait_for()
                    except Exception:  # no password field in time: the page is judged as it is
                        pass
                    else:
                        self._settle()  # what its script asks for with the form
        finally:
            self._phase = ""
        return self._current(response.status if response else None)

    def still_asking(self, landing: Page) -> bool:
        """A password field is still on screen."""
        fields = self.page.locator(self.settings.password_selector)
        return any(fields.nth(i).is_visible() for i in range(fields.count()))

    def misconfigured(self, username: str) -> tuple[str, str] | None:
        """What in the settings does not fit a login page that asks for a password: a selector
        that matches nothing there (``login-config``), or a username field where no username
        is configured (``not-configured``); None when they fit, or when the page asks for no
        password at all (the page's problem, not the settings')."""
        page, s = self.page, self.settings
        if page.locator("input[type=password]").count() == 0:
            return None
        needed = [
            ("password_selector", s.password_selector),
            ("submit_selector", s.submit_selector),
        ]
        if username and page.locator(USERNAME_SELECTOR).count():  # the page has a username field
            needed.append(("username_selector", s.username_selector))
        for key, selector in needed:
            if page.locator(selector).count() == 0:
                inputs = page.eval_on_selector_all("input, button", DESCRIBE_INPUTS)
                return LOGIN_CONFIG_CODE, (
                    f"{key} {selector!r} matches nothing on {page.url}, whose login form has:"
                    f" {', '.join(inputs) or 'no inputs'}"
                )
        if not username and page.locator(s.username_selector).count():
            return (
                NOT_CONFIGURED_CODE,
                "the login form asks for a username: set credentials.username",
            )
        return None

    def submit(self, username: str, password: str) -> tuple[int | None, Page]:
        """Type the credentials and send them as a user would — the password alone where the
        form asks for nothing else; the status of the request that took them (None when none
        came back in time)."""
        page, s = self.page, self.settings
        if self.tracer:
            self.tracer.pause()  # what is typed and sent is never traced
        self._posts, self._phase = [], "submit"
        self._typed = frozenset(encodings(password))
        try:
            if username and page.locator(s.username_selector).count():
                page.locator(s.username_selector).first.fill(username)
            page.locator(s.password_selector).first.fill(password)
            with page.expect_response(lambda r: r.request.method == "POST"):
                page.locator(s.submit_selector).first.click()
            self._settle()
        except Exception as exc:  # a timeout: the request took the credentials and went silent
            self._phase = ""
            return None, Page(page.url, None, error=str(exc).splitlines()[0])
        self._phase = ""
        self.forget_password()
        if self.tracer:
            self.tracer.resume()  # a new trace: none of the credential step's network in it
        return (self._posts[-1] if self._posts else None), self._current(self._document)

    def _settle(self) -> None:
        """Wait for the page to load and its network to stay quiet for ``settle_ms`` (what a
        script asks for after the load: a single-page app's login); a page that never goes
        quiet is judged after ``timeout_ms`` as it is."""
        self.page.wait_for_load_state("load")
        now = time.monotonic()
        deadline, quiet_since = now + self.settings.timeout_ms / 1000, now
        while (now := time.monotonic()) < deadline:
            if self._in_flight:
                quiet_since = now
            elif now - quiet_since >= self.settings.settle_ms / 1000:
                return
            self.page.wait_for_timeout(20)  # Playwright delivers the page's events meanwhile

    def forget_password(self) -> None:
        """Empty any password field still on the page, so later snapshots cannot hold it."""
        fields = self.page.locator(self.settings.password_selector)
        for index in range(fields.count()):
            if fields.nth(index).is_editable():
                fields.nth(index).fill("")

    def session(self) -> Session:
        return Session({c["name"]: c["value"] for c in self.context.cookies(self.base_url)})

    def get(self, url: str) -> Page:
        response = self.page.goto(self.url(url))
        self._settle()
        return self._current(response.status if response else None)

    def logout(self, protected: Page) -> Page | None:
        """Click the log-out control as a user would (or open the configured log-out URL):
        the answer to the log-out request (the POST it sent, else the page it opened); None
        when there is no control."""
        s, page = self.settings, self.page
        self._posts, self._phase = [], "log-out"
        try:
            if s.logout_url:
                page.goto(self.url(s.logout_url))
            else:
                control = (
                    page.locator(s.logout_selector)
                    if s.logout_selector
                    else page.get_by_role("button", name=LOGOUT_NAME).or_(
                        page.get_by_role("link", name=LOGOUT_NAME)
                    )
                )
                if control.count() == 0:
                    return None
                control.first.click()
            self._settle()
        finally:
            self._phase = ""
        return Page(page.url, self._posts[0] if self._posts else self._document)

    def evidence(self, artifacts: Path, name: str) -> tuple[Path, str]:
        """A screenshot (password fields masked) and the page's URL, title and console errors."""
        artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifact_path(artifacts, f"{name}.png")
        masked = [self.page.locator(self.settings.password_selector)]
        self.page.screenshot(path=str(shot), full_page=True, mask=masked)
        errors = "\n".join(f.message for f in self.health if f.rule == "console-error")
        state = f"URL: {self.page.url}\nTitle: {self.page.title()}\nConsole errors:\n"
        return shot, self.redact(state + (errors or "(none)"))


class Tracer:
    """Playwright tracing around a flow, never across the credential step: the trace up to
    the login form, and a new one from when the page no longer holds the password. Kept (and
    scrubbed) only when the flow fails."""

    def __init__(self, context: BrowserContext, artifacts: Path, redact: Redactor) -> None:
        self.context = context
        self.redact = redact
        self.before = artifact_path(artifacts, "trace-before-login.zip")
        self.after = artifact_path(artifacts, "trace-after-login.zip")
        self.on = False

    def start(self) -> None:
        self.context.tracing.start(screenshots=True, snapshots=True)
        self.on = True

    def pause(self) -> None:
        if self.on:
            self.before.parent.mkdir(parents=True, exist_ok=True)
            self.context.tracing.stop(path=str(self.before))
            self.on = False

    def resume(self) -> None:
        self.start()

    def keep(self) -> list[Path]:
        """Stop tracing; the traces, scrubbed of every secret."""
        if self.on:
            self.after.parent.mkdir(parents=True, exist_ok=True)
            self.context.tracing.stop(path=str(self.after))
            self.on = False
        kept = [path for path in (self.before, self.after) if path.exists()]
        for path in kept:
            scrub_zip(path, self.redact)
        return kept

    def discard(self) -> None:
        if self.on:
            self.context.tracing.stop()
            self.on = False
        for path in (self.before, self.after):
            path.unlink(missing_ok=True)


def in_browser(
    context: BrowserContext,
    base_url: str,
    settings: LoginSettings,
    credentials: tuple[str, str],
    prober: Prober,
    artifacts: Path,
    redact: Redactor,
) -> FlowResult:
    """The login flow in a browser, traced but for the credential step; a failure keeps a
    screenshot, the page's state and the traces."""
    shutil.rmtree(artifacts, ignore_errors=True)  # a run keeps only its own evidence
    tracer = Tracer(context, artifacts, redact)
    agent = BrowserAgent(context, base_url, settings, redact, tracer)
    tracer.start()
    try:
        result = login_logout(agent, prober, settings, *credentials)
    except Exception as exc:  # a field the settings name is missing; Playwright's errors
        result = FlowResult()
        result.fail("browser-step", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    result.health = agent.health
    if result.stopped:
        shot, result.page_state = agent.evidence(artifacts, "failure")
        result.files = [shot, *tracer.keep()]
    else:
        tracer.discard()
    return result
