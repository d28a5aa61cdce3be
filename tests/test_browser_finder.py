"""Which Chromium the browser checks launch: an explicit one, Playwright's own, else the
system's, Debian's old headless shell first (a third of the full browser's CPU)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.net.browser import find_chromium

NO_OWN_BROWSER: Any = SimpleNamespace(chromium=SimpleNamespace(executable_path="/nonexistent"))


def executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_headless_shell_comes_before_the_full_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    full = executable(tmp_path, "chromium")
    shell = executable(tmp_path, "chromium-headless-shell")
    assert find_chromium(NO_OWN_BROWSER) == str(shell)
    shell.unlink()
    assert find_chromium(NO_OWN_BROWSER) == str(full)
    full.unlink()
    with pytest.raises(CouldNotCheck, match=r"^\[no-browser\] no Chromium found"):
        find_chromium(NO_OWN_BROWSER)


def test_an_explicit_browser_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    executable(tmp_path, "chromium-headless-shell")
    (tmp_path / "elsewhere").mkdir()
    mine = executable(tmp_path / "elsewhere", "my-chrome")
    assert find_chromium(NO_OWN_BROWSER, str(mine)) == str(mine)
