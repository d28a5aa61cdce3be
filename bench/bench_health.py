"""How long the health suite takes to reach a verdict, against its slowest probe.

A loopback target answers /api/health and /fast at once and /slow after DELAY seconds. The
health suite (5 latency samples per endpoint, a 40-request burst, concurrency 32) runs against
it. Prints, measured in one run:
  - time-to-verdict of `pytest --deploy-suites=health` minus pytest start-up, over DELAY
    (target <= 1.5), with the start-up reported separately;
  - the same probes made one after another by a naive sequential client, over the
    concurrent probes' own time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DELAY = 1.0
ROUNDS = 3
SETTINGS = {
    "endpoints": ["/slow", "/fast"],
    "latency_samples": 5,
    "burst_requests": 40,
    "concurrency": 32,
    "max_rps": 1000.0,
    "latency_budget_ms": 5000.0,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(DELAY)
        body = json.dumps({"status": "ok", "version": "1.0.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def pytest_wall(workdir: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=workdir,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def naive(base_url: str) -> float:
    """The same requests, one after another."""
    import httpx

    paths = ["/api/health", "/api/health"] + SETTINGS["endpoints"]  # health, version, endpoints
    sampled = ["/api/health", *SETTINGS["endpoints"]]
    paths += [p for p in sampled for _ in range(SETTINGS["latency_samples"])]
    paths += [SETTINGS["endpoints"][i % 2] for i in range(SETTINGS["burst_requests"])]
    start = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for path in paths:
            client.get(path)
    return time.perf_counter() - start


def concurrent(base_url: str) -> float:
    from pytest_deploycheck.config import HttpSettings
    from pytest_deploycheck.health.probes import probe
    from pytest_deploycheck.health.settings import HealthSettings

    settings = HealthSettings.parse(SETTINGS)
    start = time.perf_counter()
    probe(base_url, settings, HttpSettings(), "1.0.0", allow_destructive=False)
    return time.perf_counter() - start


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # a real server's backlog; the default 5 drops concurrent connects
    daemon_threads = True


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in SETTINGS.items())
        (workdir / "deploycheck.toml").write_text(
            f'[targets.bench]\nbase_url = "{url}"\nversion = "1.0.0"\n'
            f"[targets.bench.suites.health]\n{table}\n"
        )
        args = ("--deploy-target=bench", "--deploy-suites=health")
        startup = statistics.median(
            pytest_wall(workdir, *args, "--collect-only") for _ in range(ROUNDS)
        )
        full = statistics.median(pytest_wall(workdir, *args) for _ in range(ROUNDS))
    probes = statistics.median(concurrent(url) for _ in range(ROUNDS))
    sequential = naive(url)
    server.shutdown()
    print(f"health suite, slowest endpoint {DELAY:.1f} s, median of {ROUNDS}")
    print(f"  pytest start-up and collection   {startup:6.2f} s")
    print(f"  whole run                        {full:6.2f} s")
    print(f"  time-to-verdict / delay          {(full - startup) / DELAY:6.2f}   (target <= 1.5)")
    print(f"  concurrent probes alone          {probes:6.2f} s")
    ratio = sequential / probes
    print(f"  naive sequential probes          {sequential:6.2f} s   ratio {ratio:5.1f}x")


if __name__ == "__main__":
    main()
