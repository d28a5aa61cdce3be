"""What a login attempt proves, from evidence alone and the same in a browser and over HTTP:
logged in means the protected resource opens with the session and did not without it; a
server error, no answer or a lockout is never read as a verdict on the credentials. And what
the session cookie's flags and the answers to wrong credentials say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from pytest_deploycheck.core.model import Finding


class Outcome(Enum):
    LOGGED_IN = "logged in"
    REFUSED = "refused"
    SERVER_ERROR = "server error"
    NO_ANSWER = "no answer"
    RATE_LIMITED = "rate limited"
    UNPROVEN = "unproven"  # no protected resource tells signed-in from signed-out


@dataclass(frozen=True)
class Attempt:
    """What one login attempt showed."""

    status: int | None  # the login request's answer; None when none came
    locked: bool = False  # the answer says too many attempts, or the account is locked
    asks_password: bool = False  # the page after it still asks for a password
    protected: bool | None = (
        None  # the protected resource opens with the session (None: none known)
    )
    anonymous: bool | None = None  # ... and without one
    text: str = ""  # the visible text after it, for comparing answers
    stopped: tuple[str, str] | None = None  # an exchange the gate stopped: (code, message)
    undecided: tuple[str, str] | None = None  # why it was not tried: (code, message)


def outcome(attempt: Attempt) -> Outcome:
    """The one reading of an attempt both modes share."""
    if attempt.status == 429 or attempt.locked:
        return Outcome.RATE_LIMITED
    if attempt.status is None:
        return Outcome.NO_ANSWER
    if attempt.status >= 500:
        return Outcome.SERVER_ERROR
    if attempt.protected is None or attempt.anonymous:
        return Outcome.REFUSED if attempt.asks_password else Outcome.UNPROVEN
    return Outcome.LOGGED_IN if attempt.protected else Outcome.REFUSED


def same_answer(wrong_password: Attempt, unknown_user: Attempt, names: tuple[str, str]) -> bool:
    """Whether a wrong password and an unknown user got the same answer: the same status, the
    same form, the same words (the usernames, as typed back, aside)."""

    def words(attempt: Attempt) -> str:
        text = attempt.text
        for name in names:
            text = text.replace(name, "")
        return re.sub(r"\s+", " ", text).strip()

    return (wrong_password.status, wrong_password.asks_password, words(wrong_password)) == (
        unknown_user.status,
        unknown_user.asks_password,
        words(unknown_user),
    )


@dataclass(frozen=True)
class SetCookie:
    """A cookie's name and attributes as the server set them; its value is never kept."""

    name: str
    attributes: dict[str, str]

    @property
    def deletes(self) -> bool:
        """It removes the cookie (``Max-Age=0``, as a log-out sends)."""
        return self.attributes.get("max-age") == "0"

    @classmethod
    def parse(cls, header: str) -> SetCookie:
        first, *rest = header.split(";")
        attributes = {}
        for part in rest:
            key, _, value = part.strip().partition("=")
            attributes[key.lower()] = value.strip()
        return cls(first.split("=", 1)[0].strip(), attributes)


# What the session cookie must carry, with the reason code of each lack.
COOKIE_CODES = {
    "HttpOnly": "cookie-no-httponly",
    "SameSite": "cookie-no-samesite",
    "Secure": "cookie-no-secure",
    "SameSite=None": "cookie-samesite-none",
}


def cookie_findings(set_cookies: list[SetCookie], session: list[str], https: bool) -> list[Finding]:
    """The session cookies' flags, as the server last set each: HttpOnly; SameSite, and not
    ``None`` without Secure; Secure on https. Other cookies are not the session's business."""
    last = {c.name: c for c in set_cookies if c.name in session and not c.deletes}
    findings = []
    for name, cookie in last.items():
        flags = cookie.attributes
        lacks = [flag for flag in ("HttpOnly", "SameSite") if flag.lower() not in flags]
        if https and "secure" not in flags:
            lacks.append("Secure")
        if flags.get("samesite", "").lower() == "none" and "secure" not in flags:
            lacks.append("SameSite=None")
        findings += [
            Finding(
                COOKIE_CODES[flag],
                name,
                f"session cookie {name} is SameSite=None without Secure"
                if flag == "SameSite=None"
                else f"session cookie {name} lacks {flag}",
            )
            for flag in lacks
        ]
    return findings
