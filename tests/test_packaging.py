"""The wheel ships the prebuilt suites under the plugin's namespace and they run from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import LoopbackServer, SignOffReader

pytestmark = pytest.mark.slow  # make test-fast leaves these out

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("pytest_deploycheck-*.whl"))


def test_wheel_holds_the_suites_inside_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "pytest_deploycheck/suites/health/test_health.py" in names
    assert "pytest_deploycheck/suites/db/test_db.py" in names
    assert "pytest_deploycheck/signoff.schema.json" in names
    assert "pytest_deploycheck/py.typed" in names
    assert not [name for name in names if name.startswith(("suites/", "tests/"))]


def test_installed_wheel_runs_bundled_suites_from_an_empty_directory(
    wheel: Path, tmp_path: Path, server: LoopbackServer, read_signoff: SignOffReader
) -> None:
    venv = tmp_path / "venv"
    # This interpreter's pip installs into the new venv (no pip of its own to bootstrap), and
    # nothing is compiled up front: what the runs import compiles as they import it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
    subprocess.run([*pip, str(wheel)], check=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))}

    def pytest_in_empty(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "pytest", *args],
            cwd=empty,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    listed = pytest_in_empty("--deploy-suites=health,db", "--collect-only", "-q")
    assert "test_health.py::test_endpoint" in listed.stdout, listed.stdout + listed.stderr
    assert "test_db.py::test_connectivity" in listed.stdout
    run = pytest_in_empty(
        "--deploy-suites=health", f"--base-url={server.url}", "--deploy-version=1.0.0"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    document = read_signoff(empty / "deploycheck-signoff.json")
    assert [c["id"] for c in document["checks"]][:2] == ["health.endpoint", "health.version"]
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert not (Path(site) / "suites").exists()
