"""Logging in over plain HTTP as a browser would (a form with its hidden fields, or a token
endpoint), and the probes both modes share: whether a page opens with a given session or
without one, which cookie is the session, whether an old session is still accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from pytest_deploycheck.core.model import NOT_CONFIGURED_CODE
from pytest_deploycheck.login.judge import SetCookie
from pytest_deploycheck.login.pages import Page
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.net.http import Exchange, ExchangeStopped, exchange_of, header_values

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5
Stopped = tuple[str, str]  # an exchange the gate stopped: (reason code, message)


@dataclass
class Session:
    """What makes requests signed in: cookies (name -> value) and headers. Kept in memory
    only, for as long as the flow runs."""

    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def without(self, name: str) -> Session:
        return Session({k: v for k, v in self.cookies.items() if k != name}, self.headers)

    def request_headers(self) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {**self.headers, **({"Cookie": cookie} if cookie else {})}


class Fetcher:
    """Requests that follow redirects within the target, recording each exchange and every
    cookie set on the way; with ``jar``, cookies are kept between requests as a browser keeps
    them, else each request carries exactly the session it is given."""

    def __init__(self, client: httpx.Client, jar: bool) -> None:
        self.client = client
        self.jar = jar
        self.exchanges: list[Exchange] = []
        self.set_cookies: list[SetCookie] = []
        self.stopped: Stopped | None = None  # the first exchange the gate stopped

    def fetch(
        self,
        method: str,
        url: str,
        session: Session | None = None,
        data: dict[str, str] | None = None,
        json: object = None,
    ) -> tuple[Page, int | None]:
        """The page the request ends on, and the status of the request itself."""
        import httpx

        first: int | None = None
        for _ in range(MAX_REDIRECTS + 1):
            if not self.jar:
                self.client.cookies.clear()
            headers = session.request_headers() if session else {}
            try:
                response = self.client.request(method, url, headers=headers, data=data, json=json)
            except ExchangeStopped as stop:  # never sent, or cut off: never read as an answer
                self.exchanges.append(Exchange.stopped(method, url, stop))
                self.stopped = self.stopped or (stop.code, str(stop))
                return Page(url, None, error=str(stop)), first
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self.exchanges.append(Exchange(method, url, error=error))
                return Page(url, None, error=error), first
            self.exchanges.append(exchange_of(response))
            self.set_cookies += [SetCookie.parse(h) for h in header_values(response, "set-cookie")]
            first = response.status_code if first is None else first
            location = response.headers.get("location")
            if not (response.is_redirect and location) or not self._same_site(url, location):
                return Page(str(response.url), response.status_code, response.text), first
            url, method, data, json = urljoin(str(response.url), location), "GET", None, None
        return Page(url, None, error="too many redirects"), first

    def _same_site(self, url: str, location: str) -> bool:
        base = urlsplit(str(self.client.base_url))
        target = urlsplit(urljoin(str(self.client.base_url.join(url)), location))
        return (target.scheme, target.netloc) == (base.scheme, base.netloc)

    def cookies(self) -> dict[str, str]:
        return {cookie.name: cookie.value or "" for cookie in self.client.cookies.jar}


class Prober:
    """Opens pages with a given session, or none, in a client of its own: what the server
    decides, whatever a browser keeps."""

    def __init__(self, client: httpx.Client, settings: LoginSettings) -> None:
        self.fetcher = Fetcher(client, jar=False)
        self.login_path = urlsplit(settings.login_url).path
        self._anonymous: dict[str, bool] = {}

    @property
    def stopped(self) -> Stopped | None:
        return self.fetcher.stopped

    def opens(self, url: str, session: Session | None = None) -> bool:
        """The page opens: answered under 400, not on the login page, not asking for a password."""
        page, _ = self.fetcher.fetch("GET", url, session)
        return (
            page.status is not None
            and page.status < 400
            and urlsplit(page.url).path != self.login_path
            and not page.asks_password
        )

    def opens_anonymously(self, url: str) -> bool:
        if url not in self._anonymous:
            self._anonymous[url] = self.opens(url)
        return self._anonymous[url]

    def session_cookies(self, url: str, session: Session) -> list[str]:
        """The cookies without which ``url`` no longer opens; all of them when no single one
        decides; none when the session is not in cookies at all."""
        if not session.cookies or self.opens(url, Session(headers=session.headers)):
            return []
        needed = [name for name in session.cookies if not self.opens(url, session.without(name))]
        return needed or list(session.cookies)


class FormAgent:
    """A browser's part played over HTTP: the login form with its hidden fields (a CSRF
    token among them), cookies kept between requests, log-out through the page's control."""

    mode = "api"

    def __init__(self, client: httpx.Client, settings: LoginSettings) -> None:
        self.settings = settings
        self.http = Fetcher(client, jar=True)
        self.page = Page("", None)

    @property
    def stopped(self) -> Stopped | None:
        return self.http.stopped

    def open_login(self) -> Page:
        self.page, _ = self.http.fetch("GET", self.settings.login_url)
        return self.page

    def misconfigured(self, username: str) -> tuple[str, str] | None:
        """A login form with a username field where no username is configured."""
        form = self.page.login_form
        if form is not None and form.user_field and not username:
            return (
                NOT_CONFIGURED_CODE,
                "the login form asks for a username: set credentials.username",
            )
        return None

    def submit(self, username: str, password: str) -> tuple[int | None, Page]:
        form = self.page.login_form
        if form is None:
            return None, self.page
        action = urljoin(self.page.url, form.action) if form.action else self.page.url
        landing, status = self.http.fetch(
            form.method or "POST", action, data=form.filled(username, password)
        )
        return status, landing

    @property
    def set_cookies(self) -> list[SetCookie]:
        return self.http.set_cookies

    def still_asking(self, landing: Page) -> bool:
        """The page after logging in still asks for a password."""
        return landing.asks_password

    def session(self) -> Session:
        return Session(self.http.cookies())

    def get(self, url: str) -> Page:
        page, _ = self.http.fetch("GET", url)
        return page

    def logout(self, protected: Page) -> Page | None:
        """Use the page's log-out control (or the configured one): the answer to the log-out
        request itself; None when there is no control."""
        s = self.settings
        control = protected.logout_control()
        if s.api_logout_url:
            control = (s.api_logout_method, s.api_logout_url, control[2] if control else {})
        elif s.logout_url:
            control = ("GET", s.logout_url, {})
        if control is None:
            return None
        method, url, fields = control
        return _answer(*self.http.fetch(method, url, data=fields or None))


