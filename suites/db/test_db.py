"""The database is reachable, read-only for us, and in the role the target expects.

Settings (``[targets.NAME.suites.db]``): ``expect_replica`` (default ``false``).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deploycheck.config import Target

pytestmark = pytest.mark.immediate


@pytest.mark.deploy_check(id="db.connectivity", severity="critical")
def test_connectivity(db: Any, deploy_target: Target) -> None:
    row = db.execute(
        "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(),"
        " current_setting('transaction_read_only')"
    ).fetchone()
    version_num, in_recovery, read_only = row
    assert read_only == "on", "[db-not-read-only] the check session is not read-only"
    assert version_num >= 120000, f"[db-version] PostgreSQL {version_num} is older than 12"
    expect_replica = bool(deploy_target.suite("db").get("expect_replica", False))
    assert in_recovery == expect_replica, (
        f"[db-recovery] server in recovery is {in_recovery}, expected {expect_replica}"
    )
