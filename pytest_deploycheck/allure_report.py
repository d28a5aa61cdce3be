"""Everything that touches Allure; allure is imported only when ``--alluredir`` is given."""

from __future__ import annotations

from pathlib import Path

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
