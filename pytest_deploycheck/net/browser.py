"""Finding and launching Chromium for browser checks.

Playwright is imported only when a browser is launched. Its own downloaded browsers are used
when present; otherwise a system Chromium: Debian's ``chromium-headless-shell`` first (the old
headless shell Playwright itself runs headless; a third of the full browser's CPU), then
``chromium`` and the like.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_deploycheck.core.model import CouldNotCheck

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

BROWSER_ENV = "DEPLOYCHECK_BROWSER"
SYSTEM_BROWSERS = (
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
# Needed where Chromium runs as root, in a container, or on a machine with no network.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium(playwright: Playwright, explicit: str | None = None) -> str | None:
    """The executable to launch: an explicit path, Playwright's own browser (``None``), or a
    system Chromium; raises CouldNotCheck when there is none."""
    explicit = explicit or os.environ.get(BROWSER_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise CouldNotCheck(f"[no-browser] {explicit} is not an executable browser")
        return explicit
    if Path(playwright.chromium.executable_path).exists():
        return None
    for name in SYSTEM_BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise CouldNotCheck(
        "[no-browser] no Chromium found: install Debian's chromium, run `playwright install"
        f" chromium`, or set browser_path in suites.login or {BROWSER_ENV}"
    )


def launch(playwright: Playwright, explicit: str | None = None) -> Browser:
    """A headless Chromium."""
    path = find_chromium(playwright, explicit)
    try:
        return playwright.chromium.launch(executable_path=path, headless=True, args=LAUNCH_ARGS)
    except Exception as exc:  # Playwright raises its own Error for every launch failure
        raise CouldNotCheck(f"[no-browser] Chromium did not start: {exc}".splitlines()[0]) from None


@contextmanager
def fresh_context(browser: Browser) -> Iterator[BrowserContext]:
    """A new browser context (cookies, storage) for one flow, closed after it. Service workers
    are blocked: what they fetch would pass by the context's routes."""
    context = browser.new_context(service_workers="block")
    try:
        yield context
    finally:
        context.close()
