"""What every pytest run rooted in this repository shares.

The plugin's own tests drive pytest runs with ``pytester``, which pytest asks to be enabled in
the topmost conftest. Not with ``pytest_plugins``: a run elsewhere that collects the bundled
suites from this checkout (``--deploy-suites``, as the tests' inner runs do) loads this file
late, where ``pytest_plugins`` is an error, and must get nothing from here, so that the suites
behave as they do installed from the wheel. Everything else the tests share is in
``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    if config.rootpath == ROOT and not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
