"""One redaction step for every text that leaves the run: secrets and credentials become ``***``,
and control characters from the target (ANSI escapes, carriage returns, bidi overrides) become
visible escapes, so no page title or table name can recolour, rewrite or reorder a terminal."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

# Credentials that have a recognisable shape, whatever their value; group "keep" survives.
_SHAPES = (
    r"(://[^/@\s:]*:)[^/@\s]+(?=@)",  # scheme://user:password@host
    r"(\bauthorization: )\S+(?: \S+)?",
    r"(\bbearer )[A-Za-z0-9._~+/=-]{8,}",
    r"(\bpassword=)(?:'(?:[^'\\]|\\.)*'|[^\s&;]+)",  # a DSN's, quoted values whole
    r"(\bpassword\s+)'(?:[^']|'')*'",  # SQL's: ALTER ROLE ... [ENCRYPTED] PASSWORD '...'
)
# Literals in SQL text: quoted strings (with a prefix such as E'', escapes included; one cut
# off by a length limit runs to the end) and dollar-quoted bodies.
_SQL_LITERAL = re.compile(
    r"(?s)\$([A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$\1\$|\Z)"
    r"|(?:[EeBbXxNn]|[Uu]&)?'(?:[^'\\]|''|\\.)*(?:'|\Z)"
)


# C0 and C1 controls but tab and newline, DEL, and the bidirectional formatting characters.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def sql_masked(text: str) -> str:
    """SQL text from the target (``pg_stat_statements``, ``pg_stat_activity.query``) with every
    literal masked: a ``PASSWORD '...'``, a ``pgp_sym_encrypt(..., '...')`` key, a connection
    string are values like any other, and values are not what the text is kept for."""
    return _SQL_LITERAL.sub("'***'", text)


def inert(text: str) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``, ``\\r``); line
    breaks stay, CRLF becomes LF."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def one_line(text: str) -> str:
    """``text`` made inert and kept on one line, for terminal lines built from target text."""
    return inert(text).replace("\n", "\\n")


def markdown_text(text: str) -> str:
    """``text`` as one line of Markdown that renders as the same text: HTML escaped (a
    ``<script>`` in a page title stays text), table pipes and backticks neutralised."""
    escaped = html.escape(one_line(text), quote=False)
    return escaped.replace("|", "\\|").replace("`", "\\`")


def encodings(secret: str) -> set[str]:
    """Every form ``secret`` takes on its way into a file or a terminal: as it is; URL- and
    form-encoded; in JSON, with and without ASCII escapes; as Python's ``repr`` of the str
    and of its UTF-8 bytes (``-l`` locals, tracebacks); with HTML/XML entities, named and
    numeric; and each of those once more inside JSON or XML (a repr in a JUnit report, an
    escaped string in an Allure result)."""
    first = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        *_json(secret),
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        *_entities(secret),
    }
    layered = {outer for form in first for outer in (*_json(form), *_entities(form))}
    return {form for form in first | layered if form}


def _json(text: str) -> tuple[str, str]:
    return json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]


# How markup writers escape quotes: not at all, or as one of these entities.
_QUOTES: tuple[dict[str, str], ...] = (
    {},
    {'"': "&quot;"},
    {'"': "&quot;", "'": "&#x27;"},
    {'"': "&quot;", "'": "&#39;"},
    {'"': "&quot;", "'": "&apos;"},
    {'"': "&#34;", "'": "&#39;"},
)


def _entities(text: str) -> set[str]:
    """``text`` as HTML or XML writers escape it: ``&<>`` always, quotes as each writer does,
    other than ASCII raw or as decimal or hex character references."""
    forms = set()
    for quotes in (None, *_QUOTES):  # None: only what ASCII cannot say is referenced
        marked = text
        if quotes is not None:
            marked = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            for char, entity in quotes.items():
                marked = marked.replace(char, entity)
        forms.add(marked)
        forms.add(re.sub(r"[^\x00-\x7f]", lambda m: f"&#{ord(m.group())};", marked))
        forms.add(re.sub(r"[^\x00-\x7f]", lambda m: f"&#x{ord(m.group()):x};", marked))
    return forms


class Redactor:
    """Replaces known secret values and credential-shaped text with ``***`` in one pass, and
    makes control characters inert."""

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._extra = [f"(?:{p})" for p in patterns]  # users' own, masked whole
        self._pattern = self._compile()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Treat ``secret`` as a value that must never be written anywhere, in any of the
        encodings it takes on the way (see ``encodings``)."""
        if not secret:
            return
        variants = encodings(secret)
        if not variants <= self._secrets:
            self._secrets |= variants
            self._pattern = self._compile()

    @property
    def secrets(self) -> frozenset[str]:
        """Every form of every secret this redactor masks."""
        return frozenset(self._secrets)

    def _compile(self) -> re.Pattern[str]:
        # Longest first, so a secret that contains another is masked whole.
        literals = [re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)]
        return re.compile("|".join([*literals, *(f"(?i:{s})" for s in _SHAPES), *self._extra]))

    def __call__(self, text: str) -> str:
        return inert(self._pattern.sub(_mask, text)) if text else text

    def deep(self, value: Any) -> Any:
        """Redact every string inside a JSON-like structure, keys as well as values."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.deep(key): self.deep(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value


def _mask(match: re.Match[str]) -> str:
    kept = next((group for group in match.groups() if group), "")
    return kept + MASK
