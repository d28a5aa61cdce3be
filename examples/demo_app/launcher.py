"""Start the demo target in a child process and stop it cleanly (for the runner and tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunningDemo:
    """A started demo: where it listens and how to reach its database."""

    base_url: str
    db_url: str  # as the read-only deploycheck role
    admin_url: str  # as the superuser that created it
    version: str
    process: subprocess.Popen[bytes]


class DemoFailedToStart(RuntimeError):
    """The demo exited or did not become ready in time."""


@contextmanager
def running_demo(
    faults: Iterable[str] = (),
    database_url: str | None = None,
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[RunningDemo]:
    """Run the demo until the block ends, then SIGTERM it and wait for its clean-up."""
    with tempfile.TemporaryDirectory(prefix="deploycheck-demo-") as tmp:
        ready = Path(tmp) / "ready.json"
        command = [sys.executable, "-m", "examples.demo_app", "--ready-file", str(ready)]
        command += [f"--fault={fault}" for fault in faults]
        if database_url:
            command.append(f"--database-url={database_url}")
        child_env = {**os.environ, "DEMO_FAULTS": "", **(env or {})}
        process = subprocess.Popen(command, cwd=REPO, env=child_env)
        try:
            info = _wait_ready(process, ready, timeout_s)
            yield RunningDemo(
                info["base_url"], info["db_url"], info["admin_url"], info["version"], process
            )
        finally:
            stop(process)


def _wait_ready(process: subprocess.Popen[bytes], ready: Path, timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if process.poll() is not None:
            raise DemoFailedToStart(f"the demo exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise DemoFailedToStart(f"the demo was not ready after {timeout_s:.0f} s")
        time.sleep(0.05)
    info: dict[str, str] = json.loads(ready.read_text())
    return info


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    """SIGTERM, then wait for the demo to remove its database; SIGKILL only as a last resort."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
