"""The runbook's first check after a deploy: ``curl https://.../api/health``.

Settings (``[targets.NAME.suites.health]``): ``paths`` (default ``["/api/health"]``),
``version_field`` (JSON field of the health response, default ``version``) and
``version_header`` (response header, default ``x-app-version``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_deploycheck.config import Target
from pytest_deploycheck.http_client import get

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.immediate


def _paths(target: Target) -> list[str]:
    return list(target.suite("health").get("paths", ["/api/health"]))


@pytest.mark.deploy_check(id="health.endpoint", severity="critical")
def test_endpoint(http: httpx.Client, deploy_target: Target) -> None:
    for path in _paths(deploy_target):
        exchange = get(http, path)
        assert exchange.error is None, f"[unreachable] GET {exchange.url}: {exchange.error}"
        assert exchange.status is not None
        assert exchange.status < 300, f"[health-status] GET {exchange.url} -> {exchange.status}"


@pytest.mark.deploy_check(id="health.version", severity="critical")
def test_version(http: httpx.Client, deploy_target: Target) -> None:
    if not deploy_target.version:
        pytest.skip("no expected version given (--deploy-version or version in the target)")
    settings = deploy_target.suite("health")
    exchange = get(http, _paths(deploy_target)[0])
    assert exchange.error is None, f"[unreachable] GET {exchange.url}: {exchange.error}"
    header = settings.get("version_header", "x-app-version")
    reported = exchange.json_field(settings.get("version_field", "version")) or next(
        (value for name, value in exchange.headers.items() if name.lower() == header.lower()), None
    )
    assert reported is not None, f"[version-unknown] {exchange.url} reports no version"
    assert str(reported) == deploy_target.version, (
        f"[version-mismatch] expected {deploy_target.version}, got {reported}"
    )
