"""What every pytest run rooted in this repository shares.

The plugin's own tests drive pytest runs with ``pytester``; pytest asks for it to be enabled
here, in the topmost conftest. Everything the tests share beyond that is in ``tests/conftest.py``
(hermetic environment, loopback servers, PostgreSQL databases, the demo); the bundled suites
under ``suites/`` take nothing from here, so they run the same installed from the wheel.
"""

pytest_plugins = ["pytester"]
