"""Django's admin site as a login target nobody here wrote: a new project from the installed
Django, its database migrated (SQLite), a superuser, and the development server on a free
loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

USERNAME = "smoke"


@dataclass(frozen=True)
class DjangoSite:
    base_url: str
    username: str
    password: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_django(workdir: Path, password: str) -> Iterator[DjangoSite]:
    """A Django project with its admin, served until the block ends."""
    env = {**os.environ, "DJANGO_SUPERUSER_PASSWORD": password, "PYTHONUNBUFFERED": "1"}
    python = [sys.executable, "-m", "django"]
    subprocess.run([*python, "startproject", "smokesite", str(workdir)], check=True, env=env)
    manage = [sys.executable, str(workdir / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env)
    create = ["createsuperuser", "--noinput", "--username", USERNAME, "--email", "s@example.com"]
    subprocess.run([*manage, *create], check=True, env=env, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/admin/login/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("Django's development server did not start")
            time.sleep(0.1)
        yield DjangoSite(base_url, USERNAME, password)
    finally:
        server.terminate()
        server.wait(timeout=10)
