"""What a catalogue says about a check: its id, phases, severity, the reason codes it can fail
with, what each means for QA (an Allure category) and what to do about it.

Each prebuilt suite has one catalogue; its pytest functions, the README's tables, Allure's
categories and the tests are all derived from it or checked against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase

from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase


class Category(str, Enum):
    """How QA groups a failure in the report (Allure's categories)."""

    AVAILABILITY = "Availability"
    PERFORMANCE = "Performance"
    LOGIN = "Login and sessions"
    SECURITY = "Security findings"
    DATA = "Data integrity"
    DATABASE = "Database health"
    UNREACHABLE = "Target unreachable"
    NOT_CHECKED = "Could not check"  # reachable, but out of time: a lock, a budget
    SETUP = "Checker set-up"


@dataclass(frozen=True)
class Code:
    """A reason code (``[version-mismatch]``): what it is about and, where one fix fits every
    case, the fix."""

    name: str
    category: Category
    fix: str = ""


@dataclass(frozen=True)
class Check:
    """One bundled check. ``gated``: a failure takes the level of the gates it measured (an
    error rate, a sequence near its limit), not of its severity."""

    id: str
    phases: tuple[Phase, ...]
    severity: Severity
    codes: tuple[Code, ...]
    runbook: str
    gated: bool = False

    @property
    def suite(self) -> str:
        """The suite the check belongs to: its id's first part."""
        return self.id.split(".", 1)[0]


def codes(category: Category, *names: str, fix: str = "") -> tuple[Code, ...]:
    """Several codes of one category (and fix)."""
    return tuple(Code(name, category, fix) for name in names)


# Codes any check may stop with: it could not check, or was not allowed to.
COMMON = (
    *codes(Category.UNREACHABLE, "unreachable", "db-unreachable", "too-slow"),
    *codes(Category.AVAILABILITY, "body-too-large"),
    *codes(Category.NOT_CHECKED, "db-timeout", "over-budget"),
    *codes(Category.SETUP, "db-privilege", "no-browser", "destructive-not-allowed"),
)


class Catalogue(Mapping[str, Check]):
    """A suite's checks by id, with every code declared once across them."""

    def __init__(self, checks: Iterable[Check]) -> None:
        self._checks = {check.id: check for check in checks}

    def __getitem__(self, check_id: str) -> Check:
        """A check by its id; a check whose id is a pattern (``metrics.*``: one check per
        configured query) answers for every id it matches."""
        if check_id in self._checks:
            return self._checks[check_id]
        for pattern, check in self._checks.items():
            if "*" in pattern and fnmatchcase(check_id, pattern):
                return check
        raise KeyError(check_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)

    def code(self, check_id: str, name: str) -> Code | None:
        """The code ``name`` a check may emit: its own, its suite's, or a common one; None when
        none is declared."""
        suite = check_id.split(".", 1)[0]
        own = [self[check_id]] if check_id in self else []
        siblings = [c for c in self._checks.values() if c.suite == suite and c not in own]
        declared = [code for check in [*own, *siblings] for code in check.codes]
        return next((code for code in [*declared, *COMMON] if code.name == name), None)

    def codes(self) -> list[tuple[Check | None, Code]]:
        """Every declared code with the check that declares it (None: a common code)."""
        return [(check, code) for check in self._checks.values() for code in check.codes] + [
            (None, code) for code in COMMON
        ]
