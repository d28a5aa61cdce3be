"""The Argo Rollouts example: an AnalysisTemplate with the Job metric provider, in the shape
Argo's documentation gives it, whose Job is a valid Kubernetes Job (kubernetes-validate,
offline), running options that exist, with secrets only from Kubernetes Secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from pytest_deploycheck.core.options import OPTION_NAMES

TEMPLATE = Path(__file__).parent.parent / "examples" / "argo-rollouts" / "analysis-template.yaml"


def template() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return document


def test_an_analysis_template_with_the_job_provider() -> None:
    document = template()
    assert (document["apiVersion"], document["kind"]) == (
        "argoproj.io/v1alpha1",
        "AnalysisTemplate",
    )
    spec = document["spec"]
    assert [a["name"] for a in spec["args"]] == ["version"]
    [metric] = spec["metrics"]
    assert set(metric) <= {"name", "failureLimit", "count", "interval", "provider"}
    assert list(metric["provider"]) == ["job"]  # Argo: a Job's success or failure decides
    assert metric["failureLimit"] == 0


def test_its_job_is_a_valid_kubernetes_job() -> None:
    job = template()["spec"]["metrics"][0]["provider"]["job"]
    resource = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "deploycheck", **job["metadata"]},
        "spec": job["spec"],
    }
    kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)
    assert job["spec"]["backoffLimit"] == 0  # a sign-off is never retried
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_its_command_uses_options_that_exist_and_secrets_from_kubernetes() -> None:
    [container] = template()["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"][
        "containers"
    ]
    args = container["args"]
    assert args[0] == "pytest"
    options = {re.match(r"--[a-z-]+", a).group() for a in args[1:]}  # type: ignore[union-attr]
    assert options <= set(OPTION_NAMES.values())
    assert "--deploy-version={{args.version}}" in args  # the rollout's own version
    assert all("secretKeyRef" in e["valueFrom"] for e in container["env"])
    text = TEMPLATE.read_text()
    for status, word in ((0, "GO"), (20, "ROLLBACK"), (10, "HOLD")):
        assert re.search(rf"#\s+{word} \({status}\)\s+-> the Job", text), word
    assert "--deploy-hold-exit=0" in text  # the choice, documented
