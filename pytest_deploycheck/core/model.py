"""What a check found: severities, outcomes, findings, gates, evidence and secrets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_deploycheck.core.phases import Phase


class Severity(str, Enum):
    """How much a failed check weighs in the sign-off."""

    CRITICAL = "critical"  # a failure rolls the deployment back
    MAJOR = "major"  # a failure holds it
    MINOR = "minor"  # advisory: listed, never blocks

    @classmethod
    def parse(cls, name: str) -> Severity:
        """Read a severity name."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {name!r} (choose from {choices})") from None


class Outcome(str, Enum):
    """What became of a check: ``error`` means it could not check, not that it found a fault."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class CouldNotCheck(Exception):
    """Raised when a check cannot reach a verdict on the deployment: a HOLD, not a failure."""


_REASON_CODE = re.compile(r"^\[([a-z0-9][a-z0-9._-]*)\]")

NOT_CONFIGURED_CODE = "not-configured"


def reason_code(message: str) -> str | None:
    """The stable reason code a message starts with, as in ``[version-mismatch] ...``."""
    match = _REASON_CODE.match(message)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Finding:
    """One fact a check found about one object of the target."""

    rule: str
    object: str
    message: str


@dataclass(frozen=True)
class Gate:
    """A measured figure against a threshold; ``status`` is ``pass``, ``hold`` or ``rollback``.

    ``samples``, ``low`` and ``high`` say how sure the figure is (sample size and a 95 %
    interval); ``check`` is the id of the check that measured it; ``unit`` how it reads.
    """

    name: str
    value: float | None
    threshold: float | None
    status: str
    detail: str = ""
    samples: int | None = None
    low: float | None = None
    high: float | None = None
    check: str | None = None
    unit: str = ""  # how the value reads: "ratio" (shown as %), "ms", "s", or a word

    def __post_init__(self) -> None:
        if self.status not in GATE_STATUSES:
            raise ValueError(f"gate status must be one of {GATE_STATUSES}, not {self.status!r}")


GATE_STATUSES = ("pass", "hold", "rollback")  # from best to worst


def figure(value: float | None, unit: str) -> str:
    """A gate's value (or limit) as people read it, with its unit: rates as percentages."""
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.2%}"
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def worst(statuses: Iterable[str], default: str = "pass") -> str:
    """The worst of some gate statuses."""
    return max(statuses, key=GATE_STATUSES.index, default=default)


def grade(value: float, hold: float, rollback: float, reaching: bool = False) -> tuple[str, float]:
    """A measured value's gate status — over ``rollback``, over ``hold``, or ``pass`` (with
    ``reaching``, at a threshold counts as over it) — and the threshold that decided it."""

    def over(limit: float) -> bool:
        return value >= limit if reaching else value > limit

    if over(rollback):
        return "rollback", rollback
    return ("hold" if over(hold) else "pass"), hold


@dataclass(frozen=True)
class Evidence:
    """What a check saw, kept next to its result: an HTTP exchange, rows, a note."""

    name: str
    text: str
    content_type: str = "text/plain"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (one collected test) in one run."""

    id: str
    nodeid: str
    suite: str
    phase: Phase
    severity: Severity
    outcome: Outcome
    duration_s: float = 0.0
    message: str = ""
    findings: tuple[Finding, ...] = field(default=())
    gates: tuple[Gate, ...] = field(default=())
    evidence: tuple[Evidence, ...] = field(default=())
    flaky: str = ""  # why the check passed only after a retry
    severity_source: str = ""  # where the severity came from: the config, the check, the phase
    data: Mapping[str, Any] = field(default_factory=dict)  # what the check measured, by name

    @property
    def code(self) -> str | None:
        """The reason code of the message, if it has one."""
        return reason_code(self.message)


class Secret:
    """A credential that prints as ``***``; ``reveal()`` hands the value to code that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
