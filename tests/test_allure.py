"""What QA reads in Allure: labels by target, phase and suite; failed vs broken; run files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CHECKS = """
import pytest
from pytest_deploycheck import CouldNotCheck

def test_login():
    assert False, "[login-failed] no dashboard"

@pytest.mark.standard
@pytest.mark.deploy_check(id="db.orphans", severity="minor", suite="db")
def test_orphans():
    pass

def test_db():
    raise CouldNotCheck("[db-unreachable] refused")
"""


def results(directory: Path) -> dict[str, dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in directory.glob("*-result.json")]
    return {r["name"]: r for r in found}


def labels(result: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label in result["labels"]:
        out.setdefault(label["name"], []).append(label["value"])
    return out


@pytest.fixture
def allure_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    pytester.makepyfile(test_checks=CHECKS)
    out = pytester.path / "allure"
    pytester.runpytest_subprocess(
        "--deploy-target=prod", "--deploy-version=2.14.0", f"--alluredir={out}"
    )
    return out


def test_checks_are_labelled_for_qa(allure_run: Path) -> None:
    found = results(allure_run)
    login = found["checks.login"]  # titled by check id; the node id is a label
    assert login["status"] == "failed"
    assert login["statusDetails"]["message"].startswith("AssertionError: [login-failed]")
    tags = labels(login)
    assert tags["nodeid"] == ["test_checks.py::test_login"]
    assert tags["parentSuite"] == ["prod"]
    assert tags["suite"] == ["2. immediate"]
    assert tags["subSuite"] == ["checks"]
    assert (tags["epic"], tags["feature"], tags["story"]) == (
        ["prod"],
        ["immediate"],
        ["checks.login"],
    )
    assert tags["severity"] == ["critical"]
    assert set(tags["tag"]) >= {"immediate", "gating"}
    assert tags["version"] == ["2.14.0"]
    parameters = {p["name"]: p for p in login["parameters"]}
    assert parameters["target"]["value"] == "'prod'"
    assert parameters["version"]["excluded"] is True
    orphans = labels(found["db.orphans"])
    assert (orphans["suite"], orphans["severity"]) == (["4. standard"], ["minor"])
    assert "advisory" in orphans["tag"]
    assert found["checks.db"]["status"] == "broken"  # could not check, not a finding
    # the level each failure calls for, which Allure 2 and 3 categorise by
    assert login["statusDetails"]["trace"].endswith("\ndeploycheck: this calls for ROLLBACK")
    assert found["checks.db"]["statusDetails"]["trace"].endswith("this calls for HOLD")


def test_the_verdict_is_a_result_of_its_own(allure_run: Path) -> None:
    signoff = results(allure_run)["Deployment sign-off: ROLLBACK"]
    assert signoff["status"] == "failed"
    assert signoff["statusDetails"]["message"].startswith("[critical-failure] checks.login")
    assert signoff["statusDetails"]["trace"] == "deploycheck: this calls for ROLLBACK"
    block = signoff["descriptionHtml"]  # the terminal's decision block
    assert block.startswith("<pre>VERDICT: ROLLBACK (exit 20) - target prod, version 2.14.0\n")
    assert "  HOLD     could not check: checks.db: [db-unreachable] refused\n" in block


def test_run_files(allure_run: Path) -> None:
    properties = (allure_run / "environment.properties").read_text().splitlines()
    assert "target=prod" in properties
    assert "verdict=ROLLBACK" in properties
    assert "commit=abc123" in properties
    executor = json.loads((allure_run / "executor.json").read_text())
    assert executor["name"] == "GitHub Actions"
    assert executor["buildUrl"] == "https://github.example/acme/app/actions/runs/42"
    assert executor["reportName"] == "Deployment sign-off: ROLLBACK - prod"
    categories = {c["name"] for c in json.loads((allure_run / "categories.json").read_text())}
    assert {"Rollback triggers", "Holds", "Target unreachable", "Security findings"} <= categories


def test_a_failure_says_what_it_means_and_what_to_do(allure_run: Path) -> None:
    login = results(allure_run)["checks.login"]
    [why] = [a for a in login["attachments"] if a["name"] == "why it failed"]
    text = (allure_run / why["source"]).read_text()
    assert why["type"] == "text/html"  # rendered, not Markdown shown as text
    assert text.startswith("<h3>checks.login (critical, immediate)</h3>")
    assert "<p><b>Means:</b> a rollback trigger (ROLLBACK)</p>" in text
    assert "<p><b>Runbook:</b> roll back now" in text
    broken = results(allure_run)["checks.db"]
    [why] = [a for a in broken["attachments"] if a["name"] == "why it failed"]
    assert "could not check (HOLD)" in (allure_run / why["source"]).read_text()


def test_a_result_lasts_as_long_as_its_check(pytester: pytest.Pytester) -> None:
    """The work of a check happens in its fixtures (the probes); its Allure result counts it."""
    pytester.makepyfile(
        test_probe=(
            "import time, pytest\n"
            "@pytest.fixture\n"
            "def probe():\n    time.sleep(0.4)\n"
            "def test_slow_probe(probe):\n    pass\n"
        )
    )
    out = pytester.path / "allure"
    pytester.runpytest_subprocess("--deploy-target=t", f"--alluredir={out}")
    [result] = [r for r in results(out).values() if r.get("fullName") != "deploycheck.signoff"]
    assert result["stop"] - result["start"] >= 400
