"""Secrets never reach the sign-off, the pytest header or the terminal; bad config is one line."""

from __future__ import annotations

import pytest

from tests.conftest import SignOffReader

PASSWORD = "Tr0ub4dor-3-horse"
DB_PASSWORD = "db-pa55-word"
CONFIG = """
[targets.staging]
base_url = "http://127.0.0.1:9"
db_url = "postgresql://checker:${DB_PASSWORD}@127.0.0.1:9/app"
version = "2.14.0"

[targets.staging.credentials]
username = "smoke@example.com"
password = "${SMOKE_PASSWORD}"
"""
LEAKY = """
from pytest_deploycheck import CouldNotCheck

def test_compare(deploy_target):
    password = deploy_target.credentials["password"].reveal()
    print("logging in with", password)
    assert password == "something else", f"[login-failed] rejected {password}"

def test_dsn(deploy_target):
    raise CouldNotCheck(f"[db-unreachable] {deploy_target.db_url}")

def test_finding(deploy_record, deploy_target):
    password = deploy_target.credentials["password"].reveal()
    deploy_record.finding("leak", "form", f"echoed {password}")
    assert False, "[leak] see findings"
"""


@pytest.fixture
def staging(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("SMOKE_PASSWORD", PASSWORD)
    monkeypatch.setenv("DB_PASSWORD", DB_PASSWORD)
    pytester.makefile(".toml", deploycheck=CONFIG)
    return pytester


def test_secrets_stay_out_of_every_output(
    staging: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    staging.makepyfile(test_leaky=LEAKY)
    result = staging.runpytest("--deploy-target=staging", "-l", "-rA", "--tb=long")
    assert result.ret == 20
    output = result.stdout.str() + result.stderr.str()
    signoff = (staging.path / "deploycheck-signoff.json").read_text()
    for secret in (PASSWORD, DB_PASSWORD):
        assert secret not in output
        assert secret not in signoff
    document = read_signoff(staging.path / "deploycheck-signoff.json")
    assert document["checks"][0]["message"] == "[login-failed] rejected ***"
    assert document["checks"][1]["message"] == (
        "[db-unreachable] postgresql://checker:***@127.0.0.1:9/app"
    )
    assert document["checks"][2]["findings"][0]["message"] == "echoed ***"
    result.stdout.fnmatch_lines(["*logging in with ****"])


def test_header_shows_target_and_sources_redacted(staging: pytest.Pytester) -> None:
    staging.makepyfile("def test_a(): pass\n")
    result = staging.runpytest("--deploy-target=staging", "--deploy-version=2.15.0")
    result.stdout.fnmatch_lines(
        [
            "deploycheck: target staging (from --deploy-target)",
            "deploycheck: base_url http://127.0.0.1:9 (from deploycheck.toml), "
            "db_url postgresql://checker:***@127.0.0.1:9/app (from deploycheck.toml), "
            "version 2.15.0 (from --deploy-version)",
            "deploycheck: sign-off -> *deploycheck-signoff.json",
        ]
    )
    assert DB_PASSWORD not in result.stdout.str()


def test_database_url_from_the_environment_is_redacted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYCHECK_DB_URL", f"postgresql://app:{DB_PASSWORD}@127.0.0.1:9/x")
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest("--deploy-target=local")
    result.stdout.fnmatch_lines(
        ["deploycheck: db_url postgresql://app:***@127.0.0.1:9/x (from DEPLOYCHECK_DB_URL)"]
    )
    assert DB_PASSWORD not in result.stdout.str()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            '[targets.p.credentials]\npassword = "hunter2"\n',
            "ERROR: deploycheck: deploycheck.toml: targets.p.credentials.password holds a literal "
            'secret; write it as "${ENV_VAR}" and set that environment variable',
        ),
        ("[targets.p\nbase_url = 1\n", "ERROR: deploycheck: deploycheck.toml is not valid TOML: *"),
        (
            "[targets.p.suites.health]\nmax_rps = inf\n",
            "ERROR: deploycheck: deploycheck.toml: suite health of target p: max_rps must be"
            " above 0, at most 10000 (got inf)",
        ),
        (
            '[targets.p]\nversion = "${RELEASE}"\n',
            "ERROR: deploycheck: deploycheck.toml: targets.p.version needs environment variable "
            "RELEASE, which is not set",
        ),
    ],
)
def test_bad_config_exits_4_with_one_line(
    pytester: pytest.Pytester, config: str, message: str
) -> None:
    pytester.makefile(".toml", deploycheck=config)
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("--deploy-target=p")
    assert result.ret == 4
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, result.stderr.str()
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "hunter2" not in result.stderr.str()
    assert not (pytester.path / "deploycheck-signoff.json").exists()
