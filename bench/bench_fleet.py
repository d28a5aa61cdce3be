"""A fleet of demo targets in one run: wall time against one target's run, the gate's memory,
and shards merged against the one run.

TARGETS demo instances share one PostgreSQL (127.0.0.1:5432, else an embedded one), a database
each. The health and db suites run against them:
  - one target alone, for SINGLES of them (the slowest is the reference);
  - the whole fleet in one run (`--deploy-target=all`), for each max_targets_in_flight in
    IN_FLIGHT, its wall time over the slowest single run (target <= 1.5) and the peak resident
    memory of the gate's processes (the fleet's and its targets' runs, summed; target <= 500 MB);
  - two shards run one after the other and merged: the same verdict and per-target table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from examples.demo_app.launcher import RunningDemo, running_demo  # noqa: E402

TARGETS = int(os.environ.get("BENCH_FLEET_TARGETS", "50"))
SINGLES = 3
IN_FLIGHT = (4, 8)
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_server(stack: ExitStack, scratch: Path) -> str:
    import psycopg

    try:
        psycopg.connect(LOCAL_PG, connect_timeout=3).close()
        return LOCAL_PG
    except psycopg.OperationalError:
        import pgserver

        server = pgserver.get_server(scratch / "pg", cleanup_mode="stop")
        stack.callback(server.cleanup)
        return str(server.get_uri())


def start_demos(stack: ExitStack, server: str) -> list[RunningDemo]:
    env = {"DEMO_DB_POOL_MAX": "1"}  # 50 demos and the checks within max_connections = 100
    contexts = [running_demo(database_url=server, timeout_s=180, env=env) for _ in range(TARGETS)]
    with ThreadPoolExecutor(8) as pool:
        demos = list(pool.map(lambda cm: cm.__enter__(), contexts))
    for cm in contexts:
        stack.push(cm.__exit__)
    return demos


def config(demos: list[RunningDemo]) -> str:
    migrations = REPO / "examples" / "demo_app" / "migrations"
    parts = [
        '[suites.health]\npaths = ["/api/health"]\n'
        'expect = { status = "ok", database = "ok" }\n'
        'endpoints = ["/login", "/api/announcements"]\nburst_requests = 100\nmax_rps = 100.0\n'
        f"[suites.db]\nmigrations_dir = {json.dumps(str(migrations))}\n"
    ]
    for i, demo in enumerate(demos):
        parts.append(
            f"[targets.d{i:02d}]\nbase_url = {json.dumps(demo.base_url)}\n"
            f"db_url = {json.dumps(demo.db_url)}\nversion = {json.dumps(demo.version)}\n"
        )
    return "\n".join(parts)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def run(directory: Path, *args: str) -> tuple[float, float]:
    """A pytest run in ``directory``: its wall time and the peak RSS (MB) of its process tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:playwright"]
    start = time.monotonic()
    process = subprocess.Popen(
        [*command, "--deploy-suites=health,db", *args],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(_rss_kb(pid) for pid in _tree(process.pid)))
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    process.wait()
    wall = time.monotonic() - start
    done.set()
    watcher.join()
    return wall, peak / 1024


def table(document: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(t["name"], t["verdict"], tuple(t["reasons"])) for t in document["targets"]]


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the demos stop with the bench
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        scratch = Path(tmp)
        server = database_server(stack, scratch)
        clock = time.monotonic()
        demos = start_demos(stack, server)
        print(f"{TARGETS} demo targets started in {time.monotonic() - clock:.1f} s")
        work = scratch / "run"
        work.mkdir()
        (work / "deploycheck.toml").write_text(config(demos))

        singles = []
        for i in range(SINGLES):
            wall, peak = run(work, f"--deploy-target=d{i:02d}", f"--deploy-signoff=single{i}.json")
            verdict = json.loads((work / f"single{i}.json").read_text())["verdict"]
            singles.append(wall)
            print(f"single target d{i:02d}: {wall:.2f} s, {peak:.0f} MB, {verdict}")
        slowest = max(singles)

        whole: dict[str, Any] = {}
        for in_flight in IN_FLIGHT:
            text = config(demos) + f"\n[fleet]\nmax_targets_in_flight = {in_flight}\n"
            (work / "deploycheck.toml").write_text(text)
            wall, peak = run(work, "--deploy-target=all", "--deploy-signoff=fleet.json")
            whole = json.loads((work / "fleet.json").read_text())
            counts = {
                v: sum(t["verdict"] == v for t in whole["targets"])
                for v in ("GO", "HOLD", "ROLLBACK")
            }
            print(
                f"fleet of {TARGETS}, {in_flight} in flight: {wall:.1f} s ="
                f" {wall / slowest:.1f}x the slowest single run (target 1.5x),"
                f" peak {peak:.0f} MB (target 500 MB), verdict {whole['verdict']} {counts}"
            )

        for k in (1, 2):
            run(
                work,
                "--deploy-target=all",
                f"--deploy-shard={k}/2",
                f"--deploy-signoff=shard{k}.json",
            )
        merged = subprocess.run(
            [
                str(Path(sys.executable).parent / "deploycheck"),
                "merge",
                "shard1.json",
                "shard2.json",
                "-o",
                "merged.json",
            ],
            cwd=work,
            capture_output=True,
            check=False,
        )
        fleet = json.loads((work / "merged.json").read_text())
        same = fleet["verdict"] == whole["verdict"] and table(fleet) == table(whole)
        print(
            f"two shards merged (exit {merged.returncode}): verdict {fleet['verdict']},"
            f" per-target table {'identical to' if same else 'DIFFERENT from'} the one run's"
        )


if __name__ == "__main__":
    main()
