"""What loading pytest-deploycheck costs an ordinary pytest run.

Prints, measured side by side in one run:
  (a) wall time of a 2,000-test trivial suite with the plugin loaded vs ``-p no:deploycheck``
      (and with a deploy run active, which also writes the sign-off), as ratios;
  (b) the import time the plugin adds to pytest start-up, in milliseconds.
Targets: ratio <= 1.03, import <= 20 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 2000
ROUNDS = 7
IMPORTS = 15


def make_suite(root: Path) -> None:
    for module in range(20):
        body = "".join(f"def test_{n}():\n    pass\n\n" for n in range(TESTS // 20))
        (root / f"test_trivial_{module}.py").write_text(body)


def wall(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def import_ms() -> float:
    code = (
        "import time, pytest; t = time.perf_counter(); import pytest_deploycheck.plugin;"
        "print((time.perf_counter() - t) * 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_suite(root)
        variants = {
            "without plugin": ["-p", "no:deploycheck"],
            "plugin loaded": [],
            "deploy run": ["--deploy-target=bench"],
        }
        wall(root)  # warm the file system and bytecode caches
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(ROUNDS):  # interleaved, so drift hits every variant alike
            for name, args in variants.items():
                times[name].append(wall(root, *args))
    base = statistics.median(times["without plugin"])
    print(f"{TESTS} trivial tests, median of {ROUNDS} interleaved runs")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:<15} {median:6.3f} s   ratio {median / base:5.3f}")
    imports = sorted(import_ms() for _ in range(IMPORTS))
    print(f"plugin import on top of pytest: median {statistics.median(imports):.1f} ms")
    print("targets: ratio (plugin loaded) <= 1.03; import <= 20 ms")


if __name__ == "__main__":
    main()
