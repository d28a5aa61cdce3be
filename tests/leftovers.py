"""What a run may leave behind: demo processes, temporary data directories, test databases.

python -m tests.leftovers snapshot FILE   # before the run
python -m tests.leftovers check FILE      # after it: exit 1 if anything new is left
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
MARKERS = (b"deploycheck-demo-pg-", b"examples.demo_app")


def leftovers() -> set[str]:
    found = {f"dir {p}" for p in Path(tempfile.gettempdir()).glob("deploycheck-demo-pg-*")}
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if any(marker in cmdline for marker in MARKERS):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]
            found.add(f"process {entry.name}: {command}")
    return found | databases()


def databases() -> set[str]:
    import psycopg

    try:
        with psycopg.connect(LOCAL_PG, connect_timeout=3) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'deploycheck\\_demo\\_%'"
                " OR datname LIKE 'deploycheck\\_test\\_%'"
            ).fetchall()
    except psycopg.OperationalError:
        return set()
    return {f"database {name}" for (name,) in rows}


def main(command: str, path: str) -> int:
    if command == "snapshot":
        Path(path).write_text(json.dumps(sorted(leftovers())))
        return 0
    before = set(json.loads(Path(path).read_text()))
    new = sorted(leftovers() - before)
    for item in new:
        print(f"left behind: {item}", file=sys.stderr)
    print(f"leftovers: {len(new)} new after the run")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
