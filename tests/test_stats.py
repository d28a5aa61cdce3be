"""Statistics on known cases (pure logic)."""

from __future__ import annotations

import pytest

from pytest_deploycheck.core.stats import (
    confidence_sequence,
    percentile,
    requests_to_prove_below,
    wilson_interval,
)


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


def test_the_confidence_sequence_holds_the_rate_and_is_wider_than_a_fixed_interval() -> None:
    for failures, total in [(0, 100), (3, 100), (40, 200), (100, 100), (7, 6000)]:
        low, high = confidence_sequence(failures, total, 0.05)
        rate = failures / total
        assert low <= rate <= high
        wilson = wilson_interval(failures, total)
        assert low <= wilson[0] + 1e-12
        assert high >= wilson[1] - 1e-12
    assert confidence_sequence(0, 0, 0.05) == (0.0, 1.0)
    # More evidence, narrower bounds; a smaller alpha, wider ones.
    assert confidence_sequence(10, 1000, 0.05)[1] < confidence_sequence(1, 100, 0.05)[1]
    assert confidence_sequence(10, 100, 0.01)[0] < confidence_sequence(10, 100, 0.05)[0]


def test_requests_to_prove_a_rate_below_a_threshold() -> None:
    needed = requests_to_prove_below(0.0, 0.01, 0.05)
    assert needed is not None
    assert (
        confidence_sequence(0, needed, 0.05)[1]
        < 0.01
        <= confidence_sequence(0, needed - 1, 0.05)[1]
    )
    assert requests_to_prove_below(0.02, 0.01, 0.05) is None
