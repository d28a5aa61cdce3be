"""The package's shape holds: the layering contract (import-linter, in ``make test``) is kept
and catches an import that goes the wrong way, one inside a function too; no function is long."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # this copy of the package, not the installed
    return subprocess.run(
        [str(LINT), "--no-cache", "pyproject.toml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "pytest_deploycheck", tmp_path / "pytest_deploycheck")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_are_kept(copy: Path) -> None:
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad"),
    [
        ("core/model.py", "from pytest_deploycheck import plugin"),
        ("rls/rules.py", "from pytest_deploycheck.db import rules"),
        ("report/terminal.py", "from pytest_deploycheck import fixtures"),
    ],
    ids=["core-imports-the-plugin", "suite-imports-a-sibling", "report-imports-the-glue"],
)
def test_a_wrong_import_breaks_the_contract(copy: Path, module: str, bad: str) -> None:
    path = copy / "pytest_deploycheck" / module
    path.write_text(path.read_text() + f"\n\ndef _wrong() -> None:\n    {bad}  # noqa\n")
    result = lint(copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_no_function_is_longer_than_sixty_lines() -> None:
    import ast

    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path in sorted((ROOT / "pytest_deploycheck").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > 60
    ]
    assert long == []
