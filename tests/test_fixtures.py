"""The target fixtures against real servers: an HTTP server on loopback and a real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import LoopbackServer, SignOffReader


def test_http_client_is_bound_to_the_base_url(
    pytester: pytest.Pytester, server: LoopbackServer
) -> None:
    pytester.makepyfile(
        """
def test_get(http, base_url, deploy_target):
    assert base_url == deploy_target.base_url
    assert http.get("/api/health").json()["version"] == "1.0.0"
    assert http.get("/api/health").status_code == 200
    assert http.timeout.connect == 5.0 and http.timeout.read == 10.0
    assert http.headers["user-agent"].startswith("pytest-deploycheck/")
"""
    )
    result = pytester.runpytest("--deploy-target=local", f"--base-url={server.url}")
    result.assert_outcomes(passed=1)
    assert server.count("/api/health") == 2


def test_http_timeouts_come_from_the_config(
    pytester: pytest.Pytester, server: LoopbackServer
) -> None:
    pytester.makefile(".toml", deploycheck="[http]\nconnect_timeout_s = 1.5\nread_timeout_s = 3\n")
    pytester.makepyfile(
        "def test_t(http):\n    assert (http.timeout.connect, http.timeout.read) == (1.5, 3)\n"
    )
    pytester.runpytest("--deploy-target=local", f"--base-url={server.url}").assert_outcomes(
        passed=1
    )


def test_base_url_is_what_pytest_base_url_reports(
    pytester: pytest.Pytester, server: LoopbackServer
) -> None:
    pytester.makefile(".toml", deploycheck=f'[targets.local]\nbase_url = "{server.url}"\n')
    pytester.makepyfile(
        f"""
def test_same(base_url, pytestconfig):
    assert base_url == "{server.url}"
    assert pytestconfig.getoption("base_url") == "{server.url}"
"""
    )
    result = pytester.runpytest("--deploy-target=local")
    result.assert_outcomes(passed=1)


def test_db_session_is_read_only_and_bounded(
    pytester: pytest.Pytester, pg_database: str, read_signoff: SignOffReader
) -> None:
    pytester.makepyfile(
        """
import psycopg, pytest

SETTINGS = ("transaction_read_only", "statement_timeout", "lock_timeout",
            "idle_in_transaction_session_timeout", "application_name")

def test_settings(db):
    row = db.execute("SELECT " + ", ".join(f"current_setting('{s}')" for s in SETTINGS)).fetchone()
    assert row == ("on", "2s", "500ms", "10s", "pytest-deploycheck")

def test_writes_are_refused(db):
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        db.execute("CREATE TABLE should_not_exist (id int)")

def test_connection_survives_the_failed_transaction(db):
    assert db.execute("SELECT to_regclass('should_not_exist')").fetchone() == (None,)

def test_statement_timeout(db):
    with pytest.raises(psycopg.errors.QueryCanceled):
        db.execute("SELECT pg_sleep(5)")
"""
    )
    pytester.makefile(
        ".toml", deploycheck="[db]\nstatement_timeout_ms = 2000\nlock_timeout_ms = 500\n"
    )
    result = pytester.runpytest("--deploy-target=local", f"--deploy-db-url={pg_database}")
    result.assert_outcomes(passed=4)
    assert read_signoff(pytester.path / "deploycheck-signoff.json")["verdict"] == "GO"


def test_unreachable_database_could_not_check(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makepyfile(test_checks="def test_q(db): pass\n")
    result = pytester.runpytest(
        "--deploy-target=local", "--deploy-db-url=postgresql://u@127.0.0.1:9/x"
    )
    assert result.ret == 10
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["checks"][0]["outcome"] == "error"
    assert document["reasons"][0].startswith("[could-not-check] checks.q: [db-unreachable]")
