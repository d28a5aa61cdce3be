"""Everything that touches Allure; allure is imported only when ``--alluredir`` is given."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

_TYPES = {
    "text/plain": "TEXT",
    "application/json": "JSON",
    "text/csv": "CSV",
    "text/markdown": "TEXT",
}


def enabled(config: pytest.Config) -> bool:
    """Whether this run writes Allure results."""
    return bool(getattr(config.option, "allure_report_dir", None))


def attach(config: pytest.Config, name: str, text: str, content_type: str = "text/plain") -> None:
    """Attach evidence to the running test's current step, when Allure is on."""
    if not enabled(config):
        return
    import allure

    kind = getattr(allure.attachment_type, _TYPES.get(content_type, "TEXT"))
    allure.attach(text, name=name, attachment_type=kind)


def attach_file(config: pytest.Config, path: Path, content_type: str) -> None:
    """Attach a file (a screenshot, a Playwright trace), when Allure is on."""
    if not enabled(config):
        return
    import allure

    kinds = {"image/png": "PNG", "application/zip": "ZIP"}
    kind = getattr(allure.attachment_type, kinds.get(content_type, "TEXT"))
    allure.attach.file(str(path), name=path.name, attachment_type=kind)  # type: ignore[no-untyped-call]


_STATUS = {"GO": "passed", "HOLD": "broken", "ROLLBACK": "failed"}


def write_signoff_result(
    config: pytest.Config, document: dict[str, Any], files: list[tuple[Path, str]]
) -> Path | None:
    """The verdict as one more Allure result, written by the process that decides it, with
    the reasons in its description and ``files`` (path, MIME type) attached."""
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory:
        return None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    uid = str(uuid.uuid4())
    attachments = []
    for path, mime in files:
        if path.exists():
            source = f"{uuid.uuid4()}-attachment{path.suffix}"
            shutil.copyfile(path, out / source)
            attachments.append({"name": path.name, "source": source, "type": mime})
    verdict = document["verdict"]
    reasons = (
        "\n".join(f"| {r} |" for r in document["reasons"])
        or "| everything selected ran and passed |"
    )
    target = document["target"]
    description = (
        f"**{verdict}** (exit {document['exit_code']}) for target {target['name']}"
        f" {target.get('version') or ''}\n\n| reasons |\n|---|\n{reasons}\n"
    )
    now = int(time.time() * 1000)
    result = {
        "uuid": uid,
        "name": f"Deployment sign-off: {verdict}",
        "fullName": "deploycheck.signoff",
        "historyId": hashlib.md5(f"signoff {target['name']}".encode()).hexdigest(),
        "status": _STATUS[verdict],
        "statusDetails": {"message": document["reasons"][0] if document["reasons"] else verdict},
        "description": description,
        "attachments": attachments,
        "labels": [
            {"name": "suite", "value": "Deployment sign-off"},
            {"name": "severity", "value": "blocker"},
            {"name": "tag", "value": verdict},
        ],
        "start": now,
        "stop": now,
    }
    path = out / f"{uid}-result.json"
    path.write_text(json.dumps(result))
    return path
