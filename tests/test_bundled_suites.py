"""--deploy-suites collects the prebuilt suites; each fires on its defect, quiet when healthy."""

from __future__ import annotations

import pytest

from tests.conftest import Deploy, LoopbackServer


def run_suites(deploy: Deploy, *args: str) -> tuple[int, dict[str, object]]:
    run = deploy(*args)
    return run.code, run.signoff


def test_healthy_target_is_go(
    deploy: Deploy, pytester: pytest.Pytester, server: LoopbackServer, pg_database: str
) -> None:
    pytester.makepyfile(test_unrelated="def test_unit(): assert False\n")
    code, document = run_suites(
        deploy,
        "--deploy-suites=health,db",
        f"--base-url={server.url}",
        f"--deploy-db-url={pg_database}",
        "--deploy-version=1.0.0",
    )
    assert (code, document["verdict"]) == (0, "GO")
    assert {c["suite"] for c in document["checks"]} == {"health", "db"}
    assert ("db.connectivity", "passed") in [(c["id"], c["outcome"]) for c in document["checks"]]


def test_suite_without_its_settings_holds(deploy: Deploy, server: LoopbackServer) -> None:
    code, document = run_suites(deploy, "--deploy-suites=all", f"--base-url={server.url}")
    assert code == 10
    assert document["reasons"] == [
        "[not-configured] suite db was skipped: target default has no db_url",
        "[not-configured] suite login was skipped: target default has no credentials.password",
        "[not-configured] suite metrics was skipped: target default has no"
        " [[suites.metrics.query]]",
        "[not-configured] suite rls was skipped: target default has no db_url",
    ]


def test_explicit_paths_run_beside_the_suites(
    pytester: pytest.Pytester, server: LoopbackServer
) -> None:
    pytester.makepyfile(test_mine="def test_mine(): pass\n")
    result = pytester.runpytest(
        "test_mine.py", "--deploy-suites=health", f"--base-url={server.url}"
    )
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 2
    assert "failed" not in outcomes


def test_unknown_suite_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--deploy-suites=health,smoke")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            "ERROR: deploycheck: unknown suite 'smoke';"
            " available suites: db, health, login, metrics, rls"
        ]
    )


def test_bundled_suites_under_xdist(deploy: Deploy, server: LoopbackServer) -> None:
    args = ("--deploy-suites=health", f"--base-url={server.url}", "--deploy-version=1.0.0")
    run = deploy(*args, "-n", "2", subprocess=True)
    assert run.code == 0
    document = run.signoff
    assert [c["id"] for c in document["checks"]][:2] == ["health.endpoint", "health.version"]
