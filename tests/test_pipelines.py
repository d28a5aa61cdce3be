"""The fleet examples for distributed engines: a GitHub Actions matrix, a GitLab CI
`parallel:` job and a Kubernetes Indexed Job, each valid against its engine's schema
(offline), splitting the fleet into shards that take every target exactly once, and merging
the shards' sign-offs into the fleet's, whose exit code the pipeline acts on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from pytest_deploycheck.core.options import OPTION_NAMES

EXAMPLES = Path(__file__).parent.parent / "examples"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")


def options(text: str) -> set[str]:
    return set(re.findall(r"--deploy-[a-z-]+", text))


def merged_files(command: str) -> list[str]:
    """The sign-offs a `deploycheck merge` command combines."""
    words = command.split()
    after = words[words.index("merge") + 1 :]
    return after[: after.index("-o")]


def test_gitlab_ci_is_valid_against_gitlabs_schema() -> None:
    done = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.gitlab-ci", str(gitlab_path())],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def gitlab_path() -> Path:
    return EXAMPLES / "gitlab-ci" / ".gitlab-ci.yml"


def test_gitlab_shards_every_target_once_and_merges_them_all() -> None:
    pipeline: dict[str, Any] = yaml.safe_load(gitlab_path().read_text())
    validate, merge = pipeline["validate"], pipeline["merge"]
    count = validate["parallel"]
    [check] = [line for line in validate["script"] if "pytest" in line]
    assert "--deploy-target=all" in check
    assert "--deploy-shard" not in check  # GitLab's CI_NODE_INDEX / CI_NODE_TOTAL say it
    assert options(check) <= set(OPTION_NAMES.values())
    assert 'signoff-$CI_NODE_INDEX.json"' in check
    assert validate["allow_failure"] == {"exit_codes": [10, 20]}  # every share signs off
    assert (merge["needs"], merge["when"]) == (["validate"], "always")
    [command] = [line for line in merge["script"] if "deploycheck merge" in line]
    # GitLab's node index counts from 1
    assert merged_files(command) == [f"signoff-{k}.json" for k in range(1, count + 1)]
    assert pipeline["rollback"]["needs"] == ["merge"]
    for job in (validate, merge, pipeline["rollback"]):
        assert job["timeout"]


def test_github_matrix_shards_every_target_once_and_merges_them_all() -> None:
    workflow: dict[str, Any] = yaml.safe_load(
        (EXAMPLES / "github-actions" / "fleet.yml").read_text()
    )
    shard, merge = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    shards = shard["strategy"]["matrix"]["shard"]
    assert shard["strategy"]["fail-fast"] is False
    [check] = [s["run"] for s in shard["steps"] if "pytest" in s.get("run", "")]
    count = int(re.search(r"--deploy-shard=\$\{\{ matrix.shard \}\}/(\d+)", check).group(1))  # type: ignore[union-attr]
    assert shards == list(range(1, count + 1))
    assert merge["needs"] == "shard"
    assert merge["if"] == "always()"
    [command] = [s["run"] for s in merge["steps"] if "deploycheck merge" in s.get("run", "")]
    assert merged_files(command.replace("\\\n", " ")) == [f"signoff-{k}.json" for k in shards]
    assert "exit ${{ steps.merge.outputs.exit }}" in [s.get("run") for s in merge["steps"]]
    assert workflow["jobs"]["rollback"]["if"] == "always() && needs.merge.outputs.exit == '20'"


def kubernetes_jobs() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((EXAMPLES / "kubernetes" / "indexed-job.yaml").read_text()))


def test_kubernetes_jobs_are_valid() -> None:
    for job in kubernetes_jobs():
        kubernetes_validate.validate(job, kubernetes_validate.latest_version(), strict=True)
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["spec"]["activeDeadlineSeconds"]


def test_kubernetes_indexed_job_shards_every_target_once_and_merges_them_all() -> None:
    fleet, merge = kubernetes_jobs()
    spec = fleet["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["backoffLimitPerIndex"] == 0  # a sign-off is never retried
    [container] = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    # Kubernetes gives the index; the count must be the Job's
    assert env["JOB_COMPLETIONS"]["value"] == str(spec["completions"])
    assert all("value" in e or "valueFrom" in e for e in env.values())
    assert "secretKeyRef" in env["TENANT_DB_PASSWORD"]["valueFrom"]
    args = container["args"]
    assert args[0] == "pytest"
    assert options(" ".join(args)) <= set(OPTION_NAMES.values())
    assert "--deploy-target=all" in args
    assert "--deploy-signoff=/results/signoff-$(JOB_COMPLETION_INDEX).json" in args
    [script] = merge["spec"]["template"]["spec"]["containers"][0]["args"]
    expected = [f"/results/signoff-{k}.json" for k in range(spec["completions"])]
    assert merged_files(script) == expected  # the index counts from 0
