"""Loading the plugin must not import the heavy libraries; fixtures import them on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("playwright", "psycopg", "allure", "allure_commons", "allure_pytest", "httpx")


def test_plugin_import_leaves_heavy_libraries_out() -> None:
    code = (
        "import sys, pytest_deploycheck.plugin;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_deploy_run_without_clients_imports_none(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
import sys
def test_modules():
    heavy = {("playwright", "psycopg", "httpx")!r}
    loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)
    assert loaded == []
"""
    )
    # pytest-playwright imports playwright itself; this is about what deploycheck imports.
    result = pytester.runpytest_subprocess("--deploy-target=local", "-p", "no:playwright")
    assert result.ret == 0
