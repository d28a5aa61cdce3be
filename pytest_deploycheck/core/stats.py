"""Small statistics for gates: confidence intervals for rates and percentiles for latency."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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

    return _smallest(lambda n: wilson_interval(round(rate * n), n, z)[1] <= threshold)


def _smallest(enough: Callable[[int], bool]) -> int:
    """The smallest n for which ``enough`` holds, for a condition that keeps holding once it
    does."""
    high = 1
    while not enough(high):
        high *= 2
    low = high // 2
    while low + 1 < high:  # enough(high) holds, enough(low) does not
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def exact_lower_bound(failures: int, total: int, alpha: float) -> float:
    """The one-sided (1 - alpha) Clopper-Pearson lower bound of a failure rate measured once:
    the smallest rate under which ``failures`` or more of ``total`` would happen with
    probability ``alpha``. Exact, never optimistic; for one look at a fixed sample only."""
    if failures <= 0 or total <= 0:
        return 0.0

    def likely(p: float) -> bool:  # ``failures`` or more is not surprising at the rate p
        return _upper_tail(failures, total, p) > alpha

    return _edge(lambda p: not likely(p), 0.0, failures / total)


def _upper_tail(failures: int, total: int, p: float) -> float:
    """P(X >= failures) for X ~ Binomial(total, p), summed in log space."""
    if p <= 0.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(total + 1)
    return sum(
        math.exp(
            log_n
            - math.lgamma(k + 1)
            - math.lgamma(total - k + 1)
            + k * log_p
            + (total - k) * log_q
        )
        for k in range(failures, total + 1)
    )


# -- anytime-valid bounds ----------------------------------------------------------------------

# Jeffreys' Beta(1/2, 1/2): the mixing distribution of the confidence sequence below.
_PRIOR = (0.5, 0.5)


def _log_mixture(p: float, failures: int, total: int) -> float:
    """log of Robbins' beta-binomial mixture martingale against the rate ``p``."""
    a, b = _PRIOR
    successes = total - failures
    log_marginal = _log_beta(a + failures, b + successes) - _log_beta(a, b)
    return log_marginal - failures * math.log(p) - successes * math.log1p(-p)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def confidence_sequence(failures: int, total: int, alpha: float) -> tuple[float, float]:
    """The bounds of an anytime-valid (1 - alpha) confidence sequence for a failure rate:
    whatever the true rate, the chance that it ever leaves the bounds, however often they are
    looked at and whenever the looking stops, is at most ``alpha``.

    Robbins' beta-binomial mixture (H. Robbins, "Statistical methods related to the law of the
    iterated logarithm", Ann. Math. Statist. 41, 1970; S. R. Howard, A. Ramdas, J. McAuliffe,
    J. Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist.
    49(2), 2021, section on conjugate mixtures): against a candidate rate p, the likelihood
    ratio mixed over Beta(1/2, 1/2) is a nonnegative martingale of mean 1 under p, so by
    Ville's inequality it exceeds 1/alpha with probability at most alpha; the bounds are the
    rates where it does not. (The ``confseq`` package implements such bounds in C++ that needs
    Boost to build; this one needs ``math.lgamma`` and a bisection.)
    """
    if total <= 0:
        return 0.0, 1.0
    limit, rate = math.log(1 / alpha), failures / total

    def outside(p: float) -> bool:
        return _log_mixture(p, failures, total) >= limit

    low = 0.0 if failures == 0 else _edge(outside, 0.0, rate)
    high = 1.0 if failures == total else _edge(outside, 1.0, rate)
    return low, high


def _edge(outside: Callable[[float], bool], far: float, near: float) -> float:
    """Where ``outside`` stops holding between ``far`` (outside) and ``near`` (inside)."""
    for _ in range(60):
        middle = (far + near) / 2
        far, near = (middle, near) if outside(middle) else (far, middle)
    return near


def requests_to_prove_below(rate: float, threshold: float, alpha: float) -> int | None:
    """About how many requests in all, at the observed ``rate``, bring the confidence
    sequence's top under ``threshold``; None when no number does (the rate is not below it)."""
    if rate >= threshold:
        return None

    return _smallest(lambda n: confidence_sequence(round(rate * n), n, alpha)[1] < threshold)
