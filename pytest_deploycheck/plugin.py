"""pytest-deploycheck: options, markers and fixtures; the sign-off joins deploy runs only."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest

from pytest_deploycheck.config import ENV_PREFIX, OPTION_NAMES, ConfigError, Settings, resolve
from pytest_deploycheck.fixtures import (
    SETTINGS,
    base_url,
    db,
    deploy_db_connection,
    deploy_record,
    deploy_settings,
    deploy_target,
    http,
)
from pytest_deploycheck.model import Phase
from pytest_deploycheck.redact import Redactor

__all__ = [
    "base_url",
    "db",
    "deploy_db_connection",
    "deploy_record",
    "deploy_settings",
    "deploy_target",
    "http",
]

SESSION_PLUGIN = "deploycheck-session"
_PHASE_WINDOWS = {
    Phase.IMMEDIATE: "0-5 min after the deploy",
    Phase.SHORT_TERM: "5-30 min after the deploy",
    Phase.STANDARD: "30 min-2 h after the deploy",
    Phase.EXTENDED: "2-24 h after the deploy",
}


def bundled_suites_dir() -> Path:
    """Where the prebuilt suites are: inside the installed package, or beside it in a checkout."""
    packaged = Path(__file__).with_name("suites")
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "suites"


def bundled_suites() -> list[str]:
    """Names of the prebuilt suites."""
    return sorted(
        p.name for p in bundled_suites_dir().iterdir() if p.is_dir() and any(p.glob("test_*.py"))
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_deploycheck import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploycheck", "post-deployment validation (pytest-deploycheck)")
    env = {key: f" [env {ENV_PREFIX}{key.upper()}]" for key in OPTION_NAMES}
    group.addoption(
        "--deploy-target",
        metavar="NAME",
        help="Deployment target to check, from the config file" + env["target"],
    )
    group.addoption(
        "--deploy-config",
        metavar="PATH",
        help="Config file (deploycheck.toml or a pyproject.toml with [tool.deploycheck])"
        + env["config"],
    )
    # pytest-base-url (a dependency of pytest-playwright) owns --base-url when installed.
    if find_spec("pytest_base_url") is None:
        group.addoption(
            "--base-url", metavar="URL", help="Base URL of the target" + env["base_url"]
        )
    group.addoption(
        "--deploy-db-url", metavar="DSN", help="PostgreSQL URL of the target" + env["db_url"]
    )
    group.addoption(
        "--deploy-version",
        metavar="VERSION",
        help="Version the target is expected to run" + env["version"],
    )
    group.addoption(
        "--deploy-phase",
        metavar="PHASES",
        help="Run only these phases, comma-separated: immediate, short_term, standard, extended"
        + env["phase"],
    )
    group.addoption(
        "--deploy-suites",
        metavar="SUITES",
        help="Prebuilt suites to run, comma-separated, or 'all'" + env["suites"],
    )
    group.addoption(
        "--deploy-signoff",
        metavar="PATH",
        help="Where to write the sign-off JSON (default deploycheck-signoff.json)" + env["signoff"],
    )
    group.addoption(
        "--deploy-allow-destructive",
        action="store_true",
        default=False,
        help="Allow checks marked destructive to run" + env["allow_destructive"],
    )


def pytest_configure(config: pytest.Config) -> None:
    for phase, window in _PHASE_WINDOWS.items():
        config.addinivalue_line("markers", f"{phase.value}: validation phase, {window}")
    config.addinivalue_line(
        "markers",
        "deploy_check(id=None, severity=None, suite=None): a check's stable id, severity "
        "(critical, major, minor) and suite for the sign-off",
    )
    config.addinivalue_line(
        "markers",
        "destructive: the check changes the target; runs only with --deploy-allow-destructive",
    )
    settings = _settings(config)
    config.stash[SETTINGS] = settings
    if settings.target.base_url and not getattr(config.option, "base_url", None):
        config.option.base_url = settings.target.base_url  # what pytest-base-url's fixture returns
    if settings.suites:
        _add_suites(config, settings.suites)
    if settings.active:
        from pytest_deploycheck.signoff_session import SignOffSession

        session = SignOffSession(config, settings, bundled_suites_dir())
        config.pluginmanager.register(session, SESSION_PLUGIN)
        session.install_sigterm()


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if session is not None:
        session.restore_sigterm()


def _settings(config: pytest.Config) -> Settings:
    options = {key: getattr(config.option, _dest(key), None) for key in OPTION_NAMES}
    try:
        return resolve(options, os.environ, config.rootpath, config.invocation_params.dir)
    except ConfigError as exc:
        raise pytest.UsageError(f"deploycheck: {exc}") from None


def _dest(key: str) -> str:
    return OPTION_NAMES[key].lstrip("-").replace("-", "_")


def _add_suites(config: pytest.Config, names: tuple[str, ...]) -> None:
    """Collect the bundled suites; they replace the default of collecting the current directory."""
    available = bundled_suites()
    wanted = available if "all" in names else list(names)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise pytest.UsageError(
            f"deploycheck: unknown suite {unknown[0]!r}; available suites: {', '.join(available)}"
        )
    paths = [str(bundled_suites_dir() / name) for name in wanted]
    if config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
        config.args[:] = paths
    else:
        config.args.extend(paths)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash.get(SETTINGS, None)
    if settings is None or not (settings.active or settings.config_path):
        return []
    redact = Redactor(settings.secrets)
    target = settings.target
    source = settings.sources
    head = f"deploycheck: target {target.name} (from {source['target']})"
    if settings.phases:
        head += f", phases {','.join(p.value for p in settings.phases)} (from {source['phases']})"
    values = [
        f"{key} {redact(value)} (from {source[key]})"
        for key, value in (
            ("base_url", target.base_url),
            ("db_url", target.db_url),
            ("version", target.version),
        )
        if value
    ]
    lines = [head]
    if values:
        lines.append("deploycheck: " + ", ".join(values))
    if settings.active:
        lines.append(f"deploycheck: sign-off -> {settings.signoff_path}")
    return lines


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("destructive") and not item.config.stash[SETTINGS].allow_destructive:
        pytest.skip("[destructive-not-allowed] pass --deploy-allow-destructive to run this check")
