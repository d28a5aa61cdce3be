"""Where evidence files go: every part of an artifact's path is a plain file name, whatever
text it was made from (a URL, a page title, a check's parameters)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_MAX = 80  # characters kept of a name, before its digest


def safe_name(text: str) -> str:
    """``text`` as one file name: no separators, no ``..``, no control characters, bounded.
    A name that had to change keeps a digest of the original, so two texts stay apart."""
    name = _UNSAFE.sub("-", text).strip("-.") or "artifact"
    if name == text and len(name) <= _MAX:
        return name
    match = _SUFFIX.search(name)
    suffix = match.group() if match else ""
    stem = name[: len(name) - len(suffix)][:_MAX].rstrip("-.") or "artifact"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{stem}-{digest}{suffix}"


def artifact_path(root: Path, *parts: str) -> Path:
    """A path under ``root`` made of ``parts``, each turned into a safe file name."""
    return root.joinpath(*(safe_name(part) for part in parts))
