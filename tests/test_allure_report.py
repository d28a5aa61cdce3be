"""The main job's ROLLBACK end to end, and the Allure HTML report QA reads, made from it by
Allure 3 (npm) and opened in a real headless Chromium: the verdict comes first, and a failing
check shows its evidence."""

from __future__ import annotations

import functools
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from examples.demo_app.launcher import REPO
from tests.main_job import check_main_job, run_demo

pytestmark = pytest.mark.slow  # make test-fast leaves these out

ALLURE = REPO / ".allure" / "node_modules" / ".bin" / "allure"
ALLURE2 = REPO / ".allure2" / "node_modules" / ".bin" / "allure"  # make allure2-cli


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# The main job's ROLLBACK: login broken, a table's RLS off, a lock held, a column dropped by the
# deploy (after the pre-deploy snapshot).
FAULTS = "--fault=login-broken,rls-disabled,lock-held,drop-column"


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, FAULTS)


def test_the_main_job_rolls_back_end_to_end(main_job: tuple[Path, CompletedProcess[str]]) -> None:
    out, result = main_job
    reasons = (
        "demo:   [critical-failure] login.browser: [login-failed]",
        "demo:   [critical-failure] db.data_loss: [data-loss] column"
        " public.profiles.display_name was dropped",
    )
    check_main_job(result, out, 20, "ROLLBACK", reasons)


@pytest.fixture(scope="module")
def built(main_job: tuple[Path, CompletedProcess[str]]) -> Path:
    """The main job's ROLLBACK, its report built twice by Allure 3 with the configuration the
    run wrote (the second build has the first as history)."""
    if not ALLURE.exists():
        pytest.skip("Allure 3 is not installed (make allure-cli)")
    out = main_job[0]
    results = out / "allure-results"
    for report in ("first-report", "allure-report"):  # as two CI runs would, each its own
        config = ("--config", str(results / "allurerc.json"))
        subprocess.run(
            [str(ALLURE), "generate", *config, str(results), "-o", str(out / report)],
            cwd=out,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return out


@pytest.fixture(scope="module")
def report(built: Path) -> Iterator[str]:
    """The report, served on loopback."""
    html = built / "allure-report"
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
    assert body.index("Deployment sign-off: ROLLBACK") < body.index("2. immediate")
    assert "Deployment sign-off: ROLLBACK - demo" in body[:200]  # the report's own name
    page.close()


def test_a_failing_check_shows_its_evidence(report: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(report)
    page.get_by_placeholder("Search tests").fill("login.browser")  # titled by check id
    page.get_by_text("login.browser").first.click()
    page.get_by_text("failure.png").first.wait_for()
    body = page.inner_text("body")
    assert "[login-failed] valid credentials did not log in" in body
    assert "trace-after-login.zip" in body
    page.get_by_text("why it failed").first.click()  # the remedy, rendered as HTML
    frame = page.frame_locator("iframe[src^='blob:']")  # waits until the viewer attaches it
    frame.get_by_text("Means:").wait_for()
    remedy = frame.locator("body").inner_text()
    assert "Means: a rollback trigger (ROLLBACK)" in remedy
    assert "**" not in remedy
    page.close()


def test_the_tree_and_the_categories_say_what_failed(
    built: Path, report: str, browser: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = tmp_path_factory.mktemp("screenshots")  # kept with the test run's files
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(report)
    page.get_by_text("2. immediate").first.wait_for()
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    tree = page.inner_text("body")
    assert (
        tree.index("demo") < tree.index("2. immediate") < tree.index("rls")
    )  # target → phase → suite
    categories = json.loads((built / "allure-report" / "widgets" / "categories.json").read_text())
    nodes = categories["nodes"]
    by_check = {  # each level's failures grouped by check id
        nodes[root]["name"]: {nodes[child]["value"] for child in nodes[root]["childrenIds"]}
        for root in categories["roots"]
    }
    assert set(by_check) == {"Rollback triggers", "Holds"}  # every failure gates: by its level
    assert {"login.browser", "login.api", "rls.rls_disabled_in_public"} <= by_check[
        "Rollback triggers"
    ]
    assert "deploycheck.signoff" in by_check["Rollback triggers"]  # the verdict's own result
    assert {"db.blocked_sessions", "rls.access"} <= by_check["Holds"]  # lock-held: could not
    charts = json.loads((built / "allure-report" / "widgets" / "charts.json").read_text())
    ring = next(c for c in charts["general"].values() if c["type"] == "currentStatus")
    assert (ring["title"], ring["metric"]) == ("Failed checks", "failed")  # not the pass rate
    page.goto(report.replace("index.html", "index.html#categories"))
    page.get_by_text("Rollback triggers").first.wait_for()
    page.screenshot(path=str(shots / "categories.png"), full_page=True)
    page.close()
    history = (built / "deploycheck-allure-history.jsonl").read_text().splitlines()
    assert len(history) == 2  # one line per build: the second report has the first as history
    data = built / "allure-report" / "data" / "test-results"
    shown = [json.loads(path.read_text()) for path in data.glob("*.json")]
    assert all(result["history"] for result in shown)  # what each check did the first time


def test_the_same_results_build_with_allure_2(built: Path) -> None:
    if not ALLURE2.exists():
        pytest.skip("Allure 2 is not installed (make allure2-cli: npm and Java)")
    html = built / "allure2-report"
    subprocess.run(
        [str(ALLURE2), "generate", str(built / "allure-results"), "-o", str(html), "--clean"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    categories = json.loads((html / "data" / "categories.json").read_text())
    leaves = {
        category["name"]: {
            leaf["name"] for message in category["children"] for leaf in message["children"]
        }
        for category in categories["children"]
    }
    assert set(leaves) == {"Rollback triggers", "Holds"}  # every failure gates: by its level
    assert {"Deployment sign-off: ROLLBACK", "login.browser", "rls.rls_disabled_in_public"} <= (
        leaves["Rollback triggers"]
    )
    assert {"db.blocked_sessions", "rls.access"} <= leaves["Holds"]
