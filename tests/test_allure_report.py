"""The Allure HTML report QA reads, made from a demo run by Allure 3 (npm) and opened in a real
headless Chromium: the verdict comes first, and a failing check shows its evidence."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from examples.demo_app.launcher import REPO

ALLURE = REPO / ".allure" / "node_modules" / ".bin" / "allure"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ROLLBACK demo run's report, served on loopback."""
    if not ALLURE.exists():
        pytest.skip("Allure 3 is not installed (make allure-cli)")
    out = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
    subprocess.run(
        [sys.executable, "-m", "examples.run_demo", f"--out={out}", "--fault=login-broken"],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        timeout=300,
    )
    html = out / "allure-report"
    subprocess.run(
        [str(ALLURE), "generate", str(out / "allure-results"), "-o", str(html)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    from pytest_deploycheck.net.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def test_the_verdict_comes_first(report: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(report)
    page.get_by_text("Deployment sign-off: ROLLBACK").first.wait_for()
    body = page.inner_text("body")
    assert body.index("Deployment sign-off: ROLLBACK") < body.index("test_login.py")
    assert "ROLLBACK" in body[: body.index("Deployment sign-off")]  # in the run's metadata
    page.close()


def test_a_failing_check_shows_its_evidence(report: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(report)
    page.get_by_placeholder("Search tests").fill("test_browser_login_logout")
    page.get_by_text("test_browser_login_logout").first.click()
    page.get_by_text("failure.png").first.wait_for()
    body = page.inner_text("body")
    assert "[login-failed] valid credentials did not log in" in body
    assert "trace-after-login.zip" in body
    page.close()
