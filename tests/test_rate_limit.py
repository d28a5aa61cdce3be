"""Request-rate caps, in one process and shared by several (as xdist workers share them)."""

from __future__ import annotations

import multiprocessing
from itertools import pairwise
from pathlib import Path

import pytest

from pytest_deploycheck.net.rate_limit import RateLimiter, SharedRateLimiter


def _reserve(path: str, count: int, queue: multiprocessing.Queue[list[float]]) -> None:
    limiter = SharedRateLimiter(10.0, Path(path))
    queue.put([limiter.reserve() for _ in range(count)])


def spaced(starts: list[float], interval: float) -> bool:
    # Timestamps near 1.8e9 s carry about a microsecond of floating-point rounding.
    return all(b - a >= interval - 1e-6 for a, b in pairwise(sorted(starts)))


def test_one_process_spaces_its_requests() -> None:
    limiter = RateLimiter(10.0)
    assert spaced([limiter.reserve() for _ in range(20)], 0.1)


def test_processes_sharing_the_file_share_the_cap(tmp_path: Path) -> None:
    queue: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_reserve, args=(str(tmp_path / "cap"), 15, queue))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    starts = [start for _ in workers for start in queue.get(timeout=30)]
    for worker in workers:
        worker.join(30)
    assert len(starts) == 45
    assert spaced(starts, 0.1)  # 45 slots a tenth of a second apart, whoever took them


def test_xdist_workers_get_one_shared_cap(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest
from pytest_deploycheck.fixtures import shared_rate_cap

@pytest.mark.parametrize("n", range(4))
def test_cap(pytestconfig, n, tmp_path_factory):
    path = shared_rate_cap(pytestconfig)
    assert path is not None and path.parent.name.startswith("deploycheck-rate-")
    (tmp_path_factory.getbasetemp().parent / f"cap-{n}").write_text(str(path))
"""
    )
    result = pytester.runpytest_subprocess("--deploy-target=local", "-n", "2")
    assert result.ret == 0
    paths = {p.read_text() for p in pytester.path.parent.rglob("cap-*")}
    assert len(paths) == 1  # both workers were handed the same file
    assert not Path(paths.pop()).parent.exists()  # and the controller removed it at the end
