"""pytest-deploycheck: options, markers and fixtures; the sign-off joins deploy runs only.

An ordinary pytest run in an environment that has the plugin pays for this module and a few
file checks: settings are resolved only for deploy runs or when a fixture asks for them.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_deploycheck.core.options import CONFIG_FILE, ENV_PREFIX, OPTION_NAMES, STATE_DIR, dest
from pytest_deploycheck.core.phases import NAMES, Phase
from pytest_deploycheck.fixtures import (
    SETTINGS,
    base_url,
    db,
    deploy_browser,
    deploy_db_connection,
    deploy_record,
    deploy_settings,
    deploy_target,
    http,
    redactor_of,
    settings_of,
)

if TYPE_CHECKING:
    from pytest_deploycheck.config import Settings

__all__ = [
    "base_url",
    "db",
    "deploy_browser",
    "deploy_db_connection",
    "deploy_record",
    "deploy_settings",
    "deploy_target",
    "http",
]

SESSION_PLUGIN = "deploycheck-session"


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


# Each setting's option: its metavar and help (the environment variable is added to it).
_HELPS = {
    "target": (
        "NAMES",
        "Deployment target to check, from the config file; several (eu,us), a glob"
        " ('tenant-*') or 'all' check a fleet, each target in its own process",
    ),
    "shard": (
        "K/N",
        "Check shard K of N of the fleet's targets (default from a Kubernetes Indexed Job's"
        " or GitLab's parallel variables)",
    ),
    "config": (
        "PATH",
        "Config file (deploycheck.toml or a pyproject.toml with [tool.deploycheck])",
    ),
    "base_url": ("URL", "Base URL of the target"),
    "db_url": ("DSN", "PostgreSQL URL of the target"),
    "version": ("VERSION", "Version the target is expected to run"),
    "phase": (
        "PHASES",
        f"Run only these phases, comma-separated: {NAMES}",
    ),
    "suites": ("SUITES", "Prebuilt suites to run, comma-separated, or 'all'"),
    "signoff": ("PATH", "Where to write the sign-off JSON (default deploycheck-signoff.json)"),
    "baseline": ("PATH", "An earlier GO sign-off JSON whose figures are the baseline"),
    "artifacts": ("DIR", "Where screenshots and traces of failed checks go"),
    "window": (
        "DURATION",
        "Re-run the checks for this long (30s, 30m, 2h) or 'auto' (the phase's)",
    ),
    "interval": ("DURATION", "Time between the rounds of a watch window (default 30s)"),
    "state": (
        "DIR",
        f"Where a watch window keeps its samples, to resume (default {STATE_DIR})",
    ),
    "hold_exit": (
        "CODE",
        "The process's exit status on a HOLD (default 10; 0 for a pipeline that pauses on"
        " its own); the sign-off still says HOLD",
    ),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploycheck", "post-deployment validation (pytest-deploycheck)")
    for key, (metavar, text) in _HELPS.items():
        # pytest-base-url (a dependency of pytest-playwright) owns --base-url when installed.
        if key == "base_url" and find_spec("pytest_base_url") is not None:
            continue
        env = f" [env {ENV_PREFIX}{key.upper()}]"
        group.addoption(OPTION_NAMES[key], metavar=metavar, help=text + env)
    group.addoption(
        OPTION_NAMES["allow_destructive"],
        action="store_true",
        default=False,
        help=f"Allow checks marked destructive to run [env {ENV_PREFIX}ALLOW_DESTRUCTIVE]",
    )
    group.addoption(
        OPTION_NAMES["baseline_trust"],
        action="store_true",
        default=False,
        help="Accept a baseline whose content no longer matches its digest (edited)"
        f" [env {ENV_PREFIX}BASELINE_TRUST]",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """A run of several targets (``--deploy-target=eu,us``, a glob, ``all``, a shard) checks
    each in its own pytest process; this one only combines their sign-offs."""
    option = config.option
    if option.help or option.version or option.collectonly or not _configured(config):
        return None
    settings = settings_of(config)
    if settings.fleet is None:
        return None
    from pytest_deploycheck.fleet_run import run

    _refuse_what_cannot_end_well(config, settings)
    return run(config, settings)


@pytest.hookimpl(tryfirst=True)  # before other plugins create their output directories
def pytest_configure(config: pytest.Config) -> None:
    for phase in Phase:
        config.addinivalue_line("markers", f"{phase.value}: validation phase, {phase.span}")
    config.addinivalue_line(
        "markers",
        "deploy_check(id=None, severity=None, suite=None): a check's stable id, severity "
        "(critical, major, minor) and suite for the sign-off",
    )
    config.addinivalue_line(
        "markers",
        "destructive: the check changes the target; runs only with --deploy-allow-destructive",
    )
    if not _configured(config):
        return
    settings = settings_of(config)
    if settings.target.base_url and not getattr(config.option, "base_url", None):
        config.option.base_url = settings.target.base_url  # what pytest-base-url's fixture returns
    if settings.suites:
        _add_suites(config, settings.suites)
    if settings.active and not hasattr(config, "workerinput"):
        _refuse_what_cannot_end_well(config, settings)
    if settings.active:
        from pytest_deploycheck.session import SignOffSession

        _each_cause_once(config)
        session = SignOffSession(config, settings, bundled_suites_dir())
        config.pluginmanager.register(session, SESSION_PLUGIN)
        if getattr(config.option, "allure_report_dir", None):
            from pytest_deploycheck.allure_plugin import AllureLabels

            labels = AllureLabels(settings.target.name, settings.target.version)
            config.pluginmanager.register(labels, "deploycheck-allure")
        session.install_sigterm()


def _each_cause_once(config: pytest.Config) -> None:
    """A deploy run states each cause once, in the sign-off's decision block: pytest's failure
    sections and short summary would repeat them, so they are off unless asked for (``--tb``,
    ``-r``)."""
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "no"
    if config.option.reportchars == "fE":  # pytest's default
        config.option.reportchars = "N"


def _configured(config: pytest.Config) -> bool:
    """Whether anything configures deploycheck: an option, a variable or a config file."""
    if any(getattr(config.option, dest(key), None) for key in OPTION_NAMES if key != "base_url"):
        return True
    if any(name.startswith(ENV_PREFIX) for name in os.environ):
        return True
    if (config.rootpath / CONFIG_FILE).is_file():
        return True
    pyproject = config.rootpath / "pyproject.toml"
    return pyproject.is_file() and "[tool.deploycheck" in pyproject.read_text(errors="replace")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if session is not None:
        session.close()


def _refuse_what_cannot_end_well(config: pytest.Config, settings: Settings) -> None:
    """Before any check runs: a watch window under ``-n``, or a sign-off, Allure or artifact
    path that cannot be written, is a usage error — never a run whose verdict gets lost."""
    if settings.window_s is not None and config.getoption("numprocesses", None):
        raise pytest.UsageError("deploycheck: a watch window runs in one process; drop -n")
    allure = getattr(config.option, "allure_report_dir", None)
    places = [
        ("the sign-off", Path(settings.signoff_path).parent),
        ("the artifacts", Path(settings.artifacts_dir)),
        *([("the Allure results", Path(allure))] if allure else []),
        *([("the window's state", Path(settings.state_dir))] if settings.keep_last_go else []),
    ]
    for what, directory in places:
        problem = _unwritable(directory)
        if problem:
            raise pytest.UsageError(f"deploycheck: cannot write {what} to {directory}: {problem}")


def _unwritable(directory: Path) -> str | None:
    """Why files cannot be created in ``directory`` (made if missing), or None."""
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


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
    redact = redactor_of(config)
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
    if item.get_closest_marker("destructive") and not settings_of(item.config).allow_destructive:
        pytest.skip("[destructive-not-allowed] pass --deploy-allow-destructive to run this check")
