"""Jupyter Server as a login target nobody here wrote: a login page with a password field alone
(``PasswordIdentityProvider``, no token), served on a free loopback port.

Its documentation on sessions: the login sets a signed cookie (Tornado's secure cookie, signed
with the server's cookie secret) holding the user's identity, and ``/logout`` clears it in the
browser; nothing is kept on the server, so a copy of the cookie stays good until it expires or
the cookie secret changes. ``cookie_options`` passes attributes to that cookie: here
``SameSite=Lax``. Left out, the cookie has no ``SameSite`` at all and ``login.session_cookie``
holds (``cookie-no-samesite``): a finding on the install, which one setting fixes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.served import Site, free_port, serving


@contextmanager
def running_jupyter(workdir: Path, password: str) -> Iterator[Site]:
    """Jupyter Server with ``password`` as its only credential, until the block ends."""
    from jupyter_server.auth import passwd

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {  # its configuration, data and runtime files under ``workdir``, none of the user's
        **os.environ,
        **{f"JUPYTER_{kind}_DIR": str(workdir / kind.lower()) for kind in ("CONFIG", "DATA")},
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={workdir}",
        "--IdentityProvider.token=",
        f"--PasswordIdentityProvider.hashed_password={passwd(password)}",
        "--ServerApp.cookie_options={'samesite': 'Lax'}",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with serving(command, f"{base_url}/login", env):
        yield Site(base_url, None, password)
