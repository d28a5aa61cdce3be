"""A run of several targets: each checked by its own pytest process (its own caps, probes,
state and baseline, exactly as a run of that target alone), up to ``[fleet]
max_targets_in_flight`` at once; then one fleet sign-off, notification and exit code.

Each target's sign-off and output are kept beside the fleet's, in ``<sign-off>.targets/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pytest_deploycheck.config import Settings
from pytest_deploycheck.core.options import FLEET_PART, OPTION_NAMES
from pytest_deploycheck.fixtures import redactor_of
from pytest_deploycheck.signoff.document import read_whole, write
from pytest_deploycheck.signoff.engine import NOT_CHECKED_CODE, Verdict
from pytest_deploycheck.signoff.fleet import combine, part

# Options each target's run gets its own value of; the rest are passed on as given.
_OWN = {OPTION_NAMES[key] for key in ("target", "signoff", "shard", "state", "artifacts")}
_OWN |= {"--junitxml", "--junit-xml", "--alluredir"}
# The environment that would make a target's run a fleet again, or write the fleet's summary.
_DROPPED = {"DEPLOYCHECK_TARGET", "DEPLOYCHECK_SHARD", "DEPLOYCHECK_SIGNOFF", "DEPLOYCHECK_STATE"}
_DROPPED |= {"GITHUB_STEP_SUMMARY"}


@dataclass(frozen=True)
class Checked:
    """One target's run: its sign-off (None when it wrote none), exit status and duration."""

    name: str
    document: dict[str, Any] | None
    status: int
    seconds: float
    log: Path


class Fleet:
    """The processes of one fleet run, so that an interrupt reaches every one of them."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        assert settings.fleet is not None
        self.config = config
        self.settings = settings
        self.fleet = settings.fleet
        signoff = Path(settings.signoff_path)
        self.directory = signoff.with_name(f"{signoff.stem}.targets")
        self.files = _file_names(self.fleet.targets)  # each target's, in self.directory
        self._processes: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._stopping = False

    def run(self) -> int:
        """Check every target, write the fleet's sign-off; the exit status of the verdict."""
        self.directory.mkdir(parents=True, exist_ok=True)
        started = datetime.now(timezone.utc)
        names = self.fleet.targets
        _say(
            f"deploycheck: fleet of {len(names)} targets"
            + (f" (shard {self.fleet.shard})" if self.fleet.shard else "")
            + f", {self.fleet.max_targets_in_flight} at a time; each target's output in"
            f" {self.directory}"
        )
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        checked: list[Checked] = []
        try:
            with ThreadPoolExecutor(self.fleet.max_targets_in_flight) as pool:
                futures = [pool.submit(self._check, name, self.files[name]) for name in names]
                try:
                    for future in as_completed(futures):
                        done = future.result()
                        checked.append(done)
                        _say(_line(done, len(checked), len(names)))
                except KeyboardInterrupt:
                    self._stop()
                    checked = [f.result() for f in futures]
        finally:
            signal.signal(signal.SIGTERM, previous)
        return self._decide(checked, started)

    def _check(self, name: str, file: str) -> Checked:
        signoff = self.directory / f"{file}.json"
        log = self.directory / f"{file}.log"
        signoff.unlink(missing_ok=True)  # a sign-off of an earlier run is not this run's
        command = [sys.executable, "-m", "pytest", *_passed_on(self.config.invocation_params.args)]
        command += [f"{OPTION_NAMES['target']}={name}", f"{OPTION_NAMES['signoff']}={signoff}"]
        if self.settings.keep_last_go:  # each target keeps its own samples and last GO
            command.append(f"{OPTION_NAMES['state']}={Path(self.settings.state_dir) / file}")
        if getattr(self.config.option, "xmlpath", None):
            command.append(f"--junitxml={self.directory / file}.xml")
        if getattr(self.config.option, "allure_report_dir", None):  # moved in when it ends
            command.append(f"--alluredir={self.directory / file}.allure")
        command.append(f"{OPTION_NAMES['artifacts']}={Path(self.settings.artifacts_dir) / file}")
        environ = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        environ[FLEET_PART] = "1"
        clock = time.monotonic()
        with log.open("wb") as out:
            with self._lock:
                if self._stopping:
                    return Checked(name, None, -1, 0.0, log)
                process = subprocess.Popen(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=environ,
                    cwd=self.config.invocation_params.dir,
                )
                self._processes.append(process)
            status = process.wait()
        document = _read(signoff, name)
        return Checked(name, document, status, time.monotonic() - clock, log)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    def _stop(self) -> None:
        """Stop every target's run the way a CI timeout would (SIGTERM): each writes what it
        found so far as a partial sign-off."""
        _say("deploycheck: interrupted; stopping every target's run (each writes its sign-off)")
        with self._lock:
            self._stopping = True
            for process in self._processes:
                if process.poll() is None:
                    process.terminate()

    def _decide(self, checked: Sequence[Checked], started: datetime) -> int:
        checked = sorted(checked, key=lambda c: c.name)  # in the order of the sign-off's
        policy = self.fleet.policy
        redact = redactor_of(self.config)
        parts = [part(c.name, c.document or _not_checked(c, started), policy) for c in checked]
        junit = getattr(self.config.option, "xmlpath", None)
        if junit:
            _junit([(c.name, self.directory / f"{self.files[c.name]}.xml") for c in checked], junit)
        document = redact.deep(combine(parts))
        document.update(_notified(self.settings, document))
        written = write(self.settings.signoff_path, document)
        self._allure(document, written)
        from pytest_deploycheck.report.terminal import lines

        if os.environ.get("GITHUB_STEP_SUMMARY"):
            from pytest_deploycheck.report.job_summary import append, markdown

            append(os.environ["GITHUB_STEP_SUMMARY"], markdown(document, [written], os.environ))
        _say("", *lines(document, str(written)), f"fleet sign-off written to {written}")
        verdict = Verdict(document["verdict"])
        status = self.settings.exit_status(verdict)
        if status != verdict.exit_code:
            _say(f"the process exits {status} on this HOLD (--deploy-hold-exit)")
        return status

    def _allure(self, document: dict[str, Any], written: Path) -> None:
        """The targets' Allure results (each run wrote its own, in its own folder: no run
        touches another's files) in ``--alluredir``, then the fleet's verdict and run files."""
        directory = getattr(self.config.option, "allure_report_dir", None)
        if not directory:
            return
        import shutil

        from pytest_deploycheck.bundled import CATALOGUE
        from pytest_deploycheck.report.allure import write_run_files, write_signoff_result

        out = Path(directory)
        if getattr(self.config.option, "clean_alluredir", False):
            shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        for file in self.files.values():
            results = self.directory / f"{file}.allure"
            for path in sorted(results.glob("*")) if results.is_dir() else ():
                if path.name.endswith(("-result.json", "-container.json", "-attachment")) or (
                    "-attachment." in path.name
                ):
                    path.replace(out / path.name)
            shutil.rmtree(results, ignore_errors=True)
        write_signoff_result(self.config, document, [(written, "application/json")])
        codes = [code for _, code in CATALOGUE.codes()]
        write_run_files(self.config, document, os.environ, codes)


