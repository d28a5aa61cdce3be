"""The pre-deploy backup check on real sources: a query, a command, an HTTP JSON endpoint, and
PostgreSQL's own WAL archiver."""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from tests.conftest import LoopbackServer, Route, SignOffReader, db_suite
from tests.pg_cluster import binaries, running_cluster


def backup_check(
    pytester: pytest.Pytester, read_signoff: SignOffReader, dsn: str, config: str
) -> dict[str, Any]:
    pytester.makefile(".toml", deploycheck=config)
    db_suite(pytester, dsn, "--deploy-phase=pre_deploy")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    [check] = [c for c in document["checks"] if c["id"] == "db.backup"]
    return check


def ago(hours: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(("hours", "outcome"), [(2, "passed"), (72, "failed")])
def test_a_backup_table_read_by_a_query(
    pytester: pytest.Pytester,
    read_signoff: SignOffReader,
    pg_database: str,
    hours: int,
    outcome: str,
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE backups (finished_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO backups VALUES (now() - %s * interval '1 hour')", (hours,))
    config = '[targets.t.suites.db]\nbackup_query = "SELECT max(finished_at) FROM backups"\n'
    check = backup_check(pytester, read_signoff, pg_database, config)
    assert check["outcome"] == outcome
    if outcome == "failed":
        assert check["message"].startswith("[backup-stale] the latest backup (backup_query)")
        assert "72.0 h ago: older than backup_max_age_s (26.0 h)" in check["message"]


def test_a_command_that_prints_the_time(
    pytester: pytest.Pytester, read_signoff: SignOffReader, pg_database: str
) -> None:
    config = f'[targets.t.suites.db]\nbackup_command = "echo listing; echo {ago(1)}"\n'
    assert backup_check(pytester, read_signoff, pg_database, config)["outcome"] == "passed"
    config = '[targets.t.suites.db]\nbackup_command = "echo no such bucket >&2; exit 3"\n'
    check = backup_check(pytester, read_signoff, pg_database, config)
    assert check["outcome"] == "error"  # could not check: HOLD, never a pass
    assert check["message"] == (
        "[backup-unknown] backup_command exited with 3 and no time: no such bucket"
    )


def test_an_http_json_endpoint(
    pytester: pytest.Pytester, read_signoff: SignOffReader, pg_database: str, server: LoopbackServer
) -> None:
    body = json.dumps({"backups": [{"end": ago(40)}, {"end": int(time.time() * 1000)}]})
    server.routes["/v1/backups"] = Route(200, body, {"Content-Type": "application/json"})
    config = (
        "[targets.t.suites.db]\n"
        f'backup_url = "{server.url}/v1/backups"\nbackup_jmespath = "backups[-1].end"\n'
    )
    check = backup_check(pytester, read_signoff, pg_database, config)
    assert check["outcome"] == "passed", check["message"]


@pytest.mark.parametrize(("production", "code"), [(False, 0), (True, 10)])
def test_no_backup_evidence_holds_production_only(
    pytester: pytest.Pytester,
    read_signoff: SignOffReader,
    pg_database: str,
    production: bool,
    code: int,
) -> None:
    config = f"[targets.t]\nproduction = {str(production).lower()}\nallow_db_superuser = true\n"
    check = backup_check(pytester, read_signoff, pg_database, config)
    assert check["outcome"] == "skipped"
    assert check["message"].startswith("[not-configured] " if production else "no backup source")
    assert read_signoff(pytester.path / "deploycheck-signoff.json")["exit_code"] == code


def test_the_wal_archive_of_a_server_that_archives(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries to start an archiving one")
    with (
        tempfile.TemporaryDirectory(prefix="deploycheck-archive-") as archive,
        running_cluster(archive_mode="on", archive_command=f"'cp %p {archive}/%f'") as dsn,
    ):
        os.chmod(archive, 0o777)  # the server runs as postgres
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
            conn.execute("SELECT pg_switch_wal()")
            for _ in range(50):
                archived = conn.execute("SELECT last_archived_time FROM pg_stat_archiver")
                if archived.fetchone()[0] is not None:  # type: ignore[index]
                    break
                time.sleep(0.1)
        check = backup_check(pytester, read_signoff, dsn, "[targets.t.suites.db]\n")
    assert check["outcome"] == "passed", check["message"]


def test_backups_confirmed_elsewhere_is_one_line(
    pytester: pytest.Pytester, read_signoff: SignOffReader, pg_database: str
) -> None:
    config = (
        "[targets.t]\nproduction = true\nallow_db_superuser = true\n"
        "[targets.t.suites.db]\nconfirm_backups = false\n"
    )
    check = backup_check(pytester, read_signoff, pg_database, config)
    assert check["outcome"] == "skipped"
    assert read_signoff(pytester.path / "deploycheck-signoff.json")["verdict"] == "GO"
