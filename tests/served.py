"""Servers nobody here wrote, run by the tests on loopback: a free port, and a process served
until the block ends."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Site:
    """A login target: where it is and the account the tests sign in with."""

    base_url: str
    username: str | None
    password: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    command: Sequence[str],
    ready_url: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout_s: float = 30,
) -> Iterator[None]:
    """Run ``command`` until the block ends, entering it once ``ready_url`` answers 200."""
    server = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"{command[0]} {' '.join(command[1:3])} did not start")
            time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)
