"""One redaction step for every text that leaves the run: secrets and credentials become ``***``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

# Credentials that have a recognisable shape, whatever their value.
_PATTERNS = (
    re.compile(r"(?<=://)([^/@\s:]*):([^/@\s]+)(?=@)"),  # scheme://user:password@host
    re.compile(r"(?i)(?<=\bauthorization: )\S+(?: \S+)?"),
    re.compile(r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(?<=\bpassword=)[^\s&;]+"),
)


class Redactor:
    """Replaces known secret values and credential-shaped text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Treat ``secret`` as a value that must never be written anywhere."""
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}:{MASK}", text)
        for pattern in _PATTERNS[1:]:
            text = pattern.sub(MASK, text)
        return text

    def deep(self, value: Any) -> Any:
        """Redact every string inside a JSON-like structure."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.deep(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value
