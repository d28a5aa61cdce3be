"""The main job (`make demo`, examples/run_demo.py) run as CI runs it, and what every run of it
must show: its exit code and verdict, each step said as it starts, the sign-offs it names, and
nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from examples.demo_app.launcher import REPO


def run_demo(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "examples.run_demo", f"--out={out}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def check_main_job(
    result: subprocess.CompletedProcess[str],
    out: Path,
    code: int,
    verdict: str,
    reasons: Sequence[str] = (),
) -> None:
    """What a main job's run must show, whatever its verdict."""
    assert result.returncode == code, result.stdout + result.stderr
    assert f"demo: verdict {verdict} (exit {code})" in result.stdout
    for reason in reasons:
        assert any(line.startswith(reason) for line in result.stdout.splitlines()), reason
    assert f"demo: sign-off JSON   {out / 'demo-signoff.json'}" in result.stdout
    before = out / "pre-deploy-signoff.json"
    assert f"demo: pre-deploy verdict GO, sign-off {before}" in result.stdout
    steps = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if line[:6] == "demo ["]
    assert [step.split(":")[0] for step in steps] == [  # each step said as it starts
        "starting the demo target (its own PostgreSQL), its users and Prometheus",
        "phase pre_deploy",
        "the deploy",
        "phase immediate",
        "stopping the demo target",
    ]
    data = result.stdout.split("host=")[1].split()[0]
    assert not Path(data).exists()
    assert processes_mentioning(data) == []


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
