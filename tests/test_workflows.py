"""The example GitHub Actions workflows: valid against GitHub's workflow schema (the one
check-jsonschema vendors, offline), using only options that exist, and following the
ecosystem's conventions: timeouts, pip's cache, Chromium as Playwright installs it for CI, and
every job's evidence uploaded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_deploycheck.core.options import OPTION_NAMES

CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
WORKFLOWS = sorted((Path(__file__).parent.parent / "examples" / "github-actions").glob("*.yml"))


def runs(workflow: dict[str, Any]) -> list[str]:
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text())
    assert workflow["name"]
    assert workflow[True]  # "on:" (YAML 1.1 reads the key as a boolean)
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest"
        assert job["steps"]
    options = {o for run in runs(workflow) for o in re.findall(r"--deploy-[a-z-]+", run)}
    assert options
    assert options <= set(OPTION_NAMES.values())


def test_workflows_match_githubs_schema() -> None:
    """Every workflow in one run of check-jsonschema (~2 s of start-up a run); a failure names
    the file."""
    done = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_follows_the_conventions(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text())
    for name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes"), f"{name} has no timeout"
        steps = job["steps"]
        python = [s for s in steps if s.get("uses", "").startswith("actions/setup-python")]
        assert all(s["with"].get("cache") == "pip" for s in python), name
        text = "\n".join(s.get("run", "") for s in steps)
        assert "apt-get install" not in text, name  # Playwright installs its browser's needs
        if "--deploy-" in text:
            uploaded = "\n".join(
                s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/upload")
            )
            for written in re.findall(r"--(?:deploy-signoff|junitxml)=(\S+)", text):
                assert written in uploaded, f"{name} does not upload {written}"
    browsers = [r for r in runs(workflow) if "playwright install" in r]
    if any("login" in r for r in runs(workflow)):
        assert "python -m playwright install --with-deps chromium" in browsers


def test_rollback_runs_on_exit_20() -> None:
    workflow = yaml.safe_load((WORKFLOWS[0].parent / "deploy.yml").read_text())
    rollback = workflow["jobs"]["rollback"]
    assert rollback["needs"] == "validate"
    assert "needs.validate.outputs.exit == '20'" in rollback["if"]


def test_extended_watch_resumes_from_its_state() -> None:
    workflow = yaml.safe_load((WORKFLOWS[0].parent / "extended-watch.yml").read_text())
    [watch] = [r for r in runs(workflow) if "--deploy-window" in r]
    assert "--deploy-state=deploycheck-state" in watch
    paths = [s.get("with", {}).get("path") for s in workflow["jobs"]["watch"]["steps"]]
    assert paths.count("deploycheck-state") == 2  # restored before, saved after


def test_the_deploy_is_snapshotted_before_and_judged_against_it_after() -> None:
    workflow = yaml.safe_load((WORKFLOWS[0].parent / "deploy.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["deploy"]["needs"] == "pre-deploy"
    [before] = [r for r in runs({"jobs": {"j": jobs["pre-deploy"]}}) if "--deploy-" in r]
    assert "--deploy-phase=pre_deploy" in before
    assert "--deploy-signoff=pre-deploy-signoff.json" in before
    after = [r for r in runs(workflow) if "--deploy-phase=immediate" in r]
    assert len(after) == 2  # the deploy, and the rolled-back version
    assert all("--deploy-baseline=pre-deploy-signoff.json" in r for r in after)
