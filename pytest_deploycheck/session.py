"""The pytest glue of a deploy run: phase selection, result collection and the sign-off.

Registered only when a run selects a target, phase, suite or sign-off path, so that loading
the plugin costs an ordinary test run nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Generator
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pytest_deploycheck.bundled import CATALOGUE
from pytest_deploycheck.config import Settings
from pytest_deploycheck.core.identity import default_id, default_suite, severity_for
from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.core.options import FLEET_PART, LAST_GO, PRE_DEPLOY
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.fixtures import IDENTITY, PROBLEMS, RATE_FILE, RECORD, redactor_of
from pytest_deploycheck.health.settings import HealthSettings
from pytest_deploycheck.report.allure import (
    complete_results,
    write_run_files,
    write_signoff_result,
)
from pytest_deploycheck.report.terminal import lines
from pytest_deploycheck.signoff.document import SignOff, write
from pytest_deploycheck.signoff.engine import Run, Verdict, decide, override
from pytest_deploycheck.signoff.results import ResultBook


class SignOffSession:
    """Per-run state of a deploy run; the writing half runs only where results are gathered."""

    def __init__(self, config: pytest.Config, settings: Settings, suites_dir: Path) -> None:
        self.config = config
        self.settings = settings
        self.suites_dir = suites_dir
        self.redact = redactor_of(config)
        self.book = ResultBook()
        self.problems: list[str] = []
        self.started_at = datetime.now(timezone.utc)
        self._clock = time.monotonic()
        self.signoff: SignOff | None = None
        self.window: Any = None  # the watch window, when one runs
        self.chart: Path | None = None
        self._rate_dir: Path | None = None
        self.written: Path | None = None
        self.document: dict[str, Any] = {}  # the sign-off as written, redacted
        self._previous_sigterm: Any = None
        self._suites: dict[str, str | None] = {}
        # An xdist worker runs checks but never writes the sign-off.
        self.is_worker = hasattr(config, "workerinput")

    def install_sigterm(self) -> None:
        """Turn SIGTERM (a CI timeout) into an interrupt, so the sign-off is still written."""
        if not self.is_worker:
            try:
                self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
            except ValueError:  # not the main thread: leave signals alone
                self._previous_sigterm = None

    def close(self) -> None:
        """Scrub what other plugins wrote (Allure results), then undo what the session set up:
        the rate-cap file, the SIGTERM handler."""
        allure_dir = getattr(self.config.option, "allure_report_dir", None)
        if allure_dir and not self.is_worker and Path(allure_dir).is_dir():
            from pytest_deploycheck.core.scrub import scrub_directory

            scrub_directory(Path(allure_dir), self.redact)
        if self._rate_dir is not None:
            shutil.rmtree(self._rate_dir, ignore_errors=True)
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.problems.append("[interrupted] the run was stopped by SIGTERM before it ended")
        raise KeyboardInterrupt("SIGTERM")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Give unmarked checks the default phase, keep the selected phases, note identities."""
        selected, deselected = [], []
        for item in items:
            phase = self._phase_of(item)
            if phase is None:
                deselected.append(item)
                continue
            item.stash[IDENTITY] = self._identity(item, phase)
            selected.append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected

    def _phase_of(self, item: pytest.Item) -> Phase | None:
        marked = sorted(
            {Phase(m.name) for m in item.iter_markers() if m.name in _PHASE_NAMES},
            key=lambda phase: phase.rank,
        )
        if not marked:
            marked = [self.settings.default_phase]
            item.add_marker(self.settings.default_phase.value)
        wanted = self.settings.phases
        return next((phase for phase in marked if not wanted or phase in wanted), None)

    def _identity(self, item: pytest.Item, phase: Phase) -> dict[str, str]:
        marker = item.get_closest_marker("deploy_check")
        given: dict[str, Any] = dict(marker.kwargs) if marker else {}
        suite = given.get("suite") or self._suite_of(item.path)
        check_id = given.get("id") or default_id(suite, item.nodeid.split("::", 1)[-1])
        severity, source = severity_for(
            check_id,
            phase,
            given.get("severity"),
            self.settings.severity_overrides,
            self.settings.phase_severity,
        )
        return {
            "id": check_id,
            "suite": suite,
            "phase": phase.value,
            "severity": severity.value,
            "severity_source": source,
        }

    def _suite_of(self, path: Path) -> str:
        key = str(path)
        if key not in self._suites:
            inside = path.is_relative_to(self.suites_dir)
            bundled = path.relative_to(self.suites_dir).parts[0] if inside else None
            self._suites[key] = default_suite(path.stem, bundled)
        return str(self._suites[key])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Past the run's budget, the checks not yet started are not started."""
        budget = self.settings.budget_s
        if budget is not None and time.monotonic() - self._clock > budget:
            raise CouldNotCheck(
                f"[over-budget] the run spent its {budget:.0f} s budget before this check"
                " (budgets.PHASE in the config)"
            )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Remember what was selected, in order, to tell a complete run from a partial one."""
        self.book.expect(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Give every xdist worker the file through which they share one request-rate cap."""
        if self._rate_dir is None:
            self._rate_dir = Path(tempfile.mkdtemp(prefix="deploycheck-rate-"))
        node.workerinput[RATE_FILE] = str(self._rate_dir / "next-request")

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Under ``-n``, the checks of one module run on one worker, so that the probes they
        share (health's requests, rls's impersonations) run once, as in a serial run. Only
        the default distribution changes; an explicit ``--dist`` is kept."""
        if config.getvalue("dist") != "load":
            return None
        from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

        return LoadScopeScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """Under xdist the controller learns the selection from the workers."""
        if not self.book.selected:
            self.book.expect(ids)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module that fails to import is a check we could not run."""
        if report.failed:
            self.problems.append(
                f"[collection-error] {report.nodeid or 'collection'} failed to collect"
            )

    def pytest_keyboard_interrupt(self) -> None:
        """Ctrl-C, ``pytest.exit`` or SIGTERM: whatever ran is partial evidence."""
        if not any(p.startswith("[interrupted]") for p in self.problems):
            self.problems.append("[interrupted] the run was interrupted before it ended")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Attach what the sign-off needs to the report; it travels from xdist workers as is."""
        report = yield
        identity = item.stash.get(IDENTITY, None)
        if identity is None:
            return report
        record = item.stash.get(RECORD, None)
        info: dict[str, Any] = {**identity, "kind": _kind(call), "message": ""}
        if call.excinfo is not None:
            info["message"] = self.redact(_message(call))
        if record is not None:
            info["findings"] = self.redact.deep([vars(finding) for finding in record.findings])
            info["gates"] = self.redact.deep([vars(gate) for gate in record.gates])
            info["evidence"] = self.redact.deep([vars(item) for item in record.evidence])
            info["flaky"] = self.redact(record.flaky_because)
            info["data"] = self.redact.deep(record.data)
        if self.config.stash.get(PROBLEMS, None):
            info["problems"] = [self.redact(p) for p in self.config.stash[PROBLEMS]]
            self.config.stash[PROBLEMS].clear()
        report.deploycheck = info  # type: ignore[attr-defined]
        if call.excinfo is not None and call.excinfo.errisinstance(CouldNotCheck):
            # One line, not a traceback per check.
            report.longrepr = " ".join(str(call.excinfo.value).split())
        if report.longrepr is not None or report.sections:
            self._redact_report(report)
        return report

    def _redact_report(self, report: pytest.TestReport) -> None:
        longrepr = report.longrepr
        if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
            report.longrepr = (longrepr[0], longrepr[1], self.redact(longrepr[2]))
        elif longrepr is not None:
            text = str(longrepr)
            clean = self.redact(text)
            if clean != text:
                report.longrepr = clean
        report.sections = [(title, self.redact(body)) for title, body in report.sections]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """With ``--deploy-window``, run the checks round after round until the window ends or
        the evidence calls for a rollback; every round's samples are on disk before the next."""
        if self.settings.window_s is None or self.is_worker or self.config.option.collectonly:
            return None
        from pytest_deploycheck.window.watch import WatchWindow

        self.window = WatchWindow(session, self.settings, self.book)
        self.window.run()
        return True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each report into the book (in the controller under xdist)."""
        info = getattr(report, "deploycheck", None)
        if info is not None and not self.is_worker:
            self.book.add(report.nodeid, report.when, report.outcome, report.duration, info)
            self.problems += [p for p in info.get("problems", ()) if p not in self.problems]

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Decide the verdict, write the sign-off and make its exit code the run's."""
        if self.is_worker or self.config.option.collectonly:
            return
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.problems.append("[internal-error] pytest stopped with an internal error")
        self.signoff = self._decide()
        decision = self.signoff.decision
        self.document = self.signoff.to_dict(self.redact)
        self._notify(self.document)
        self.written = self._write_or_print(self.document)
        session.exitstatus = self.settings.exit_status(decision.verdict)
        if self.written is not None:
            self._publish(self.written, decision.verdict)

    def _decide(self) -> SignOff:
        """The verdict on what ran, and the sign-off that states it."""
        checks = self.book.results()
        hook = self.config.hook
        extra = [
            gate
            for gates in hook.pytest_deploycheck_gates(config=self.config, checks=checks)
            for gate in gates
        ]
        if self.window:
            self.window.settle()
        measured = self.window.gates if self.window else self.book.gates()
        phases = self.settings.phases or tuple(
            p for p in Phase if any(c.phase is p for c in checks)
        )
        if self.window:
            checks = self.window.judged(checks)  # each check carries its window gate
        run = Run(checks, [*measured, *extra], self.book.selected, phases, self.problems)
        decision = decide(run, self.settings.policy)
        changed = hook.pytest_deploycheck_override_verdict(config=self.config, decision=decision)
        if changed is not None:
            decision = override(decision, Verdict(changed[0]), str(changed[1]))
        target = self.settings.target
        return SignOff(
            decision,
            target.name,
            self.redact(target.base_url) if target.base_url else None,
            target.version,
            phases,
            self.started_at,
            datetime.now(timezone.utc),
            checks,
            run.gates,
            self.window.summary() if self.window else None,
        )

    def _publish(self, written: Path, verdict: Verdict) -> None:
        """Everything that follows a written sign-off: the next run's baseline, the window's
        chart, JUnit properties, Allure, the job summary and the sign-off hook."""
        assert self.signoff is not None
        before_deploy = set(self.signoff.phases) == {Phase.PRE_DEPLOY}
        if self.settings.keep_last_go and (verdict is Verdict.GO or before_deploy):
            # The next run's baseline: the last GO, and apart from it what was there before
            # this deploy (kept whatever its verdict: a person may have let the deploy go on).
            state = Path(self.settings.state_dir)
            state.mkdir(parents=True, exist_ok=True)
            kept = PRE_DEPLOY if before_deploy else LAST_GO
            (state / kept).write_bytes(written.read_bytes())
        if self.window:
            budget = HealthSettings.parse(self.settings.target.suite("health")).latency_budget_ms
            self.chart = self.window.chart(written, budget)
        files = [(written, "application/json")]
        files += [(self.chart, "image/png")] if self.chart else []
        document = self.document
        self._junit_properties(document)
        write_signoff_result(self.config, document, files)
        codes = [code for _, code in CATALOGUE.codes()]
        complete_results(self.config, document)
        write_run_files(self.config, document, os.environ, codes)
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            from pytest_deploycheck.report.job_summary import append, markdown

            summary = markdown(document, [p for p, _ in files], os.environ)
            append(os.environ["GITHUB_STEP_SUMMARY"], summary)
        self.config.hook.pytest_deploycheck_signoff(config=self.config, signoff=self.signoff)

    def _notify(self, document: dict[str, Any]) -> None:
        """Send the decision to ``[notify]``'s URLs when its verdict is among ``on`` (a fleet's
        process sends its own, once); what was sent goes in the sign-off."""
        notify = self.settings.notify
        if not notify.urls or document["verdict"] not in notify.on or os.environ.get(FLEET_PART):
            return
        from pytest_deploycheck.report.notify import notify as send

        sent, failures = send(notify.urls, document, self.settings.signoff_path, os.environ)
        document["notifications"] = sent
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        for line in failures:
            if reporter is not None:
                reporter.ensure_newline()
                reporter.write_line(line, yellow=True)

    def _write_or_print(self, document: dict[str, Any]) -> Path | None:
        """Write the sign-off; when even that fails, print it whole to stderr: the verdict is
        never lost."""
        try:
            return write(self.settings.signoff_path, document)
        except OSError as exc:
            import json
            import sys
            from contextlib import nullcontext

            where = self.settings.signoff_path
            capture = self.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled() if capture else nullcontext():
                print(
                    f"deploycheck: cannot write the sign-off to {where}: {exc.strerror};"
                    " here it is:",
                    file=sys.stderr,
                )
                print(json.dumps(document, indent=2), file=sys.stderr)
            return None

    def _junit_properties(self, document: dict[str, Any]) -> None:
        """The verdict as properties of JUnit XML's test suite (``--junitxml``)."""
        for plugin in self.config.pluginmanager.get_plugins():
            add = getattr(
                plugin, "add_global_property", None
            )  # what record_testsuite_property uses
            if callable(add):
                add("deploycheck_verdict", document["verdict"])
                add("deploycheck_exit_code", str(document["exit_code"]))
                add("deploycheck_signoff", str(self.written))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The verdict, its reasons and a per-phase table at the end of the output."""
        if self.signoff is None:
            return
        verdict = self.signoff.decision.verdict
        colour = {Verdict.GO: "green", Verdict.HOLD: "yellow", Verdict.ROLLBACK: "red"}[verdict]
        terminalreporter.ensure_newline()
        terminalreporter.section("deploycheck sign-off", **{colour: True, "bold": True})
        for line in lines(self.document, str(self.written or self.settings.signoff_path)):
            terminalreporter.line(line)
        where = self.written or "stderr: it could not be written"
        terminalreporter.line(f"sign-off written to {where}")
        if self.chart:
            terminalreporter.line(f"window chart written to {self.chart}")
        status = self.settings.exit_status(verdict)
        if status != verdict.exit_code:
            terminalreporter.line(f"the process exits {status} on this HOLD (--deploy-hold-exit)")


_PHASE_NAMES = {phase.value for phase in Phase}


def _kind(call: pytest.CallInfo[None]) -> str | None:
    """``failed`` when a check found a fault, ``error`` when it could not check."""
    excinfo = call.excinfo
    if excinfo is None or excinfo.errisinstance(pytest.skip.Exception):
        return None
    if excinfo.errisinstance(CouldNotCheck):
        return "error"
    if excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return "failed"
    return "error"


def _message(call: pytest.CallInfo[None]) -> str:
    excinfo = call.excinfo
    if excinfo is None:
        return ""
    text = str(excinfo.value).strip()
    if (
        excinfo.errisinstance(
            (AssertionError, pytest.fail.Exception, pytest.skip.Exception, CouldNotCheck)
        )
        and text
    ):
        return text.splitlines()[0]
    first = text.splitlines()[0] if text else ""
    return f"{excinfo.typename}: {first}".rstrip(": ")
