"""One redaction step for every writer: a failing demo run with known secrets, every file it
writes searched (zip members included), and a user's own pattern added through the hook."""

from __future__ import annotations

import pytest

from examples.demo_app.launcher import running_demo
from pytest_deploycheck.cli import main
from tests.conftest import file_holds

PASSWORD = "demo-password-1234"
TOKEN = "sk_live_abcd1234"
CONFIG = """
[targets.demo]
base_url = "${DEMO_BASE_URL}"
db_url = "${DEMO_DB_URL}"
[targets.demo.credentials]
username = "alice@example.com"
password = "${DEMO_PASSWORD}"
[targets.demo.suites.login]
modes = ["browser", "api"]
protected_url = "/dashboard"
api_protected_url = "/api/me"
"""
CONFTEST = """
def pytest_deploycheck_redact_patterns(config):
    return [r"sk_live_[0-9a-z]{8}"]
"""
LEAKY = f"""
def test_token(deploy_record, deploy_target):
    password = deploy_target.credentials["password"].reveal()
    print("token {TOKEN} and", password)
    deploy_record.finding("leak", "x", "saw {TOKEN}")
    deploy_record.attach("echo", "{TOKEN} " + password)
    assert False, "[leak] {TOKEN} " + password
"""


def test_no_secret_in_any_file_a_failing_run_writes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_admin: str
) -> None:
    pytester.makefile(".toml", deploycheck=CONFIG)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_leaky=LEAKY)
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("DEMO_PASSWORD", PASSWORD)
    with running_demo(["login-broken"], pg_admin) as demo:
        monkeypatch.setenv("DEMO_BASE_URL", demo.base_url)
        monkeypatch.setenv("DEMO_DB_URL", demo.db_url)
        result = pytester.runpytest_subprocess(
            "--deploy-target=demo",
            "--deploy-suites=login",
            "test_leaky.py",
            f"--alluredir={pytester.path / 'allure'}",
            "--junitxml=junit.xml",
            "-l",
            "--tb=long",
            "-rA",
            "--deploy-artifacts=artifacts",
        )
    assert result.ret == 20
    signoff = pytester.path / "deploycheck-signoff.json"
    main(["postmortem", str(signoff), "-o", str(pytester.path / "postmortem.md")])
    written = [  # not the test sources, nor their bytecode (a .pyc holds the source's literals)
        p for p in pytester.path.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
    ]
    assert {p.suffix for p in written} >= {".json", ".xml", ".md", ".png", ".zip", ".properties"}
    output = result.stdout.str() + result.stderr.str()
    for secret in (PASSWORD, TOKEN):
        assert [str(p) for p in written if file_holds(p, secret)] == []
        assert secret not in output
