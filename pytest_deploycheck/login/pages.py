"""What a page shows a login check, read from its HTML the way a browser would see it: its
forms (where they go, their fields and buttons), its links, whether it asks for a password,
whether it says the account is locked or too many attempts were made, and its visible text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

LOGOUT_NAME = re.compile(r"\b(?:log|sign)[ -]?(?:out|off)\b", re.IGNORECASE)
LOCKED = re.compile(
    r"too many (?:\w+ )?(?:attempts|requests|tries)|(?:account|user) (?:is |has been )?"
    r"(?:temporarily )?(?:locked|blocked|disabled)|locked out|try again (?:later|in \d+)",
    re.IGNORECASE,
)
_SILENT = {"script", "style", "template", "noscript", "head"}


@dataclass
class Form:
    """A form as a browser would submit it."""

    action: str
    method: str
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)  # the text of its submit controls

    @property
    def asks_password(self) -> bool:
        return any(i.get("type", "").lower() == "password" for i in self.inputs)

    def hidden(self) -> dict[str, str]:
        """Its hidden fields (a CSRF token among them), as they would be sent."""
        return {
            i["name"]: i.get("value", "")
            for i in self.inputs
            if i.get("name") and i.get("type", "").lower() == "hidden"
        }

    @property
    def user_field(self) -> str | None:
        """The name of the field the username goes in: the first text or email field; None on
        a form that asks for a password alone."""
        return next(
            (
                i["name"]
                for i in self.inputs
                if i.get("name") and i.get("type", "text").lower() in ("email", "text")
            ),
            None,
        )

    def filled(self, username: str, password: str) -> dict[str, str]:
        """The hidden fields, the username in its field (if the form has one), the password."""
        data = self.hidden()
        if self.user_field:
            data[self.user_field] = username
        for i in self.inputs:
            if i.get("name") and i.get("type", "").lower() == "password":
                data[i["name"]] = password
        return data


@dataclass
class Page:
    """A page a login check saw: where it ended up, its status and its HTML."""

    url: str
    status: int | None
    html: str = ""
    error: str | None = None  # nothing came back
    _parsed: _Parser | None = field(default=None, repr=False)

    @property
    def parsed(self) -> _Parser:
        if self._parsed is None:
            self._parsed = _Parser()
            self._parsed.feed(self.html)
            self._parsed.close()
        return self._parsed

    @property
    def text(self) -> str:
        """The visible text, whitespace collapsed."""
        return " ".join(" ".join(self.parsed.text).split())

    @property
    def login_form(self) -> Form | None:
        return next((f for f in self.parsed.forms if f.asks_password), None)

    @property
    def asks_password(self) -> bool:
        return self.login_form is not None or self.parsed.password_outside_forms

    @property
    def locked(self) -> bool:
        """The page says too many attempts were made or the account is locked."""
        return self.status == 429 or LOCKED.search(self.text) is not None

    def logout_control(self) -> tuple[str, str, dict[str, str]] | None:
        """How to log out from here, as a browser would: ``(method, url, fields)`` of a form
        whose button or action says log out, else of a link that does."""
        for form in self.parsed.forms:
            if any(LOGOUT_NAME.search(b) for b in form.buttons) or LOGOUT_NAME.search(form.action):
                return form.method, urljoin(self.url, form.action or self.url), form.hidden()
        for href, text in self.parsed.links:
            if LOGOUT_NAME.search(text) or LOGOUT_NAME.search(href):
                return "GET", urljoin(self.url, href), {}
        return None


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.text: list[str] = []
        self.password_outside_forms = False
        self._form: Form | None = None
        self._button: list[str] | None = None
        self._link: list[str] | None = None
        self._href = ""
        self._silent = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag in _SILENT:
            self._silent += 1
        elif tag == "form":
            self._form = Form(values.get("action", ""), values.get("method", "GET").upper())
            self.forms.append(self._form)
        elif tag == "input":
            self._input(values)
        elif tag == "button" and values.get("type", "submit").lower() == "submit":
            self._button = []
        elif tag == "a" and "href" in values:
            self._link, self._href = [], values["href"]

    def _input(self, values: dict[str, str]) -> None:
        kind = values.get("type", "text").lower()
        if self._form is None:
            self.password_outside_forms |= kind == "password"
            return
        self._form.inputs.append(values)
        if kind in ("submit", "image"):
            self._form.buttons.append(values.get("value", "") or values.get("alt", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SILENT:
            self._silent = max(0, self._silent - 1)
        elif tag == "form":
            self._form = None
        elif tag == "button" and self._button is not None:
            if self._form is not None:
                self._form.buttons.append(" ".join(self._button))
            self._button = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._href, " ".join(self._link)))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._silent:
            return
        self.text.append(data)
        for collecting in (self._button, self._link):
            if collecting is not None:
                collecting.append(data.strip())
