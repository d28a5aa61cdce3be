"""P7: how long a target that answers after 15 s takes to reach ROLLBACK at the defaults
(10 s read timeout, concurrency 10, 3 timeouts trip the breaker), and how many requests it gets.

Prints the whole `pytest --deploy-suites=health` run's wall time (target <= 12 s), the time
from its first request to the verdict over the read timeout (the floor: one read timeout), and
the requests the target received (target <= 10: one wave, nothing after the first timeout).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DELAY = 15.0
READ_TIMEOUT = 10.0
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:playwright"]
arrived: list[float] = []


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        arrived.append(time.monotonic())
        time.sleep(DELAY)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "deploycheck.toml").write_text(f'[targets.t]\nbase_url = "{url}"\n')
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:playwright",
                "--deploy-target=t",
                "--deploy-suites=health",
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            check=False,
        )
        ended = time.monotonic()
    server.shutdown()
    to_verdict = ended - arrived[0] if arrived else float("nan")
    print(
        f"target answering after {DELAY:.0f} s: exit {done.returncode}, whole run"
        f" {ended - started:.1f} s (target <= 12 s), first request to verdict"
        f" {to_verdict:.1f} s = {to_verdict / READ_TIMEOUT:.2f}x the read timeout,"
        f" {len(arrived)} requests (target <= 10)"
    )


if __name__ == "__main__":
    main()
