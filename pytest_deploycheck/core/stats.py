"""Small statistics for gates: confidence intervals for rates and percentiles for latency."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z_95 = 1.959964  # two-sided 95 %


def wilson_interval(failures: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a failure rate; (0, 1) when nothing was measured."""
    if total <= 0:
        return 0.0, 1.0
    p = failures / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - spread), min(1.0, centre + spread)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def samples_needed(rate: float, threshold: float, z: float = Z_95) -> int:
    """About how many samples at the observed ``rate`` bring the interval's top to ``threshold``."""
    if rate >= threshold:
        raise ValueError("no sample size proves a rate below itself")

    def enough(n: int) -> bool:
        return wilson_interval(round(rate * n), n, z)[1] <= threshold

    high = 1
    while not enough(high):
        high *= 2
    low = high // 2
    while low + 1 < high:  # enough(high) holds, enough(low) does not
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high
