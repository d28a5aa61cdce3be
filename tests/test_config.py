"""Config parsing, secret handling and precedence (pure logic, no pytest run)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path

import pytest

from pytest_deploycheck.bundled import check_suite_settings
from pytest_deploycheck.config import ConfigError, DbSettings, HttpSettings, resolve
from pytest_deploycheck.core.model import Secret, Severity
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.policy import Policy
from pytest_deploycheck.core.settings_table import ranged
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.health.settings import HealthSettings
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.metrics.settings import MetricsSettings, Query
from pytest_deploycheck.rls.settings import RlsSettings

CONFIG = """
default_target = "staging"
default_phase = "short-term"

[targets.staging]
base_url = "https://staging.example.com"
db_url = "postgresql://checker:${DB_PASSWORD}@db.example.com/app"
version = "2.14.0"

[targets.staging.credentials]
username = "smoke@example.com"
password = "${SMOKE_PASSWORD}"

[targets.staging.suites.health]
paths = ["/api/health", "/healthz"]

[targets.production]
base_url = "https://example.com"
production = true

[suites.health]
version_field = "build"

[severity]
"health.latency*" = "minor"

[phase_severity]
standard = "critical"

[policy]
error_rate_hold = 0.02
"""
ENV = {"DB_PASSWORD": "db-s3cret", "SMOKE_PASSWORD": "smoke-s3cret"}


def settle(tmp_path: Path, text: str, options: dict[str, object] | None = None, **env: str):  # type: ignore[no-untyped-def]
    (tmp_path / "deploycheck.toml").write_text(text)
    return resolve(options or {}, {**ENV, **env}, tmp_path, tmp_path)


def test_file_values_with_references_resolved(tmp_path: Path) -> None:
    settings = settle(tmp_path, CONFIG)
    target = settings.target
    assert settings.active
    assert target.name == "staging"
    assert target.db_url == "postgresql://checker:db-s3cret@db.example.com/app"
    assert target.credentials == {
        "username": "smoke@example.com",
        "password": Secret("smoke-s3cret"),
    }
    basic = base64.b64encode(b"smoke@example.com:smoke-s3cret").decode()  # HTTP Basic
    assert settings.secrets == {"db-s3cret", "smoke-s3cret", basic}
    assert settings.default_phase is Phase.SHORT_TERM
    assert settings.policy.error_rate_hold == 0.02
    assert settings.phase_severity == {Phase.STANDARD: Severity.CRITICAL}
    assert settings.severity_overrides == (("health.latency*", Severity.MINOR),)
    assert settings.sources["base_url"] == "deploycheck.toml"


def test_suite_settings_merge_defaults_with_the_target(tmp_path: Path) -> None:
    health = settle(tmp_path, CONFIG).target.suite("health")
    assert health == {"version_field": "build", "paths": ["/api/health", "/healthz"]}


def test_command_line_beats_environment_beats_file(tmp_path: Path) -> None:
    options = {"version": "3.0.0"}
    env = {"DEPLOYCHECK_VERSION": "2.99", "DEPLOYCHECK_BASE_URL": "https://env.example.com"}
    settings = settle(tmp_path, CONFIG, options, **env)
    assert settings.target.version == "3.0.0"
    assert settings.sources["version"] == "--deploy-version"
    assert settings.target.base_url == "https://env.example.com"
    assert settings.sources["base_url"] == "DEPLOYCHECK_BASE_URL"


def test_target_from_environment(tmp_path: Path) -> None:
    settings = settle(tmp_path, CONFIG, DEPLOYCHECK_TARGET="production")
    assert (settings.target.name, settings.target.production) == ("production", True)
    assert settings.sources["target"] == "DEPLOYCHECK_TARGET"


def test_only_the_selected_target_needs_its_variables(tmp_path: Path) -> None:
    (tmp_path / "deploycheck.toml").write_text(CONFIG)
    settings = resolve({"target": "production"}, {}, tmp_path, tmp_path)
    assert settings.target.base_url == "https://example.com"


def test_no_config_no_selection_is_inactive(tmp_path: Path) -> None:
    settings = resolve({}, {}, tmp_path, tmp_path)
    assert not settings.active
    assert settings.target.name == "default"
    assert settings.config_path is None


def test_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.deploycheck.targets.local]\nbase_url = "http://127.0.0.1:8000"\n'
    )
    settings = resolve({"target": "local"}, {}, tmp_path, tmp_path)
    assert settings.target.base_url == "http://127.0.0.1:8000"
    assert settings.config_path == tmp_path / "pyproject.toml"


def test_phases_and_suites_from_options(tmp_path: Path) -> None:
    settings = resolve(
        {"phase": "immediate, short-term", "suites": "health,db"}, {}, tmp_path, tmp_path
    )
    assert settings.phases == (Phase.IMMEDIATE, Phase.SHORT_TERM)
    assert settings.suites == ("health", "db")
    assert settings.active


def test_signoff_path_is_relative_to_the_invocation_dir(tmp_path: Path) -> None:
    settings = resolve({"signoff": "out/s.json"}, {}, tmp_path, tmp_path / "cwd")
    assert settings.signoff_path == str(tmp_path / "cwd" / "out" / "s.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[targets.p.credentials]\npassword = "hunter2"',
            "targets.p.credentials.password holds a literal secret",
        ),
        (
            '[targets.p]\ndb_url = "postgresql://app:hunter2@h/db"',
            "targets.p.db_url holds a literal secret",
        ),
        (
            '[targets.p]\ndb_url = "host=h password=hunter2"',
            "targets.p.db_url holds a literal secret",
        ),
        ('[suites.login]\napi_token = "abc"', "suites.login.api_token holds a literal secret"),
        (
            '[targets.p.credentials]\npassword = "pre-${X}"',
            "targets.p.credentials.password holds a literal",
        ),
    ],
)
def test_literal_secrets_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        settle(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("targets = [", {}, "deploycheck.toml is not valid TOML"),
        ("base_url = 'x'", {}, "unknown key 'base_url'"),
        ("[targets.p]\nbase_ur = 'x'", {}, "unknown key 'targets.p.base_ur'"),
        ("[targets.p]\nproduction = 'yes'", {}, "targets.p.production must be a bool"),
        ("[policy]\nerror_rate_hold = 'x'", {}, "policy.error_rate_hold must be a number"),
        (
            "[policy]\nerror_rate_hold = 0.5",
            {},
            "policy.error_rate_hold must not exceed error_rate_rollback",
        ),
        (
            "[policy]\nerror_rate_rollback = inf",
            {},
            "policy.error_rate_rollback must be at least 0",
        ),
        ("[http]\nread_timeout_s = -1", {}, "http.read_timeout_s must be above 0, at most 600"),
        ("[http]\nconnect_timeout_s = nan", {}, "http.connect_timeout_s must be above 0"),
        ("[db]\nstatement_timeout_ms = 0", {}, "db.statement_timeout_ms must be above 0"),
        ("default_phase = 'later'", {}, "unknown phase 'later'"),
        ("[severity]\n'x' = 'fatal'", {}, "unknown severity 'fatal'"),
        (
            "[targets.p]\nbase_url = 'x'",
            {"target": "q"},
            "unknown target 'q'; deploycheck.toml defines: p",
        ),
        (
            "[targets.p]\nbase_url = 'ftp://h'",
            {"target": "p"},
            "must be http:// or https:// and a host",
        ),
        (
            "[targets.p]\nbase_url = 'https://'",
            {"target": "p"},
            "must be http:// or https:// and a host",
        ),
        ("[targets.p]\nbase_url = 'example.com'", {"target": "p"}, "must be http:// or https://"),
        ("[targets.p]\ndb_url = 'nonsense'", {"target": "p"}, "nor a key=value DSN libpq can read"),
        ("[targets.p]\nbase_url = '${NOPE}'", {"target": "p"}, "needs environment variable NOPE"),
        ("", {"phase": "soon"}, "unknown phase 'soon'"),
        ("", {"config": "/nonexistent.toml"}, "config file /nonexistent.toml not found"),
    ],
)
def test_bad_config_is_one_clear_error(
    tmp_path: Path, text: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace("$", r"\$").replace("{", r"\{")
    ) as info:
        settle(tmp_path, text, options)
    assert "\n" not in str(info.value)


def test_explicit_config_path_to_a_pyproject(tmp_path: Path) -> None:
    elsewhere = tmp_path / "deploy" / "pyproject.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('[tool.deploycheck]\ndefault_target = "x"\n[tool.deploycheck.targets.x]\n')
    settings = resolve({"config": str(elsewhere)}, {}, tmp_path, tmp_path)
    assert (settings.target.name, settings.config_path) == ("x", elsewhere)
    elsewhere.write_text("[tool.other]\n")
    with pytest.raises(ConfigError, match=r"has no \[tool.deploycheck\] table"):
        resolve({"config": str(elsewhere)}, {}, tmp_path, tmp_path)


def test_health_suite_settings_are_checked_up_front(tmp_path: Path) -> None:
    text = (
        '[targets.p]\nbase_url = "http://h"\n[targets.p.suites.health]\nburst_requests = "many"\n'
    )
    settings = settle(tmp_path, text, {"target": "p"})
    with pytest.raises(
        ConfigError, match="suite health of target p: burst_requests must be a whole number"
    ):
        check_suite_settings(settings)


def earlier_signoff(path: Path, **fields: object) -> dict[str, object]:
    """A GO sign-off of the default target, written (sealed with its digest) to ``path``."""
    from pytest_deploycheck.signoff.document import SCHEMA_ID, write

    document: dict[str, object] = {
        "schema": SCHEMA_ID,
        "verdict": "GO",
        "target": {"name": "default"},
        **fields,
    }
    write(path, document)
    return document


def test_baseline_figures_are_read_from_an_earlier_signoff(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.json"
    gates = [{"name": "latency.p95 GET /api/health", "value": 42.0}, {"name": "x", "value": None}]
    earlier_signoff(earlier, gates=gates)
    settings = resolve({"baseline": "earlier.json"}, {}, tmp_path, tmp_path)
    assert settings.baseline.figures == {"latency.p95 GET /api/health": 42.0}
    earlier.write_text("{}")
    with pytest.raises(ConfigError, match="is not a pytest-deploycheck sign-off"):
        resolve({"baseline": str(earlier)}, {}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="baseline: cannot read"):
        resolve({"baseline": "missing.json"}, {}, tmp_path, tmp_path)


@pytest.mark.parametrize(
    ("text", "phase", "seconds"),
    [
        ("", "short_term", 1800.0),
        ("", "extended", 86400.0),
        ('[windows]\nstandard = "45m"', "standard", 2700.0),
    ],
)
def test_window_auto_takes_the_phase_window(
    tmp_path: Path, text: str, phase: str, seconds: float
) -> None:
    settings = settle(tmp_path, text, {"window": "auto", "phase": phase})
    assert settings.window_s == seconds


def test_window_auto_needs_one_watched_phase(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--deploy-window=auto needs one of"):
        settle(tmp_path, "", {"window": "auto", "phase": "immediate"})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("retries = -1", "retries must be at least 0, at most 10 (got -1)"),
        ("max_rps = nan", "max_rps must be above 0, at most 10000 (got nan)"),
        ("max_rps = inf", "max_rps must be above 0, at most 10000 (got inf)"),
        ("latency_budget_ms = nan", "latency_budget_ms must be above 0, at most 600000"),
        ("version_wait_s = inf", "version_wait_s must be at least 0, at most 3600 (got inf)"),
        ("concurrency = 0", "concurrency must be at least 1, at most 100 (got 0)"),
    ],
)
def test_nonsense_numbers_are_refused_naming_key_and_range(
    tmp_path: Path, table: str, message: str
) -> None:
    text = f'[targets.p]\nbase_url = "http://h"\n[targets.p.suites.health]\n{table}\n'
    settings = settle(tmp_path, text, {"target": "p"})
    with pytest.raises(ConfigError) as raised:
        check_suite_settings(settings)
    assert str(raised.value).startswith(f"deploycheck.toml: suite health of target p: {message}")


RANGED = {
    "http": HttpSettings,
    "db": DbSettings,
    "policy": Policy,
    "suites.health": HealthSettings,
    "suites.login": LoginSettings,
    "suites.db": DbSuiteSettings,
    "suites.rls": RlsSettings,
    "suites.metrics": MetricsSettings,
    "suites.metrics.query": Query,
}


@pytest.mark.parametrize("section", RANGED)
def test_every_number_has_a_range_and_the_readme_says_it(section: str) -> None:
    cls = RANGED[section]
    numbers = {
        f.name for f in dataclasses.fields(cls) if {"int", "float"} & set(str(f.type).split())
    }
    declared = {item.name: allowed for item, allowed in ranged(cls)}
    assert numbers == set(declared)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name, allowed in declared.items():
        assert f"| `{section}.{name}` | {allowed} |" in readme


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"verdict": "HOLD"}, "its verdict is HOLD: only a GO sign-off is a baseline"),
        ({"target": {"name": "staging"}}, "it is a sign-off of target 'staging', not of 'default'"),
    ],
)
def test_only_a_go_of_the_same_target_is_a_baseline(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    earlier_signoff(tmp_path / "earlier.json", **change)
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve({"baseline": "earlier.json"}, {}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)):  # trusted or not
        resolve({"baseline": "earlier.json", "baseline_trust": True}, {}, tmp_path, tmp_path)


def test_an_edited_baseline_is_refused_unless_trusted(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.json"
    gates = [{"name": "latency.p95 GET /api/health", "value": 42.0}]
    earlier_signoff(earlier, gates=gates)
    edited = json.loads(earlier.read_text())
    edited["gates"][0]["value"] = 4200.0  # a slower baseline would hide a regression
    earlier.write_text(json.dumps(edited))
    with pytest.raises(ConfigError, match="does not match its digest"):
        resolve({"baseline": "earlier.json"}, {}, tmp_path, tmp_path)
    trusted = resolve(
        {"baseline": "earlier.json"}, {"DEPLOYCHECK_BASELINE_TRUST": "1"}, tmp_path, tmp_path
    )
    assert trusted.baseline.figures == {"latency.p95 GET /api/health": 4200.0}
    del edited["digest"]
    earlier.write_text(json.dumps(edited))
    with pytest.raises(ConfigError, match="carries no digest"):
        resolve({"baseline": "earlier.json"}, {}, tmp_path, tmp_path)
