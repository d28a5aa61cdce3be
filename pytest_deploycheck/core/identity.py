"""Who a check is: its stable id, suite and severity, from its markers and the config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase


def default_suite(module_stem: str, bundled_suite: str | None) -> str:
    """A bundled suite's own name, else the test module's name without ``test_``."""
    return bundled_suite or module_stem.removeprefix("test_")


def default_id(suite: str, local_name: str) -> str:
    """``suite.name`` from the test's name within its module (``TestX::test_y[1]``)."""
    parts = [part.removeprefix("test_") for part in local_name.split("::")]
    return f"{suite}.{'.'.join(parts)}"


def severity_for(
    check_id: str,
    phase: Phase,
    explicit: str | None,
    overrides: Iterable[tuple[str, Severity]],
    phase_severity: Mapping[Phase, Severity],
) -> Severity:
    """The marker's severity, else the first config pattern matching the id, else the phase's."""
    if explicit:
        return Severity.parse(explicit)
    for pattern, severity in overrides:
        if fnmatchcase(check_id, pattern):
            return severity
    return phase_severity.get(phase, phase.severity)
