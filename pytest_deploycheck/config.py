"""Targets and settings: read the config file, refuse literal secrets, resolve precedence.

Every value resolves command line > environment (``DEPLOYCHECK_*``) > config file > default,
and remembers where it came from so the pytest header can say so.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pytest_deploycheck.core.durations import parse_duration
from pytest_deploycheck.core.fleet import Shard, is_fleet, select
from pytest_deploycheck.core.model import Secret, Severity
from pytest_deploycheck.core.options import (
    CONFIG_FILE,
    ENV_PREFIX,
    LAST_GO,
    OPTION_NAMES,
    PRE_DEPLOY,
    STATE_DIR,
)
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.policy import Policy
from pytest_deploycheck.core.settings_table import Ranged, number
from pytest_deploycheck.signoff.document import Baseline
from pytest_deploycheck.signoff.engine import Verdict
from pytest_deploycheck.signoff.fleet import FleetPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")

DEFAULT_SIGNOFF = "deploycheck-signoff.json"
DEFAULT_ARTIFACTS = "deploycheck-artifacts"
DEFAULT_INTERVAL_S = 30.0  # between a watch window's rounds

_SECRET_KEY = re.compile(r"(?i)(^|_)(pass(word|wd)?|secret|token|api_?key|private_?key)$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONLY_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_DSN_PASSWORD = re.compile(r"(?i)\bpassword\s*=\s*(\S+)")
# HTTP headers that carry credentials; their values are "${VAR}" or "Scheme ${VAR}".
_SECRET_HEADER = re.compile(r"(?i)(authorization|cookie|token|secret|key)")
_SCHEMED_REFERENCE = re.compile(r"^([A-Za-z][\w-]* )?\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


class ConfigError(Exception):
    """A configuration the run cannot start with; the message is one sentence naming the fix."""


@dataclass(frozen=True)
class DbSettings(Ranged):
    """How database sessions are opened: every one read-only and bounded in time."""

    connect_timeout_s: float = number(5.0, 0, 300, above=True)
    statement_timeout_ms: int = number(5000, 0, 3_600_000, above=True)
    lock_timeout_ms: int = number(1000, 0, 600_000, above=True)
    idle_in_transaction_timeout_ms: int = number(10000, 0, 3_600_000, above=True)
    # the client gives up this long after the server should have
    client_grace_s: float = number(2.0, 0, 300)

    def deadline_s(self, statement_ms: float | None = None) -> float:
        """How long the client waits for one answer: the statement timeout in force, plus
        the grace; a frozen server or a silent network then costs this long, never more."""
        return (statement_ms or self.statement_timeout_ms) / 1000 + self.client_grace_s


@dataclass(frozen=True)
class HttpSettings(Ranged):
    """Explicit HTTP timeouts; nothing waits for ever."""

    connect_timeout_s: float = number(5.0, 0, 300, above=True)
    read_timeout_s: float = number(10.0, 0, 600, above=True)
    # a whole exchange: connecting, the answer's headers and its body (default: the two above)
    exchange_timeout_s: float | None = number(None, 0, 3600, above=True)
    max_body_mb: float = number(10.0, 0, 1024, above=True)  # decoded bytes of one answer

    @property
    def deadline_s(self) -> float:
        """How long a whole exchange may take."""
        return self.exchange_timeout_s or self.connect_timeout_s + self.read_timeout_s


@dataclass(frozen=True)
class Target:
    """One deployment to check; secrets in ``credentials`` are :class:`Secret` values."""

    name: str
    base_url: str | None = None
    db_url: str | None = None
    version: str | None = None
    production: bool = False
    allow_db_superuser: bool = False  # accept checking production as a database superuser
    credentials: Mapping[str, str | Secret] = field(default_factory=dict)
    suites: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def suite(self, name: str) -> Mapping[str, Any]:
        """The settings of one prebuilt suite for this target (empty when none are given)."""
        return self.suites.get(name, {})


@dataclass(frozen=True)
class NotifySettings:
    """Where the verdict is sent (Apprise URLs, each from the environment) and for which."""

    urls: tuple[str, ...] = ()
    on: tuple[str, ...] = ("HOLD", "ROLLBACK")


@dataclass(frozen=True)
class FleetSettings:
    """A run of several targets: this run's share of them, each checked by its own process."""

    targets: tuple[str, ...]
    shard: Shard | None = None
    max_targets_in_flight: int = 4
    policy: FleetPolicy = field(default_factory=FleetPolicy)


