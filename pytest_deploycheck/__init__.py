"""Post-deployment validation for pytest: phased checks and a GO/HOLD/ROLLBACK sign-off."""

from pytest_deploycheck.model import CouldNotCheck, Finding, Gate, Secret, Severity

__all__ = ["CouldNotCheck", "Finding", "Gate", "Secret", "Severity"]
__version__ = "0.1.0"
