"""Django's admin site as a login target nobody here wrote: a new project from the installed
Django, its database migrated (SQLite), a superuser, and the development server on a free
loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.served import Site, free_port, serving

USERNAME = "smoke"


@contextmanager
def running_django(workdir: Path, password: str) -> Iterator[Site]:
    """A Django project with its admin, served until the block ends."""
    env = {**os.environ, "DJANGO_SUPERUSER_PASSWORD": password, "PYTHONUNBUFFERED": "1"}
    python = [sys.executable, "-m", "django"]
    subprocess.run([*python, "startproject", "smokesite", str(workdir)], check=True, env=env)
    manage = [sys.executable, str(workdir / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env)
    create = ["createsuperuser", "--noinput", "--username", USERNAME, "--email", "s@example.com"]
    subprocess.run([*manage, *create], check=True, env=env, capture_output=True)
    base_url = f"http://127.0.0.1:{free_port()}"
    runserver = [*manage, "runserver", base_url.removeprefix("http://"), "--noreload"]
    with serving(runserver, f"{base_url}/admin/login/", env):
        yield Site(base_url, USERNAME, password)
