"""A PostgreSQL cluster of a test's own, from the system's binaries, with the settings a test
needs at start (``shared_preload_libraries``), which a shared server may not have."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.served import free_port


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


@contextmanager
def running_cluster(**settings: str) -> Iterator[str]:
    """A started cluster with ``settings`` (``-c name=value``); yields a superuser DSN. Run as
    root, the server runs as the ``postgres`` user, as initdb requires."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    with tempfile.TemporaryDirectory(prefix="deploycheck-pg-") as tmp:
        data = Path(tmp) / "data"
        if as_root:
            shutil.chown(tmp, "postgres", "postgres")
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        port = free_port()
        options = [
            f"-c port={port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={tmp}",
        ]
        options += [f"-c {name}={value}" for name, value in settings.items()]
        ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", f"{tmp}/log"]
        _run([*ctl, "-o", " ".join(options), "-w", "start"])
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([*ctl, "-m", "immediate", "-w", "stop"])


def _run(command: list[str]) -> None:
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True)