@dataclass(frozen=True)
class Settings:
    """Everything one run is configured with."""

    target: Target
    active: bool = False
    phases: tuple[Phase, ...] = ()
    suites: tuple[str, ...] = ()
    signoff_path: str = DEFAULT_SIGNOFF
    artifacts_dir: str = DEFAULT_ARTIFACTS
    window_s: float | None = None  # a watch window's length; None runs the checks once
    budget_s: float | None = None  # how long a run (not a window) may take before it stops
    interval_s: float = DEFAULT_INTERVAL_S
    state_dir: str = STATE_DIR
    allow_destructive: bool = False
    hold_exit: int | None = None  # the process's exit status on a HOLD, when not the verdict's
    default_phase: Phase = Phase.IMMEDIATE
    phase_severity: Mapping[Phase, Severity] = field(default_factory=dict)
    severity_overrides: tuple[tuple[str, Severity], ...] = ()
    policy: Policy = field(default_factory=Policy)
    db: DbSettings = field(default_factory=DbSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    baseline: Baseline = field(default_factory=Baseline)  # an earlier GO's measurements
    keep_last_go: bool = False  # a GO sign-off is kept in state_dir as the next run's baseline
    notify: NotifySettings = field(default_factory=NotifySettings)
    fleet: FleetSettings | None = None  # several targets: this process runs one per target
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()

    def exit_status(self, verdict: Verdict) -> int:
        """The process's exit status on ``verdict``: its code, but ``--deploy-hold-exit`` on
        a HOLD."""
        if verdict is Verdict.HOLD and self.hold_exit is not None:
            return self.hold_exit
        return verdict.exit_code


# Shapes of the config file: key -> type (a dict value means a nested table of that shape).
_TARGET_KEYS: dict[str, Any] = {
    "base_url": str,
    "db_url": str,
    "version": str,
    "production": bool,
    "allow_db_superuser": bool,
    "credentials": "table",
    "suites": "table",
}
_TOP_KEYS: dict[str, Any] = {
    "default_target": str,
    "default_phase": str,
    "signoff": str,
    "artifacts": str,
    "targets": "targets",
    "suites": "table",
    "severity": "table",
    "phase_severity": "table",
    "policy": {
        "error_rate_hold": float,
        "error_rate_rollback": float,
        "baseline_error_ratio": float,
    },
    "db": dict.fromkeys(DbSettings.__dataclass_fields__, float),
    "http": dict.fromkeys(HttpSettings.__dataclass_fields__, float),
    "windows": {phase.value: str for phase in Phase if phase.window_s},
    "budgets": {phase.value: str for phase in Phase},
    "notify": {"urls": list, "on": list},
    "fleet": {"max_targets_in_flight": int, "rollback_if": str},
}


def find_config(explicit: str | None, rootdir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The config file in use and its deploycheck table, or None when there is none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {explicit} not found; fix --deploy-config")
        table = read_toml(path)
        if path.name == "pyproject.toml":
            table = table.get("tool", {}).get("deploycheck")
            if table is None:
                raise ConfigError(f"{path} has no [tool.deploycheck] table")
        return path, table
    own = rootdir / CONFIG_FILE
    if own.is_file():
        return own, read_toml(own)
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        table = read_toml(pyproject).get("tool", {}).get("deploycheck")
        if table is not None:
            return pyproject, table
    return None


def resolve(
    options: Mapping[str, Any], environ: Mapping[str, str], rootdir: Path, base: Path
) -> Settings:
    """Resolve the settings of a run; ``base`` is the directory relative paths start from."""
    given = _Given(options, environ)
    config_name = given.get("config")
    found = find_config(config_name[0] if config_name else None, rootdir)
    path, table = found if found else (None, {})
    label = path.name if path else "config"
    _check_shape(table, _TOP_KEYS, label, "")
    _refuse_literal_secrets(table, label)
    name = given.get("target") or _from_file(table, "default_target", label)
    fleet = _fleet(name, given.get("shard"), table, environ, label)
    if fleet:
        name = (fleet.targets[0], name[1] if name else label)
        own = [OPTION_NAMES[key] for key in ("base_url", "db_url") if given.get(key)]
        if own:
            raise ConfigError(f"{own[0]} names one target; a fleet's come from the config")
    target, sources, secrets = _target(name, table, given, environ, label)
    for other in fleet.targets[1:] if fleet else ():  # each checked now: no late surprise
        secrets |= _target((other, label), table, given, environ, label)[2]
    trust = given.get("baseline_trust")
    phases, suites = given.get("phase"), given.get("suites")
    signoff = given.get("signoff") or _from_file(table, "signoff", label)
    sources.update({"phases": phases[1]} if phases else {})
    sources.update({"signoff": signoff[1]} if signoff else {})
    destructive = given.get("allow_destructive")
    return Settings(
        target=target,
        active=bool(name or phases or suites or signoff),
        phases=_parse_list(phases[0], Phase.parse) if phases else (),
        suites=tuple(_split(suites[0])) if suites else (),
        signoff_path=str(base / signoff[0]) if signoff else str(base / DEFAULT_SIGNOFF),
        allow_destructive=bool(destructive and _truthy(destructive[0])),
        hold_exit=_exit_status(given.get("hold_exit")),
        default_phase=_parsed(table, "default_phase", Phase.parse, label) or Phase.IMMEDIATE,
        phase_severity=_phase_severity(table.get("phase_severity", {}), label),
        severity_overrides=tuple(
            (pattern, _parse(Severity.parse, value, f"{label}: severity.{pattern}"))
            for pattern, value in table.get("severity", {}).items()
        ),
        policy=_made(Policy, table.get("policy", {}), f"{label}: policy"),
        db=_made(DbSettings, table.get("db", {}), f"{label}: db"),
        http=_made(HttpSettings, table.get("http", {}), f"{label}: http"),
        notify=_notify(table.get("notify", {}), environ, label, secrets),
        fleet=fleet,
        config_path=path,
        sources=sources,
        secrets=frozenset(secrets),
        **_watching(given, table, base, label, (target.name, bool(trust and _truthy(trust[0])))),
    )


def _target(
    name: tuple[Any, str] | None,
    table: Mapping[str, Any],
    given: _Given,
    environ: Mapping[str, str],
    label: str,
) -> tuple[Target, dict[str, str], set[str]]:
    """The target a run checks, where each of its values came from, and its secrets."""
    targets = table.get("targets", {})
    if name and targets and name[0] not in targets:
        known = ", ".join(sorted(targets))
        raise ConfigError(f"unknown target {name[0]!r}; {label} defines: {known}")
    target_name = name[0] if name else "default"
    secrets: set[str] = set()
    raw = dict(targets.get(target_name, {}))
    target_table = _interpolate(raw, environ, f"{label}: targets.{target_name}", secrets)
    suite_defaults = _interpolate(table.get("suites", {}), environ, f"{label}: suites", secrets)
    sources: dict[str, str] = {"target": name[1] if name else "default"}
    values: dict[str, Any] = {}
    for key in ("base_url", "db_url", "version"):
        chosen = given.get(key) or _from_file(target_table, key, label)
        if chosen:
            values[key], sources[key] = chosen
    _check_urls(values)
    secrets |= _url_passwords(values.get("db_url"))
    credentials = _credentials(target_table.get("credentials", {}))
    secrets |= _basic_auth(credentials)
    target = Target(
        name=target_name,
        production=bool(target_table.get("production", False)),
        allow_db_superuser=bool(target_table.get("allow_db_superuser", False)),
        credentials=credentials,
        suites=_merge_suites(suite_defaults, target_table.get("suites", {})),
        **values,
    )
    return target, sources, secrets


def _fleet(
    name: tuple[Any, str] | None,
    shard: tuple[Any, str] | None,
    table: Mapping[str, Any],
    environ: Mapping[str, str],
    label: str,
) -> FleetSettings | None:
    """The targets a list, glob or ``all`` selects, and the share of them a shard takes
    (``--deploy-shard``, else a Kubernetes Indexed Job's or a GitLab parallel job's
    variables); None for a run of one target."""
    if not name or not (is_fleet(str(name[0])) or shard):
        return None
    settings = table.get("fleet", {})
    try:
        selected = select(str(name[0]), list(table.get("targets", {})))
        part = Shard.parse(str(shard[0])) if shard else Shard.from_environment(environ)
        policy = FleetPolicy.parse(str(settings.get("rollback_if", "any")))
    except ValueError as exc:
        raise ConfigError(f"{label}: {exc}" if "rollback_if" in str(exc) else str(exc)) from None
    share = part.share(selected) if part else selected
    if not share:
        raise ConfigError(
            f"shard {part} has no target: {len(selected)} selected, so at most"
            f" {len(selected)} shards"
        )
    in_flight = settings.get("max_targets_in_flight", FleetSettings.max_targets_in_flight)
    _require(1 <= in_flight <= 256, label, "fleet.max_targets_in_flight", "1 to 256")
    return FleetSettings(share, part, in_flight, policy)


def _watching(
    given: _Given, table: Mapping[str, Any], base: Path, label: str, baseline_of: tuple[str, bool]
) -> dict[str, Any]:
    """Where evidence and window state go, the watch window, and the baseline (of a target,
    an edited one accepted or not)."""
    artifacts = given.get("artifacts") or _from_file(table, "artifacts", label)
    window, interval, state = given.get("window"), given.get("interval"), given.get("state")
    phases, baseline = given.get("phase"), given.get("baseline")
    return {
        "artifacts_dir": str(base / (artifacts[0] if artifacts else DEFAULT_ARTIFACTS)),
        "window_s": (
            _window(window[0], phases[0] if phases else None, table.get("windows", {}))
            if window
            else None
        ),
        "interval_s": _seconds(interval[0], "--deploy-interval")
        if interval
        else DEFAULT_INTERVAL_S,
        "state_dir": str(base / (state[0] if state else STATE_DIR)),
        "baseline": _baseline(base / baseline[0], *baseline_of)
        if baseline
        else _last_go(base, state, window, baseline_of),
        "keep_last_go": bool(window or state),
        "budget_s": None if window else _budget(phases, table.get("budgets", {}), label),
    }


class _Given:
    """Values given on the command line or in the environment, with where they came from."""

    def __init__(self, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self._options = options
        self._environ = environ

    def get(self, key: str) -> tuple[Any, str] | None:
        value = self._options.get(key)
        if value not in (None, False, ""):
            return value, OPTION_NAMES[key]
        env_name = ENV_PREFIX + key.upper()
        if self._environ.get(env_name):
            return self._environ[env_name], env_name
        return None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            table: dict[str, Any] = tomllib.load(handle)
            return table
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _check_shape(table: Mapping[str, Any], shape: Mapping[str, Any], label: str, at: str) -> None:
    for key, value in table.items():
        where = f"{at}{key}"
        if key not in shape:
            known = ", ".join(sorted(shape))
            raise ConfigError(f"{label}: unknown key {where!r} (known keys: {known})")
        expected = shape[key]
        if expected == "targets":
            _require(isinstance(value, dict), label, where, "a table of targets")
            for name, target in value.items():
                _require(isinstance(target, dict), label, f"{where}.{name}", "a table")
                _check_shape(target, _TARGET_KEYS, label, f"{where}.{name}.")
        elif expected == "table" or isinstance(expected, dict):
            _require(isinstance(value, dict), label, where, "a table")
            if isinstance(expected, dict):
                _check_shape(value, expected, label, f"{where}.")
        elif expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            _require(ok, label, where, "a number")
        else:
            _require(isinstance(value, expected), label, where, f"a {expected.__name__}")


def _require(ok: bool, label: str, where: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"{label}: {where} must be {what}")


def _walk(value: Any, at: str) -> Iterator[tuple[str, str, str]]:
    """Every string in a nested table as (dotted path, key, value)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield f"{at}.{key}".lstrip("."), key, item
            else:
                yield from _walk(item, f"{at}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk({str(index): item}, at)


def _refuse_literal_secrets(table: Mapping[str, Any], label: str) -> None:
    for where, key, value in _walk(dict(table), ""):
        header = where.split(".")[-2:-1] == ["headers"]
        literal = (
            (bool(_SECRET_KEY.search(key)) and bool(value) and not _ONLY_REFERENCE.match(value))
            or (header and bool(_SECRET_HEADER.search(key)) and not _SCHEMED_REFERENCE.match(value))
            or any(not _ONLY_REFERENCE.match(p) for p in _embedded_passwords(value))
        )
        if literal:
            raise ConfigError(
                f'{label}: {where} holds a literal secret; write it as "${{ENV_VAR}}" '
                "and set that environment variable"
            )


def _embedded_passwords(value: str) -> list[str]:
    """Passwords written inside a URL (``user:pw@host``) or a key=value DSN, read by libpq's
    own rules (a quoted value whole: ``password='two words'``)."""
    found = [m.group(1) for m in _DSN_PASSWORD.finditer(value)]
    if found and "://" not in value:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            password = conninfo_to_dict(value).get("password")
        except ProgrammingError:  # not a DSN after all: the words after "password="
            password = None
        found = [str(password)] if password else found
    if "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found


def _url_passwords(url: str | None) -> set[str]:
    return set(_embedded_passwords(url)) if url else set()


def _interpolate(
    value: Any, environ: Mapping[str, str], at: str, secrets: set[str], secret: bool = False
) -> Any:
    """Replace ``${VAR}`` references. Values of secret-named keys, and what an HTTP header's
    value takes from the environment, are remembered as secrets."""
    if isinstance(value, dict):
        resolved = {}
        for key, item in value.items():
            inner = secret or key == "headers"
            resolved[key] = _interpolate(item, environ, f"{at}.{key}", secrets, inner)
            if _SECRET_KEY.search(key) and isinstance(resolved[key], str):
                secrets.add(resolved[key])
        return resolved
    if isinstance(value, list):
        return [_interpolate(item, environ, at, secrets, secret) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(f"{at} needs environment variable {name}, which is not set")
        if secret and environ[name]:
            secrets.add(environ[name])
        return environ[name]

    text = _REFERENCE.sub(substitute, value)
    if secret and text != value:
        secrets.add(text)
    return text


def _exit_status(given: tuple[Any, str] | None) -> int | None:
    """``--deploy-hold-exit``: a process exit status, 0 to 255."""
    if given is None:
        return None
    value, source = given
    try:
        status = int(str(value).strip())
    except ValueError:
        status = -1
    if not 0 <= status <= 255:
        raise ConfigError(f"{source}: {value!r} is not an exit status (0 to 255)")
    return status


def _notify(
    table: Mapping[str, Any], environ: Mapping[str, str], label: str, secrets: set[str]
) -> NotifySettings:
    """``[notify]``: each URL a reference to the environment (a webhook URL is a credential:
    it is kept among the secrets, redacted wherever it would show), and the verdicts sent."""
    urls = table.get("urls", [])
    for index, url in enumerate(urls):
        if not isinstance(url, str) or not _ONLY_REFERENCE.match(url):
            raise ConfigError(
                f'{label}: notify.urls[{index}] must be "${{ENV_VAR}}": a notification URL'
                " carries its credential"
            )
    resolved = tuple(
        str(_interpolate(url, environ, f"{label}: notify.urls", secrets, True)) for url in urls
    )
    on = tuple(str(v).upper() for v in table.get("on", NotifySettings.on))
    verdicts = [verdict.value for verdict in Verdict]
    unknown = [v for v in on if v not in verdicts]
    if unknown:
        raise ConfigError(f"{label}: notify.on: {unknown[0]!r} is not one of {', '.join(verdicts)}")
    return NotifySettings(resolved, on)


def _from_file(table: Mapping[str, Any], key: str, label: str) -> tuple[Any, str] | None:
    value = table.get(key)
    return (value, label) if value not in (None, "") else None


def _check_urls(values: Mapping[str, str]) -> None:
    base_url = values.get("base_url")
    if base_url and _userinfo(base_url):
        raise ConfigError(
            "the base URL holds credentials: give it without them, and the username and"
            ' password in targets.NAME.credentials (password = "${ENV_VAR}")'
        )
    if base_url and (
        urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname
    ):
        raise ConfigError(f"base URL {base_url!r} must be http:// or https:// and a host")
    db_url = values.get("db_url")
    if db_url and "://" in db_url and urlsplit(db_url).scheme not in ("postgres", "postgresql"):
        raise ConfigError("database URL must start with postgresql:// (or be a key=value DSN)")
    if db_url and "://" not in db_url:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(db_url)
        except ProgrammingError:
            raise ConfigError(
                "database URL is neither a postgresql:// URL nor a key=value DSN libpq can read"
            ) from None


def _userinfo(url: str) -> bool:
    """Whether a URL carries a user or a password (``https://user:pw@host``)."""
    return "@" in urlsplit(url).netloc


def _basic_auth(credentials: Mapping[str, str | Secret]) -> set[str]:
    """``username:password`` as HTTP Basic authentication sends it (base64), a secret too."""
    import base64

    username, password = credentials.get("username"), credentials.get("password")
    if not isinstance(username, str) or not isinstance(password, Secret):
        return set()
    return {base64.b64encode(f"{username}:{password.reveal()}".encode()).decode()}


def _credentials(table: Mapping[str, Any]) -> dict[str, str | Secret]:
    return {
        key: Secret(value) if _SECRET_KEY.search(key) else value
        for key, value in table.items()
        if isinstance(value, str)
    }


def _merge_suites(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Mapping[str, Any]]:
    names = [*defaults, *(n for n in overrides if n not in defaults)]
    return {name: {**defaults.get(name, {}), **overrides.get(name, {})} for name in names}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_list(text: str, parse: Callable[[str], Phase]) -> tuple[Phase, ...]:
    try:
        return tuple(dict.fromkeys(parse(part) for part in _split(text)))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _parse(parse: Callable[[str], Any], value: Any, where: str) -> Any:
    try:
        return parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parsed(table: Mapping[str, Any], key: str, parse: Callable[[str], Any], label: str) -> Any:
    return _parse(parse, table[key], f"{label}: {key}") if key in table else None


def _phase_severity(table: Mapping[str, Any], label: str) -> dict[Phase, Severity]:
    return {
        _parse(Phase.parse, phase, f"{label}: phase_severity"): _parse(
            Severity.parse, value, f"{label}: phase_severity.{phase}"
        )
        for phase, value in table.items()
    }


def _made(cls: Callable[..., T], table: Mapping[str, Any], where: str) -> T:
    """A settings table made into ``cls``; a value out of its range is a ConfigError."""
    try:
        return cls(**table)
    except ValueError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _baseline(path: Path, target: str, trust: bool, go: bool = True) -> Baseline:
    try:
        return Baseline.read(path, target, trust, go)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _seconds(text: str, what: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{what} must be longer than zero")
    return seconds


def _window(text: str, phases: str | None, configured: Mapping[str, str]) -> float:
    """``--deploy-window``: a duration, or ``auto`` for the one selected phase's window
    (``[windows]`` in the config, else the runbook's 30 min, 2 h, 24 h)."""
    if text.strip() != "auto":
        return _seconds(text, "--deploy-window")
    selected = _parse_list(phases, Phase.parse) if phases else ()
    window_s = selected[0].window_s if len(selected) == 1 else None
    if window_s is None:
        watched = ", ".join(p.value for p in Phase if p.window_s)
        raise ConfigError(f"--deploy-window=auto needs one of {watched} in --deploy-phase")
    phase = selected[0].value
    if phase in configured:
        return _seconds(configured[phase], f"windows.{phase}")
    return window_s


def _budget(phases: tuple[Any, str] | None, configured: Mapping[str, str], label: str) -> float:
    """How long the selected phases (all, when none is) may take: ``[budgets]`` in the
    config, else each phase's span in the runbook."""
    selected = _parse_list(phases[0], Phase.parse) if phases else tuple(Phase)
    return sum(
        _seconds(configured[p.value], f"{label}: budgets.{p.value}")
        if p.value in configured
        else p.budget_s
        for p in selected
    )


def _last_go(
    base: Path,
    state: tuple[Any, str] | None,
    window: tuple[Any, str] | None,
    baseline_of: tuple[str, bool],
) -> Baseline:
    """Without --deploy-baseline, a run that keeps state (a watch window, or an explicit
    --deploy-state) compares with the last GO sign-off kept there, and with the snapshot of
    the pre-deploy run kept beside it (whatever that run's verdict: it says what was there)."""
    directory = base / (state[0] if state else STATE_DIR)
    if not (window or state):
        return Baseline()
    last_go, before = directory / LAST_GO, directory / PRE_DEPLOY
    baseline = _baseline(last_go, *baseline_of) if last_go.exists() else Baseline()
    if before.exists():
        snapshot = _baseline(before, *baseline_of, go=False).data.get("db.snapshot")
        if snapshot:
            baseline = replace(baseline, data={**baseline.data, "db.snapshot": snapshot})
    return baseline


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")
