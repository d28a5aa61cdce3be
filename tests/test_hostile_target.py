"""A target built to turn the gate against the production it checks (``tests/hostile_target``):
each attack is really made, and the gate stays safe — credentials never reach another origin,
a gzip bomb does not exhaust its memory, a slow drip does not stall it, a header no client may
send back does not blind it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_deploycheck.config import HttpSettings
from pytest_deploycheck.core.redact import encodings
from pytest_deploycheck.net.http import ExchangeStopped, make_client
from tests.conftest import SignOffReader
from tests.hostile_target import BOMB_MB, PACKED, Hostile, gzip_bomb, hostile_target

PASSWORD = "Sm0ke pw/&é+%"  # every character an encoding treats specially


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with hostile_target() as target:
        yield target


def deploy_run(
    tmp_path: Path, config: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """A deploy run in a process of its own, as CI runs it, and how long it took; the process
    records its peak memory (RSS, KiB) in ``maxrss`` as it ends."""
    (tmp_path / "deploycheck.toml").write_text(config)
    # VmHWM, the peak of this process's own memory: ru_maxrss would count the parent's too,
    # which a process started from a large one (an xdist worker late in a run) inherits.
    (tmp_path / "conftest.py").write_text(
        "import pathlib\n"
        "def pytest_unconfigure(config):\n"
        "    status = pathlib.Path('/proc/self/status').read_text().splitlines()\n"
        "    peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))\n"
        "    pathlib.Path('maxrss').write_text(peak)\n"
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--deploy-target=t", *args]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env={**_environ(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, time.monotonic() - started


def _environ() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DEPLOYCHECK_") and k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
    }


def reasons(document: dict[str, Any], code: str) -> list[str]:
    return [r for r in document["reasons"] if f"[{code}]" in r]


@pytest.mark.parametrize("mode", ["api", "browser"])
def test_credentials_never_reach_another_origin(
    tmp_path: Path, hostile: Hostile, read_signoff: SignOffReader, mode: str
) -> None:
    config = f"""
[targets.t]
base_url = "{hostile.url}"
[targets.t.credentials]
username = "smoke@example.com"
password = "${{SMOKE_PASSWORD}}"
[targets.t.suites.login]
modes = ["{mode}"]
timeout_ms = 4000
"""
    done, _ = deploy_run(
        tmp_path, config, "--deploy-suites=login", env={"SMOKE_PASSWORD": PASSWORD}
    )
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    # The attack was made: the page with the off-site form was served and filled in, and the
    # recorder, on another port of the same host, takes what is sent to it.
    assert hostile.count("/login") >= 1
    httpx.post(f"{hostile.recorder_url}/collect", data={"control": "1"})
    assert [seen.body for seen in hostile.recorded] == [b"control=1"]
    # Nothing else reached it: not the password, in any encoding, nor any attempt at all.
    assert not any(seen.holds(encodings(PASSWORD)) for seen in hostile.recorded)
    assert document["verdict"] == "ROLLBACK", done.stdout
    check = "browser" if mode == "browser" else "api"
    [reason] = [r for r in reasons(document, "credentials-off-origin") if f"login.{check}" in r]
    assert f"to http://127.0.0.1:{hostile.recorder_url.rsplit(':', 1)[1]}" in reason
    # The wrong-password attempt was kept from leaving as well.
    assert reasons(document, "credentials-off-origin")[0].startswith("[critical-failure]")
    wrong = next(c for c in document["checks"] if c["id"] == "login.wrong_password")
    assert wrong["message"].startswith("[credentials-off-origin]")
    assert PASSWORD not in done.stdout + done.stderr


def test_a_gzip_bomb_is_cut_at_the_cap_not_unpacked(
    tmp_path: Path, hostile: Hostile, read_signoff: SignOffReader
) -> None:
    assert len(gzip_bomb()) < 600 * 1024  # small as sent, BOMB_MB MiB unpacked
    config = f"""
[targets.t]
base_url = "{hostile.url}"
[targets.t.suites.health]
paths = ["/bomb"]
burst_requests = 10  # the default concurrency: a bomb in every slot at once
latency_samples = 3
max_rps = 1000
"""
    done, _ = deploy_run(tmp_path, config, "--deploy-suites=health")
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert hostile.sent["bomb"] > 0  # the bomb was really sent
    assert document["verdict"] == "ROLLBACK", done.stdout
    [reason] = reasons(document, "body-too-large")
    assert reason.startswith("[critical-failure] health.endpoint: [body-too-large] GET")
    peak_mb = int((tmp_path / "maxrss").read_text()) / 1024
    assert peak_mb < 600, f"the gate grew to {peak_mb:.0f} MB on a {BOMB_MB} MiB bomb"


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_slow_drip_ends_within_the_exchange_deadline(
    tmp_path: Path,
    hostile: Hostile,
    read_signoff: SignOffReader,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_timeout = 1  # the target drips a byte every 0.5 s: no one read times out
    monkeypatch.setattr(hostile, "drip_s", 0.5)
    config = f"""
[http]
read_timeout_s = {read_timeout}
[targets.t]
base_url = "{hostile.url}"
[targets.t.suites.health]
paths = ["{path}"]
"""
    done, took = deploy_run(tmp_path, config, "--deploy-suites=health")
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert hostile.sent[path.strip("/")] >= 2  # it dripped: more than one read's worth of gaps
    assert took < 2 * read_timeout + 10, done.stdout
    assert document["verdict"] == "ROLLBACK", done.stdout
    [reason] = reasons(document, "too-slow")
    assert reason.startswith("[critical-failure] health.endpoint: [too-slow]")


def test_a_header_no_client_may_send_back_blinds_nothing(
    tmp_path: Path, hostile: Hostile, read_signoff: SignOffReader
) -> None:
    config = f"""
[targets.t]
base_url = "{hostile.url}"
version = "1.0.0"
[targets.t.suites.health]
paths = ["/odd"]
burst_requests = 40
max_rps = 1000
"""
    done, _ = deploy_run(tmp_path, config, "--deploy-suites=health")
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    assert hostile.count("/odd") > 1  # the odd cookie was offered, and later requests went on
    assert document["verdict"] == "ROLLBACK", done.stdout
    assert reasons(document, "health-status")
    assert "UnicodeEncodeError" not in done.stdout + done.stderr
    endpoint = next(c for c in document["checks"] if c["id"] == "health.endpoint")
    [evidence] = endpoint["evidence"]
    assert "X-Note: caf\\xc3\\xa9 \\xff" in evidence["text"]  # kept, as escaped bytes


def test_an_honest_compressed_answer_is_read_whole_and_a_bomb_stops(hostile: Hostile) -> None:
    with make_client(hostile.url, HttpSettings()) as client:
        assert client.get("/packed").content == PACKED  # piece by piece, nothing lost
        with pytest.raises(ExchangeStopped) as stopped:
            client.get("/bomb")
    assert (stopped.value.code, stopped.value.status) == ("body-too-large", 200)
