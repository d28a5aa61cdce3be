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
) -> tuple[Severity, str]:
    """A check's severity and where it came from. The config decides over the check itself:
    the first ``severity`` pattern matching the id, else the check's own (its marker or its
    catalogue entry), else the config's ``phase_severity``, else the phase's default."""
    for pattern, severity in overrides:
        if fnmatchcase(check_id, pattern):
            return severity, f'config: severity."{pattern}"'
    if explicit:
        return Severity.parse(explicit), "check"
    if phase in phase_severity:
        return phase_severity[phase], f"config: phase_severity.{phase.value}"
    return phase.severity, f"phase {phase.value}"
