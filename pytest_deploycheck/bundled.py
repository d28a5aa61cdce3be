"""The prebuilt suites as one registry: every check's catalogue entry and every suite's settings
parser, for the glue above to look up."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytest_deploycheck.config import ConfigError, Settings
from pytest_deploycheck.core.catalogue import Catalogue
from pytest_deploycheck.db.catalogue import CATALOGUE as DB
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.health.catalogue import CATALOGUE as HEALTH
from pytest_deploycheck.health.settings import HealthSettings
from pytest_deploycheck.login.catalogue import CATALOGUE as LOGIN
from pytest_deploycheck.login.settings import LoginSettings
from pytest_deploycheck.metrics.catalogue import CATALOGUE as METRICS
from pytest_deploycheck.metrics.settings import MetricsSettings
from pytest_deploycheck.rls.catalogue import CATALOGUE as RLS
from pytest_deploycheck.rls.settings import RlsSettings

CATALOGUE = Catalogue(
    [*HEALTH.values(), *LOGIN.values(), *DB.values(), *RLS.values(), *METRICS.values()]
)
SETTINGS: Mapping[str, Callable[[Mapping[str, Any]], object]] = {
    "health": HealthSettings.parse,
    "login": LoginSettings.parse,
    "db": DbSuiteSettings.parse,
    "rls": RlsSettings.parse,
    "metrics": MetricsSettings.parse,
}


def check_suite_settings(settings: Settings) -> None:
    """The prebuilt suites' settings, checked before the run rather than when a check needs
    them; raises ConfigError naming the suite, the target and the bad key."""
    target = settings.target
    label = settings.config_path.name if settings.config_path else "config"
    for name, table in target.suites.items():
        if name in SETTINGS:
            try:
                SETTINGS[name](table)
            except ValueError as exc:
                message = f"{label}: suite {name} of target {target.name}: {exc}"
                raise ConfigError(message) from None
