"""Settings of the prebuilt login suite (``[targets.NAME.suites.login]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pytest_deploycheck.core.settings_table import Ranged, number, optional_bool, parse_table

MODES = ("browser", "api")
SESSIONS = ("server", "stateless")  # where sessions live: ended by the server, or a signed cookie
API_KINDS = ("form", "token")
USERNAME_SELECTOR = (
    "input[type=email], input[autocomplete=username], input[name*=user i], "
    "input[name*=email i], input[name*=login i], input[type=text]"
)


# Keys of earlier versions, and why they went.
RETIRED = {
    "success_selector": "a login is proven by protected_url opening with the session only",
    "success_url": "a login is proven by protected_url opening with the session only",
    "session_cookie": "the session cookie is the one without which protected_url is refused",
}


@dataclass(frozen=True)
class LoginSettings(Ranged):
    """How to log in, what success looks like, and how to log out, for both modes."""

    modes: tuple[str, ...] = ("browser",)
    login_url: str = "/login"
    username_selector: str = USERNAME_SELECTOR
    password_selector: str = "input[type=password]"
    submit_selector: str = "button[type=submit], input[type=submit], form button:not([type])"
    protected_url: str | None = None  # default: the page the login lands on
    logout_url: str | None = None  # default: the log-out control on the protected page
    logout_selector: str | None = None
    negative: bool | None = None
    timeout_ms: int = number(10000, 0, 600_000, above=True)
    settle_ms: int = number(250, 0, 60_000)  # the browser's network quiet that long: settled
    browser_path: str | None = None
    api_kind: str = "form"
    api_protected_url: str | None = None
    api_logout_url: str | None = None
    api_logout_method: str = "POST"
    token_url: str | None = None
    token_username_key: str = "email"
    token_password_key: str = "password"
    token_field: str = "access_token"
    allowed_origins: tuple[str, ...] = ()  # besides the target's: an identity provider, say
    sessions: str = "server"  # "stateless": a signed-cookie session no server can revoke

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> LoginSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        retired = [key for key in RETIRED if key in table]
        if retired:
            raise ValueError(f"{retired[0]} is no longer used: {RETIRED[retired[0]]}")
        settings = parse_table(cls, table, {"negative": optional_bool("negative")})
        unknown = [mode for mode in settings.modes if mode not in MODES]
        if unknown or not settings.modes:
            raise ValueError(f"modes must name some of {', '.join(MODES)}")
        if settings.sessions not in SESSIONS:
            raise ValueError(f"sessions must be one of {', '.join(SESSIONS)}")
        if settings.api_kind not in API_KINDS:
            raise ValueError(f"api_kind must be one of {', '.join(API_KINDS)}")
        token = "api" in settings.modes and settings.api_kind == "token"
        if token and not settings.token_url:
            raise ValueError('api_kind = "token" needs token_url')
        if token and not (settings.api_protected_url or settings.protected_url):
            raise ValueError('api_kind = "token" needs api_protected_url (what the token opens)')
        for url in settings.allowed_origins:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"allowed_origins: {url!r} is not an http(s) origin")
        return settings

    @property
    def origins(self) -> tuple[str, ...]:
        """Where besides the target credentials may go: ``allowed_origins`` and every URL the
        settings give whole (an identity provider's token endpoint)."""
        urls = (
            self.login_url,
            self.protected_url,
            self.logout_url,
            self.api_protected_url,
            self.api_logout_url,
            self.token_url,
        )
        return (*self.allowed_origins, *(url for url in urls if url and "://" in url))

    def negative_allowed(self, production: bool) -> bool:
        """The wrong-password check runs on production only when asked for explicitly."""
        return self.negative if self.negative is not None else not production