class TokenAgent:
    """An API that hands out a bearer token for JSON credentials."""

    mode = "api"

    def __init__(self, client: httpx.Client, settings: LoginSettings) -> None:
        self.settings = settings
        self.http = Fetcher(client, jar=False)
        self.token: str | None = None

    @property
    def stopped(self) -> Stopped | None:
        return self.http.stopped

    def open_login(self) -> Page:
        return Page(str(self.settings.token_url), 200)  # nothing to open: the endpoint is known

    def misconfigured(self, username: str) -> tuple[str, str] | None:
        """A token endpoint takes a username: one must be configured."""
        if username:
            return None
        return NOT_CONFIGURED_CODE, "the token endpoint takes a username: set credentials.username"

    def submit(self, username: str, password: str) -> tuple[int | None, Page]:
        s = self.settings
        body = {s.token_username_key: username, s.token_password_key: password}
        page, status = self.http.fetch("POST", str(s.token_url), json=body)
        token = self.http.exchanges[-1].json_field(s.token_field) if page.status else None
        self.token = token if isinstance(token, str) and page.status == 200 else None
        return status, page

    @property
    def set_cookies(self) -> list[SetCookie]:
        return self.http.set_cookies

    def still_asking(self, landing: Page) -> bool:
        """No token came back: the credentials were not taken."""
        return self.token is None

    def session(self) -> Session:
        return Session(headers={"Authorization": f"Bearer {self.token}"} if self.token else {})

    def get(self, url: str) -> Page:
        page, _ = self.http.fetch("GET", url, self.session())
        return page

    def logout(self, protected: Page) -> Page | None:
        s = self.settings
        if not s.api_logout_url:
            return None
        answer = _answer(*self.http.fetch(s.api_logout_method, s.api_logout_url, self.session()))
        self.token = None  # as a client does: a logged-out token is thrown away
        return answer


def _answer(page: Page, status: int | None) -> Page:
    """The answer to a request itself (a redirect's status, not that of where it leads)."""
    return Page(page.url, status, error=page.error)
