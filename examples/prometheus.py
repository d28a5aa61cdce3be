"""A real Prometheus server for the demo and the tests: its own temp dir, a free loopback port,
scraping the given targets every second, stopped when the block ends.

The server is Debian's ``prometheus`` package (``make prometheus`` installs it) or the binary
named by ``PROMETHEUS_BIN``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class NoPrometheus(RuntimeError):
    """No Prometheus server can be started here; the message says why."""


def binary() -> str | None:
    """The Prometheus server's executable, or None when there is none."""
    return os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus")


@contextmanager
def running_prometheus(
    jobs: Mapping[str, list[str]], scrape_interval: str = "1s", timeout_s: float = 30.0
) -> Iterator[str]:
    """Prometheus scraping ``jobs`` (job name -> ``host:port`` targets); yields its URL."""
    executable = binary()
    if executable is None:
        raise NoPrometheus("no prometheus executable (apt-get install prometheus)")
    with tempfile.TemporaryDirectory(prefix="deploycheck-prometheus-") as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(_config(jobs, scrape_interval))
        port = _free_port()
        command = [
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp}/data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        log = (Path(tmp) / "prometheus.log").open("wb")
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            log.close()
            raise NoPrometheus(f"cannot start {executable}: {exc.strerror}") from None
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, timeout_s, Path(tmp) / "prometheus.log")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def wait_for_points(
    url: str, promql: str, series: int, points: int = 3, timeout_s: float = 60.0
) -> None:
    """Until ``promql`` has ``series`` series with ``points`` points each over the last 10 s
    (a rate needs two scrapes of traffic; a range query, several)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = time.time()
        query = urllib.parse.urlencode({"query": promql, "start": now - 10, "end": now, "step": 1})
        try:
            with urllib.request.urlopen(f"{url}/api/v1/query_range?{query}", timeout=5) as answer:
                found = json.load(answer)["data"]["result"]
        except OSError:
            found = []
        if len(found) >= series and all(len(s["values"]) >= points for s in found):
            return
        time.sleep(0.2)
    raise NoPrometheus(f"prometheus had no {points} points of {promql} after {timeout_s:.0f} s")


def _config(jobs: Mapping[str, list[str]], scrape_interval: str) -> str:
    lines = ["global:", f"  scrape_interval: {scrape_interval}", "scrape_configs:"]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job!r}", "    static_configs:", f"      - targets: {targets!r}"]
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-500:]
            raise NoPrometheus(f"prometheus exited with status {process.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise NoPrometheus(f"prometheus was not ready after {timeout_s:.0f} s")
