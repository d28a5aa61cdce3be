"""Statistics on known cases (pure logic)."""

from __future__ import annotations

import pytest

from pytest_deploycheck.core.stats import percentile, wilson_interval


def test_wilson_zero_failures_in_thirty_cannot_prove_one_percent() -> None:
    low, high = wilson_interval(0, 30)
    assert low == 0.0
    assert high == pytest.approx(0.1135, abs=1e-3)
    assert high > 0.01


def test_wilson_known_values() -> None:
    low, high = wilson_interval(10, 100)
    assert (low, high) == (pytest.approx(0.0552, abs=1e-3), pytest.approx(0.1744, abs=1e-3))


def test_wilson_without_samples_knows_nothing() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_more_samples() -> None:
    assert wilson_interval(0, 1000)[1] < wilson_interval(0, 100)[1] < wilson_interval(0, 10)[1]


@pytest.mark.parametrize(("q", "expected"), [(0, 10.0), (50, 30.0), (95, 48.0), (100, 50.0)])
def test_percentile(q: float, expected: float) -> None:
    assert percentile([50.0, 10.0, 30.0, 20.0, 40.0], q) == pytest.approx(expected)


def test_percentile_of_nothing() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
