"""Hook specifications: how vendor integrations and conftests take part in the sign-off.

Implement them in a ``conftest.py`` or a plugin. They run once, in the process that writes the
sign-off (the xdist controller, never a worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_deploycheck.core.model import CheckResult, Gate
    from pytest_deploycheck.signoff.document import SignOff
    from pytest_deploycheck.signoff.engine import Decision, Verdict


def pytest_deploycheck_gates(config: pytest.Config, checks: list[CheckResult]) -> list[Gate]:
    """Contribute extra gates to the sign-off, e.g. an error rate read from a monitoring API.

    :param checks: the results of every check that ran.
    :returns: gates; one whose status is ``hold`` or ``rollback`` moves the verdict there.
    """
    raise NotImplementedError


@pytest.hookspec(firstresult=True)
def pytest_deploycheck_override_verdict(
    config: pytest.Config, decision: Decision
) -> tuple[Verdict, str] | None:
    """Replace the verdict the policy reached, with a reason that is recorded in the sign-off.

    :param decision: the verdict with its reasons and advisories.
    :returns: ``(verdict, why)`` to override, or ``None`` to keep the decision. The first
        implementation that returns a value wins.
    """
    raise NotImplementedError


def pytest_deploycheck_signoff(config: pytest.Config, signoff: SignOff) -> None:
    """Receive the final sign-off after it is written, e.g. to notify a chat or a pager.

    :param signoff: the verdict, reasons, target and checks, already redacted.
    """
    raise NotImplementedError


def pytest_deploycheck_redact_patterns(config: pytest.Config) -> list[str]:
    """Add regular expressions for text that must never be written: every sign-off, terminal
    line, Allure attachment, job summary and trace passes through the same redaction.

    :returns: patterns; each match is replaced by ``***``.
    """
    raise NotImplementedError
