"""Post-deployment validation for pytest: phased checks and a GO/HOLD/ROLLBACK sign-off."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_deploycheck.core.model import CouldNotCheck, Finding, Gate, Secret, Severity
    from pytest_deploycheck.signoff.engine import Verdict

__all__ = ["CouldNotCheck", "Finding", "Gate", "Secret", "Severity", "Verdict"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Loaded on first use: pytest imports this package for every run, deploy run or not.
    if name == "Verdict":
        from pytest_deploycheck.signoff.engine import Verdict

        return Verdict
    if name in __all__:
        from pytest_deploycheck.core import model

        return getattr(model, name)
    raise AttributeError(f"module 'pytest_deploycheck' has no attribute {name!r}")
