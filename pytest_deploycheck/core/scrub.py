"""Keeping files clean of secrets: every file a run leaves, zip members (Playwright traces)
included, passes through the run's redaction."""

from __future__ import annotations

import zipfile
from pathlib import Path

from pytest_deploycheck.core.redact import MASK, Redactor


def scrub_directory(directory: Path, redact: Redactor) -> int:
    """Pass every file under ``directory`` through the redaction (zip members included), for
    writers that are not ours, such as allure-pytest. Returns how many files changed."""
    changed = 0
    for path in (p for p in directory.rglob("*") if p.is_file()):
        if zipfile.is_zipfile(path):
            changed += scrub_zip(path, redact) > 0
            continue
        data = path.read_bytes()
        clean = _scrub_bytes(data, redact)
        if path.suffix in (".json", ".txt", ".xml", ".properties", ".md", ".csv", ".html", ".log"):
            clean = redact(clean.decode("utf-8", errors="surrogateescape")).encode(
                "utf-8", errors="surrogateescape"
            )
        if clean != data:
            path.write_bytes(clean)
            changed += 1
    return changed


def _scrub_bytes(data: bytes, redact: Redactor) -> bytes:
    for secret in sorted(redact.secrets, key=len, reverse=True):
        data = data.replace(secret.encode(), MASK.encode())
    return data


def scrub_zip(path: Path, redact: Redactor) -> int:
    """Mask every form of every secret inside every member of a zip (a Playwright trace).

    A trace keeps what was typed, the DOM and request bodies; this is the guarantee that none
    of it carries a credential. Returns how many members were changed.
    """
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    changed = 0
    cleaned = []
    for info, data in members:
        clean = _scrub_bytes(data, redact)
        changed += clean != data
        cleaned.append((info, clean))
    if changed:
        tmp = path.with_suffix(".scrubbing")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
            for info, data in cleaned:
                target.writestr(info, data)
        tmp.replace(path)
    return changed
