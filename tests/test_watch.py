"""Watch windows against the demo target: short windows (seconds), real requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from examples.demo_app.launcher import RunningDemo, running_demo
from tests.conftest import SignOffReader, wait_until

GO_BURST = 700  # a window's GO needs about 680 clean requests (window.judge), however fast
CONFIG = """
[targets.demo]
base_url = "${DEMO_BASE_URL}"
version = "1.5.0"
[targets.demo.suites.health]
endpoints = ["/api/announcements"]
burst_requests = {burst}
max_rps = 2000.0
concurrency = 20
latency_samples = 1
latency_budget_ms = 30000.0  # these windows judge error rates; a busy machine is not slow code
"""

Start = Any


@pytest.fixture
def watch(tmp_path: Path) -> Start:
    """Starts the health suite in a watch window, in its own process, against a demo."""

    def start(
        demo: RunningDemo, *args: str, burst: int = 200, interval: str = "0.2s"
    ) -> subprocess.Popen[str]:
        (tmp_path / "deploycheck.toml").write_text(CONFIG.replace("{burst}", str(burst)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
        env["DEMO_BASE_URL"] = demo.base_url
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--deploy-target=demo",
            "--deploy-suites=health",
            f"--deploy-state={tmp_path / 'state'}",
            f"--deploy-interval={interval}",
            *args,
        ]
        return subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    return start


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate(timeout=120)
    return process.returncode, out


def window_run(
    watch: Start,
    tmp_path: Path,
    read_signoff: SignOffReader,
    demo: RunningDemo,
    code: int,
    expected: str,
) -> dict[str, Any]:
    """A 4 s window with Allure results: the checks every window's sign-off must pass."""
    result, out = finish(
        watch(
            demo,
            "--deploy-window=4s",
            f"--alluredir={tmp_path / 'allure'}",
            burst=GO_BURST,
            interval="10s",  # past the window's end: one round of GO_BURST, enough for a GO
        )
    )
    assert result == code, out
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    gate = next(g for g in document["gates"] if g["name"] == "window error_rate")
    assert gate["status"] == expected
    assert gate["samples"] >= GO_BURST
    assert document["window"]["rounds"] >= 1
    assert document["window"]["stopped_early"] == ""
    assert "- window " in out  # a progress line per round in a log
    assert (tmp_path / "deploycheck-signoff-window.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "state" / "last-go-signoff.json").exists() == (expected == "pass")
    # QA sees the verdict as a result of its own, the window's chart attached.
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    [signoff] = [r for r in results if r["fullName"] == "deploycheck.signoff"]
    assert signoff["name"] == f"Deployment sign-off: {document['verdict']}"
    assert {a["type"] for a in signoff["attachments"]} == {"application/json", "image/png"}
    assert all((tmp_path / "allure" / a["source"]).exists() for a in signoff["attachments"])
    return document


def test_a_window_at_five_percent_holds(
    watch: Start, tmp_path: Path, read_signoff: SignOffReader, pg_admin: str
) -> None:
    # above the hold threshold, surely not above the rollback one
    with running_demo(["error-rate=0.05"], pg_admin) as demo:
        window_run(watch, tmp_path, read_signoff, demo, 10, "hold")


def test_a_clean_window_is_go_and_the_next_compares_with_it(
    watch: Start, tmp_path: Path, read_signoff: SignOffReader, pg_admin: str
) -> None:
    with running_demo((), pg_admin) as demo:
        window_run(watch, tmp_path, read_signoff, demo, 0, "pass")
    with running_demo(["error-rate=0.02"], pg_admin) as demo:
        result, out = finish(watch(demo, "--deploy-window=2s", interval="1s"))
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    gate = next(g for g in document["gates"] if g["name"] == "window error_rate vs baseline")
    assert gate["status"] == "hold"
    assert "against the baseline's 0.00%" in gate["detail"]
    assert result == 10, out


def test_rollback_class_breach_stops_early_and_says_when_and_why(
    watch: Start, tmp_path: Path, read_signoff: SignOffReader, pg_admin: str
) -> None:
    with running_demo(["error-rate=0.3"], pg_admin) as demo:
        started = time.monotonic()
        result, out = finish(watch(demo, "--deploy-window=60s"))
        took = time.monotonic() - started
    assert result == 20, out
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert document["window"]["rounds"] == 1
    stopped = document["window"]["stopped_early"]
    assert stopped.startswith("stopped early at ")
    assert " s of 60 s because the error rate's lower 99 % bound " in stopped
    # The demo fails exactly 30 % of the requests to a path; the endpoint and latency probes
    # ask the burst's path at the same time, so one or two of those failures may be theirs.
    counted = re.search(r"> 10% after 200 requests \((\d+) failed, (\d+\.\d)%\)$", stopped)
    assert counted, stopped
    failed = int(counted[1])
    assert 58 <= failed <= 60, stopped
    assert counted[2] == f"{failed / 2:.1f}", stopped
    assert f"window {stopped}" in out  # the terminal says when and why
    assert took < 60  # it did not wait out the window


def samples(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "state" / "window-samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def wait_for_a_round(tmp_path: Path) -> None:
    """Until the window has written its header and at least one round of samples."""
    path = tmp_path / "state" / "window-samples.jsonl"
    wait_until(lambda: path.exists() and len(samples(tmp_path)) >= 6, "a window's first round", 60)


def test_killed_window_resumes_to_the_same_verdict(
    watch: Start, tmp_path: Path, read_signoff: SignOffReader, pg_admin: str
) -> None:
    with running_demo((), pg_admin) as demo:
        # An interval as long as the window: one round before the kill, one after the resume.
        first = watch(demo, "--deploy-window=15s", burst=GO_BURST, interval="15s")
        wait_for_a_round(tmp_path)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        header, *before = samples(tmp_path)
        result, out = finish(watch(demo, "--deploy-window=15s", burst=GO_BURST, interval="15s"))
    assert result == 0, out
    header_after, *after = samples(tmp_path)
    assert header_after == header  # the same window, resumed, not restarted
    assert after[: len(before)] == before  # nothing lost
    [gap] = [line["gap"] for line in after if "gap" in line]  # the time nobody watched
    after = [line for line in after if "gap" not in line]
    assert before[-1]["t"] <= gap[0] < gap[1]
    rounds = sorted({s["round"] for s in after})
    assert rounds == list(range(len(rounds)))  # numbering continues
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert document["verdict"] == "GO"
    assert document["window"]["rounds"] == len(rounds)
    assert document["window"]["gaps"] == [{"from": gap[0], "to": gap[1]}]


def test_sigterm_writes_hold_and_keeps_every_sample(
    watch: Start, tmp_path: Path, read_signoff: SignOffReader, pg_admin: str
) -> None:
    with running_demo((), pg_admin) as demo:
        process = watch(demo, "--deploy-window=60s")
        wait_for_a_round(tmp_path)
        process.send_signal(signal.SIGTERM)
        result, out = finish(process)
    assert result == 10, out
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert document["reasons"][0].startswith("[interrupted]")
    assert document["window"]["rounds"] == len({s["round"] for s in samples(tmp_path)[1:]})


def test_window_with_xdist_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("--deploy-target=x", "--deploy-window=2s", "-n", "2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*a watch window runs in one process; drop -n*"])


def test_each_round_is_a_result_of_its_own_in_allure(
    watch: Start, tmp_path: Path, read_signoff: SignOffReader, pg_admin: str
) -> None:
    with running_demo((), pg_admin) as demo:
        # Rounds of 20 requests a second apart: short enough for two in 3 s on a loaded machine.
        allure = f"--alluredir={tmp_path / 'allure'}"
        finish(watch(demo, "--deploy-window=3s", allure, burst=20, interval="1s"))
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    endpoint = [r for r in results if r["name"] == "health.endpoint"]
    rounds = [p["value"] for r in endpoint for p in r["parameters"] if p["name"] == "window round"]
    assert document["window"]["rounds"] >= 2
    assert sorted(rounds, key=int) == [str(n) for n in range(1, document["window"]["rounds"] + 1)]
    assert len({r["historyId"] for r in endpoint}) == len(endpoint)  # not retries of one