def run(config: pytest.Config, settings: Settings) -> int:
    """Run the fleet ``settings`` select; the exit status."""
    return Fleet(config, settings).run()


def _passed_on(args: Sequence[str]) -> list[str]:
    """The invocation's arguments without those each target's run gets its own value of."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        option = arg.split("=", 1)[0]
        if option in _OWN:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return kept


def _file_names(names: Sequence[str]) -> dict[str, str]:
    """A file name for each target (config keys may hold any character), unique."""
    files: dict[str, str] = {}
    for index, name in enumerate(names):
        safe = re.sub(r"[^\w.-]", "_", name).lstrip(".") or "target"
        files[name] = safe if safe not in files.values() else f"{safe}-{index}"
    return files


def _junit(parts: Sequence[tuple[str, Path]], out: str) -> None:
    """One JUnit XML file of the targets' own (written by their runs): a test suite each,
    named by its target."""
    from xml.etree import ElementTree

    root = ElementTree.Element("testsuites")
    for name, path in parts:
        try:
            suites = list(ElementTree.parse(path).getroot().iter("testsuite"))
        except (OSError, ElementTree.ParseError):
            continue
        for suite in suites:
            suite.set("name", name)
            root.append(suite)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)


def _read(path: Path, name: str) -> dict[str, Any] | None:
    """A target's sign-off, when its run wrote a whole one about that target."""
    try:
        document = read_whole(path)
    except (OSError, ValueError):
        return None
    return document if document["target"]["name"] == name else None


def _not_checked(checked: Checked, started: datetime) -> dict[str, Any]:
    """A HOLD in place of the sign-off a target's run did not write: never a silent GO."""
    verdict = Verdict.HOLD
    status = "was stopped" if checked.status == -1 else f"exited {checked.status}"
    return {
        "verdict": verdict.value,
        "exit_code": verdict.exit_code,
        "reasons": [
            f"[{NOT_CHECKED_CODE}] the run of {checked.name} {status} without a sign-off;"
            f" its output: {checked.log.name}, in the folder of the targets' sign-offs"
        ],
        "advisories": [],
        "target": {"name": checked.name, "base_url": None, "version": None},
        "phases": [],
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "checks": [],
        "gates": [],
    }


def _notified(settings: Settings, document: dict[str, Any]) -> dict[str, Any]:
    """``[notify]`` for the fleet's verdict: what was sent, for the sign-off."""
    notify = settings.notify
    if not notify.urls or document["verdict"] not in notify.on:
        return {}
    from pytest_deploycheck.report.notify import notify as send

    sent, failures = send(notify.urls, document, settings.signoff_path, os.environ)
    _say(*failures)
    return {"notifications": sent}


def _line(done: Checked, count: int, total: int) -> str:
    verdict = done.document["verdict"] if done.document else "NOT CHECKED"
    return f"deploycheck: [{count}/{total}] {done.name}: {verdict} in {done.seconds:.1f} s"


def _say(*lines: str) -> None:
    for text in lines:
        print(text, flush=True)
    sys.stdout.flush()
