"""Running a watch window: the checks round after round, every sample on disk as it is
taken, a progress line per round, and an early stop when the evidence calls for a rollback."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deploycheck.core.model import CheckResult, Gate, worst
from pytest_deploycheck.signoff.engine import STATUS_VERDICT
from pytest_deploycheck.window.judge import Sample, WindowPolicy, judge, more_for_go
from pytest_deploycheck.window.state import WindowState

if TYPE_CHECKING:
    from pytest_deploycheck.config import Settings
    from pytest_deploycheck.signoff.results import ResultBook


WINDOW_ROUND = pytest.StashKey[int]()  # in config.stash: the round running now, from 0


class WatchWindow:
    """One window over the selected checks of one session; ``book`` gathers each round's
    results (the sign-off session folds every report into it)."""

    def __init__(self, session: pytest.Session, settings: Settings, book: ResultBook) -> None:
        self.settings = settings
        self.book = book
        self.session = session
        self.window_s = float(settings.window_s or 0)
        self.interval_s = settings.interval_s
        self.policy = WindowPolicy(
            settings.policy.error_rate_hold, settings.policy.error_rate_rollback
        )
        identity = {
            "window_s": self.window_s,
            "interval_s": self.interval_s,
            "target": settings.target.name,
            "phases": [p.value for p in settings.phases],
        }
        self.state = WindowState.open(Path(settings.state_dir), identity)
        self.judgement = judge(self.state.samples, self.policy)
        self.stopped_early = ""  # when and why the window stopped before its end
        self.reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")

    def run(self) -> None:
        """Rounds until the window ends or the evidence stops it early."""
        failed = self.session.testsfailed
        if failed and not self.session.config.option.continue_on_collection_errors:
            raise self.session.Interrupted(f"{failed} errors during collection")
        while not self.done:
            started = time.monotonic()
            self._round()
            if self.done:
                break
            time.sleep(
                max(0.0, min(self.interval_s - (time.monotonic() - started), self.remaining))
            )
        if self.judgement.stop_early:
            elapsed = time.time() - self.state.started
            self.stopped_early = (
                f"stopped early at {elapsed:.0f} s of {self.window_s:.0f} s because"
                f" {self.judgement.why}"
            )
            if self.reporter is not None:
                self.reporter.write_sep("-", f"window {self.stopped_early}", bold=True)

    def settle(self) -> None:
        """Judge every sample on disk: a stop (SIGTERM, Ctrl-C) between writing a round's
        samples and judging them must not leave that round out of the sign-off."""
        self.state.reload()
        self.judgement = judge(self.state.samples, self.policy)

    @property
    def remaining(self) -> float:
        return max(0.0, self.window_s - (time.time() - self.state.started))

    @property
    def done(self) -> bool:
        return self.judgement.stop_early or self.remaining <= 0

    def _round(self) -> None:
        items = self.session.items
        number = self.state.next_round
        self.session.config.stash[WINDOW_ROUND] = number
        self.book.clear()
        for index, item in enumerate(items):
            following = items[index + 1] if index + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
            if self.session.shouldfail or self.session.shouldstop:
                raise self.session.Interrupted(
                    str(self.session.shouldfail or self.session.shouldstop)
                )
        now = time.time()
        self.state.append([_sample(number, now, check) for check in self.book.results()])
        self.judgement = judge(self.state.samples, self.policy)
        self._progress(number)

    def _progress(self, number: int) -> None:
        """One line a round: updated in place on a terminal, plain lines in CI logs."""
        if self.reporter is None:
            return
        _, requests = self.judgement.error_rate
        status = worst(g.status for g in self.judgement.gates)
        elapsed = time.time() - self.state.started
        phases = ",".join(p.value for p in self.settings.phases) or "all phases"
        line = (
            f"window {phases} {elapsed:.0f}/{self.window_s:.0f} s, round {number + 1},"
            f" {requests} requests"
        )
        rate = next((g for g in self.judgement.gates if g.name == "window error_rate"), None)
        if rate is not None and rate.value is not None and rate.high is not None:
            line += f", error rate {rate.value:.2%} (95 % up to {rate.high:.2%})"
        line += f", so far {STATUS_VERDICT[status].value}"
        bounds = self.judgement.bounds
        if rate is not None and rate.status == "hold" and bounds is not None:
            line += f"; {more_for_go(bounds, self.policy)}"
        if sys.stdout.isatty():
            self.reporter.rewrite(line, bold=True)
        else:
            self.reporter.write_sep("-", line)

    @property
    def gates(self) -> list[Gate]:
        """The window's gates, and the error rate against the baseline's when there is one."""
        gates = list(self.judgement.gates)
        baseline = self.settings.baseline.figures
        earlier = baseline.get("window error_rate", baseline.get("error_rate"))
        errors, requests = self.judgement.error_rate
        if earlier is not None and requests:
            ratio = self.settings.policy.baseline_error_ratio
            limit = max(earlier * ratio, self.policy.hold / 10)  # a clean baseline allows a little
            rate = errors / requests
            status = "hold" if rate > limit else "pass"
            detail = f"{rate:.2%} against the baseline's {earlier:.2%} (at most {ratio}x)"
            gates.append(
                Gate(
                    "window error_rate vs baseline",
                    *(rate, limit, status, detail, requests),
                    unit="ratio",
                )
            )
        return gates

    def chart(self, signoff_path: Path, latency_budget_ms: float | None) -> Path | None:
        """Draw the window's chart beside the sign-off."""
        from pytest_deploycheck.window.chart import draw

        chart = signoff_path.with_name(signoff_path.stem + "-window.png")
        return draw(
            self.state.samples,
            self.policy,
            latency_budget_ms,
            chart,
            self.stopped_early,
            self.state.gaps,
        )

    def judged(self, checks: list[CheckResult]) -> list[CheckResult]:
        """The last round's results, each carrying its window gate, which sets its level."""
        by_name = {g.name: g for g in self.judgement.gates}
        return [
            replace(c, gates=(by_name[f"window {c.id}"],)) if f"window {c.id}" in by_name else c
            for c in checks
        ]

    def summary(self) -> dict[str, Any]:
        """What the sign-off says about the window."""
        return {
            "start": self.state.started,
            "end": time.time(),
            "length_s": self.window_s,
            "interval_s": self.interval_s,
            "rounds": self.judgement.rounds,
            "samples_file": str(self.state.path),
            "stopped_early": self.stopped_early,
            "gaps": [{"from": start, "to": end} for start, end in self.state.gaps],
        }


def _sample(number: int, now: float, check: CheckResult) -> Sample:
    errors = requests = 0
    for gate in check.gates:
        if gate.name == "error_rate" and gate.samples and gate.value is not None:
            requests += gate.samples
            errors += round(gate.value * gate.samples)
    status = worst((g.status for g in check.gates), default="")
    latencies = [g.value for g in check.gates if g.name.startswith("latency.p95") and g.value]
    outcome, severity = check.outcome.value, check.severity.value
    p95 = max(latencies) if latencies else None
    return Sample(number, now, check.id, outcome, severity, errors, requests, status, p95)
