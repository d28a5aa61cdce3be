"""What a rule or probe concludes for one check, in the one shape every suite returns: the
failure (a reason code and a sentence), why the check does not apply, or why it could not
decide, and what proves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deploycheck.core.model import Evidence, Finding, Gate


@dataclass
class Result:
    """A check's conclusion; the first failure recorded is the one reported."""

    problem: tuple[str, str] | None = None  # (reason code, message)
    skip: str | None = None  # the check does not apply here, and why
    findings: list[Finding] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # screenshots (.png), traces (.zip)
    flaky: str = ""  # the check passed only after a retry, and how
    data: dict[str, Any] = field(default_factory=dict)  # measurements a later run compares with
    undecided: tuple[str, str] | None = None  # could not check: (reason code, message)

    def fail(self, code: str, message: str) -> None:
        """Record a failure, unless an earlier one stands."""
        if self.problem is None:
            self.problem = (code, message)

    def require(self, ok: bool, code: str, message: str, *evidence: Evidence) -> bool:
        """Fail with ``code`` and ``message`` unless ``ok``, keeping ``evidence``; returns ok."""
        if not ok:
            self.fail(code, message)
            self.evidence += evidence
        return ok

    @property
    def failed(self) -> bool:
        return self.problem is not None
