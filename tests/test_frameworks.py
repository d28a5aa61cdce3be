"""The health and login suites on servers nobody here wrote, configured only as the README says:
a healthy app must never be rolled back for how its framework works.

- Prometheus' own HTTP API reports its version two levels down (``data.version`` of
  ``/api/v1/status/buildinfo``): read with a JMESPath ``version_field``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples.prometheus import binary, running_prometheus
from tests.conftest import Deploy


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in document["checks"]}


# -- the version, where a framework puts it -----------------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    if binary() is None:
        pytest.skip("no Prometheus server here: `make prometheus` installs Debian's")
    with running_prometheus({}) as url:
        yield url


def health_run(deploy: Deploy, url: str, version: str, **health: str) -> tuple[int, Any]:
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in health.items())
    config = (
        f'[targets.t]\nbase_url = "{url}"\nversion = "{version}"\n'
        f'[targets.t.suites.health]\npaths = ["/-/healthy"]\n'
        f'version_url = "/api/v1/status/buildinfo"\n{table}\n'
    )
    run = deploy("--deploy-target=t", "--deploy-suites=health", config=config)
    return run.code, run.signoff


def test_a_version_two_levels_down(deploy: Deploy, prometheus: str) -> None:
    answer = httpx.get(f"{prometheus}/api/v1/status/buildinfo").json()
    running = answer["data"]["version"]  # {"status": "success", "data": {"version": ...}}
    code, document = health_run(deploy, prometheus, running, version_field="data.version")
    assert by_id(document)["health.version"]["outcome"] == "passed", document["reasons"]
    code, document = health_run(deploy, prometheus, "0.0.1", version_field="data.version")
    assert code == 20
    assert by_id(document)["health.version"]["message"] == (
        f"[version-mismatch] expected 0.0.1, got {running} (JSON field 'data.version')"
    )
    # Where the field is not, the whole answer is never taken for the version: HOLD, naming
    # what the answer has.
    code, document = health_run(deploy, prometheus, running, version_field="build.version")
    version = by_id(document)["health.version"]
    assert version["outcome"] == "error"
    assert version["message"].startswith("[version-field-missing] http://127.0.0.1:")
    assert "without 'build.version' (its top-level keys: status, data)" in version["message"]
    assert code == 10, document["reasons"]
