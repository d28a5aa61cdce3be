"""Allure on every check's result: labels by target, phase and suite, and, when a check fails,
a short "why it failed" with the catalogue's remedy. Registered only with ``--alluredir``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_deploycheck.core.model import CouldNotCheck, worst
from pytest_deploycheck.fixtures import IDENTITY, RECORD
from pytest_deploycheck.report.allure import attach, label, why_it_failed
from pytest_deploycheck.window.watch import WINDOW_ROUND

# The wording of a failure that a gate measured, by the gate's status.
_GATE_LEVEL = {"rollback": "critical", "hold": "major"}


class AllureLabels:
    """The plugin object: one per run, for one target."""

    def __init__(self, target: str, version: str | None) -> None:
        self.target = target
        self.version = version

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        """Label the result once allure-pytest has named it (around its own wrapper), so that
        the title stays the check id, whether the set-up passes or not."""
        try:
            return (yield)
        finally:
            identity = item.stash.get(IDENTITY, None)
            if identity is not None:
                round = item.config.stash.get(WINDOW_ROUND, None)
                label(identity, item.nodeid, self.target, self.version, round)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except BaseException as exc:
            identity = item.stash.get(IDENTITY, None)
            if identity is not None and not isinstance(exc, pytest.skip.Exception):
                from pytest_deploycheck.bundled import CATALOGUE

                entry = CATALOGUE.get(identity["id"])
                text = str(exc).strip()
                message = text.splitlines()[0] if text else type(exc).__name__
                failed = isinstance(exc, AssertionError | pytest.fail.Exception)
                could_not_check = isinstance(exc, CouldNotCheck) or not failed
                runbook = entry.runbook if entry else ""
                record = item.stash.get(RECORD, None)
                statuses = [g.status for g in record.gates] if record else []
                level = _GATE_LEVEL.get(worst(statuses)) if statuses else None
                why = why_it_failed(identity, message, could_not_check, runbook, level)
                attach(item.config, "why it failed", why, "text/html")
            raise
