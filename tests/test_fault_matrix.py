"""The gate under faults, with real parts broken for real: a PostgreSQL frozen with SIGSTOP (a
throwaway cluster of its own), a target slower than the read timeout, SIGTERM in the middle of a
frozen query, request counting at the target under ``-n 4``, a sign-off path that cannot be
written, bad input. Each ends in the right verdict, in bounded time, without a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from pytest_deploycheck.health.settings import HealthSettings
from tests.conftest import SignOffReader, wait_until

CHECKS = """
import time
from pathlib import Path

from pytest_deploycheck.net.postgres import fetch


def test_before_the_freeze(db):
    fetch(db, "SELECT 1")
    Path("ready").touch()


def test_during_the_freeze(db):
    while not Path("frozen").exists():
        time.sleep(0.05)
    fetch(db, "SELECT 1")


def test_after_the_freeze(db):
    fetch(db, "SELECT 1")
"""


class Cluster:
    """A PostgreSQL of its own, which a test may freeze (SIGSTOP) and thaw."""

    def __init__(self, workdir: Path) -> None:
        import warnings

        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver

        self.server = pgserver.get_server(workdir, cleanup_mode="stop")
        self.uri = str(self.server.get_uri())

    def processes(self) -> list[int]:
        """The postmaster and every backend it started."""
        postmaster = int(self.server.get_pid())
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def signal(self, signum: int) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("frozen-pg"))
    yield cluster
    cluster.signal(signal.SIGCONT)
    cluster.server.cleanup()


def start(directory: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def frozen_run(
    tmp_path: Path, cluster: Cluster, statement_ms: int
) -> tuple[subprocess.Popen[str], float]:
    """A run whose second check queries a database frozen while it is running; the moment
    of the freeze."""
    (tmp_path / "test_checks.py").write_text(CHECKS)
    (tmp_path / "deploycheck.toml").write_text(
        f'[targets.t]\ndb_url = "{cluster.uri}"\n'
        f"[db]\nstatement_timeout_ms = {statement_ms}\nclient_grace_s = 1.0\n"
    )
    process = start(tmp_path, "--deploy-target=t", "test_checks.py")
    wait_until((tmp_path / "ready").exists, "the first check", 30)
    cluster.signal(signal.SIGSTOP)
    (tmp_path / "frozen").touch()
    return process, time.monotonic()


def test_a_frozen_database_is_could_not_check_within_its_deadline(
    tmp_path: Path, cluster: Cluster, read_signoff: SignOffReader
) -> None:
    process, frozen = frozen_run(tmp_path, cluster, statement_ms=2000)
    out, _ = process.communicate(timeout=60)
    took = time.monotonic() - frozen
    assert process.returncode == 10, out
    assert took < 2.0 + 1.0 + 3.0  # statement timeout + grace, and a margin for pytest itself
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    outcomes = {
        c["id"].rsplit(".", 1)[-1]: (c["outcome"], c["message"]) for c in document["checks"]
    }
    assert outcomes["before_the_freeze"][0] == "passed"
    for name in ("during_the_freeze", "after_the_freeze"):
        assert outcomes[name][0] == "error"
        assert outcomes[name][1].startswith("[db-timeout]"), outcomes[name]
    assert "Traceback" not in out


def test_sigterm_during_a_frozen_query_writes_the_signoff_within_two_seconds(
    tmp_path: Path, cluster: Cluster, read_signoff: SignOffReader
) -> None:
    process, _ = frozen_run(tmp_path, cluster, statement_ms=60000)
    time.sleep(0.5)  # the query is waiting on the frozen server
    process.send_signal(signal.SIGTERM)
    sent, sent_at = time.monotonic(), time.time()
    out, _ = process.communicate(timeout=30)
    signoff = tmp_path / "deploycheck-signoff.json"
    assert signoff.stat().st_mtime - sent_at < 2.0, out  # the sign-off written
    assert time.monotonic() - sent < 10.0, out  # and gone within a container's stop grace
    assert process.returncode == 10, out
    document = read_signoff(signoff)
    assert document["reasons"][0].startswith("[interrupted]")


def test_an_unparsable_dsn_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "deploycheck.toml").write_text('[targets.t]\ndb_url = "nonsense"\n')
    process = start(tmp_path, "--deploy-target=t", "--deploy-suites=db")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 4, out
    assert "database URL" in out
    assert "Traceback" not in out
    assert not (tmp_path / "deploycheck-signoff.json").exists()


class Slow(BaseHTTPRequestHandler):
    """A target that answers every request after ``delay`` s, counting them."""

    protocol_version = "HTTP/1.1"
    arrived: ClassVar[list[float]] = []
    delay: ClassVar[float] = 1.5

    def do_GET(self) -> None:
        self.arrived.append(time.monotonic())
        time.sleep(self.delay)
        payload = b'{"status": "ok"}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up long ago

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_target_slower_than_the_read_timeout_is_rollback_after_one_timeout_and_one_wave(
    tmp_path: Path, read_signoff: SignOffReader
) -> None:
    """A target answering after 1.5 s against a 1 s read timeout stands for one answering after
    15 s against the default 10 s (bench/bench_slow_target.py measures that one): after the
    first timeout no request leaves until those out have come back, and then the breaker
    has tripped."""
    handler = type("SlowSite", (Slow,), {"arrived": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = f'[targets.t]\nbase_url = "{url}"\n[http]\nread_timeout_s = 1.0\n'
        (tmp_path / "deploycheck.toml").write_text(config)
        process = start(tmp_path, "--deploy-target=t", "--deploy-suites=health")
        out, _ = process.communicate(timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert process.returncode == 20, out
    concurrency, breaker = HealthSettings().concurrency, HealthSettings().breaker_timeouts
    # The first wave alone: nothing left once its first timeout came back.
    offsets = [round(t - handler.arrived[0], 2) for t in handler.arrived]
    assert breaker <= len(handler.arrived) <= concurrency, str(offsets)
    assert max(offsets) < 1.0, str(offsets)
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert [r for r in document["reasons"] if "[unreachable]" in r]
    assert "Traceback" not in out


class Counting(BaseHTTPRequestHandler):
    """A healthy target that counts the requests it gets."""

    protocol_version = "HTTP/1.1"
    arrived: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.arrived.append(self.path)
        payload = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_four_workers_send_the_requests_of_a_serial_run(tmp_path: Path) -> None:
    handler = type("CountingSite", (Counting,), {"arrived": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "deploycheck.toml").write_text(
        f'[targets.t]\nbase_url = "{url}"\n[targets.t.suites.health]\nmax_rps = 1000.0\n'
    )
    counts = []
    try:
        for workers in ([], ["-n", "4"]):
            handler.arrived.clear()
            process = start(tmp_path, "--deploy-target=t", "--deploy-suites=health", *workers)
            out, _ = process.communicate(timeout=120)
            assert process.returncode == 0, out
            counts.append(len(handler.arrived))
    finally:
        server.shutdown()
        server.server_close()
    serial, parallel = counts
    assert serial > 100
    assert abs(parallel - serial) <= 0.05 * serial, counts


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["--deploy-signoff=a-file/signoff.json"], "the sign-off"),
        (["--deploy-artifacts=a-file/artifacts"], "the artifacts"),
        (["--alluredir=a-file/allure"], "the Allure results"),
    ],
    ids=["signoff", "artifacts", "allure"],
)
def test_a_path_that_cannot_be_written_is_refused_before_any_check(
    tmp_path: Path, args: list[str], what: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "test_checks.py").write_text("def test_ran():\n    open('ran', 'w').close()\n")
    process = start(tmp_path, "--deploy-target=t", "test_checks.py", *args)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 4, out
    assert f"deploycheck: cannot write {what} to " in out
    assert "Traceback" not in out
    assert not (tmp_path / "ran").exists()


def test_a_signoff_that_cannot_be_written_at_the_end_is_printed_not_lost(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "test_checks.py").write_text(
        "import os\n\n"
        "def test_breaks_the_signoff_directory():\n"
        "    os.rmdir('out')\n"
        "    open('out', 'w').close()\n"
        "    assert False, 'a failed check'\n"
    )
    process = start(tmp_path, "--deploy-target=t", "--deploy-signoff=out/s.json", "test_checks.py")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 20, out  # the verdict's code all the same
    assert "deploycheck: cannot write the sign-off to " in out
    assert '"verdict": "ROLLBACK"' in out
    assert "Traceback" not in out


def test_a_window_under_xdist_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "test_checks.py").write_text("def test_a():\n    pass\n")
    process = start(tmp_path, "--deploy-target=t", "--deploy-window=2s", "-n", "2")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 4, out
    assert "a watch window runs in one process; drop -n" in out
    assert not (tmp_path / "deploycheck-signoff.json").exists()
    assert "VERDICT" not in out


def test_an_unreachable_database_is_one_reason_and_a_short_report(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "deploycheck.toml").write_text(
        f'[targets.t]\ndb_url = "postgresql://checker@127.0.0.1:{port}/app"\n'
    )
    process = start(tmp_path, "--deploy-target=t", "--deploy-suites=db,rls")
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 10, out
    signoff = json.loads((tmp_path / "deploycheck-signoff.json").read_text())
    assert len(signoff["checks"]) > 20
    [reason] = signoff["reasons"]
    assert reason.startswith("[could-not-check] db.snapshot and ")
    assert "more (" in reason
    assert "[db-unreachable] cannot connect to the database" in reason
    assert len(out.splitlines()) < 4 * len(signoff["checks"]), out  # a few lines a check
    assert "Traceback" not in out


def test_past_its_budget_the_run_stops_starting_checks_and_signs_off(tmp_path: Path) -> None:
    (tmp_path / "deploycheck.toml").write_text('[targets.t]\n[budgets]\nimmediate = "1s"\n')
    (tmp_path / "test_checks.py").write_text(
        "import time\n\n"
        "def test_slow():\n    time.sleep(1.5)\n\n"
        "def test_next():\n    pass\n\n"
        "def test_last():\n    pass\n"
    )
    started = time.monotonic()
    process = start(tmp_path, "--deploy-target=t", "--deploy-phase=immediate", "test_checks.py")
    out, _ = process.communicate(timeout=60)
    assert time.monotonic() - started < 15
    assert process.returncode == 10, out
    signoff = json.loads((tmp_path / "deploycheck-signoff.json").read_text())
    assert {c["id"]: c["outcome"] for c in signoff["checks"]} == {
        "checks.slow": "passed",
        "checks.next": "error",
        "checks.last": "error",
    }
    assert signoff["reasons"] == [
        "[could-not-check] checks.next and 1 more (checks.last): [over-budget] the run spent"
        " its 1 s budget before this check (budgets.PHASE in the config)"
    ]
