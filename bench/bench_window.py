"""What the error-rate verdicts mean, by simulation: 10,000 simulated windows per true error
rate, pure Python and seeded, for the immediate gate (one burst of the health suite's requests)
and for the windowed gate (a short-term watch window with the default interval, looked at
after every round). Prints P(GO), P(HOLD), P(ROLLBACK) and the median time to an early stop,
and checks them against the targets.

The windowed gate is simulated through thresholds read off the plugin's own bounds
(``window.judge``): the fewest errors that stop each round early, the most a GO at the end
allows. A sample of simulated windows is also run through ``judge`` itself, round by round,
and must reach the same verdicts.
"""

from __future__ import annotations

import bisect
import math
import random
import statistics
import sys
from collections import Counter
from collections.abc import Sequence

from pytest_deploycheck.config import DEFAULT_INTERVAL_S
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.health.settings import HealthSettings
from pytest_deploycheck.signoff.engine import error_rate_gate
from pytest_deploycheck.window.judge import RateBounds, Sample, WindowPolicy, judge

RATES = (0.002, 0.01, 0.03, 0.05, 0.09, 0.10, 0.12, 0.20, 0.50)
WINDOWS = 10_000
CHECKED = 200  # windows per rate also run through judge() itself
REQUESTS = HealthSettings().burst_requests  # per round, the error-rate probe's burst
INTERVAL_S = DEFAULT_INTERVAL_S
WINDOW_S = Phase.SHORT_TERM.window_s or 1800.0
ROUNDS = int(WINDOW_S // INTERVAL_S)
POLICY = WindowPolicy()


def binomial_cdf(n: int, p: float) -> list[float]:
    """The cumulative distribution of Binomial(n, p), for drawing by inversion."""
    cdf, total = [], 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        cdf.append(total)
    cdf[-1] = 1.0
    return cdf


def thresholds() -> tuple[list[int], int]:
    """Per round, the fewest errors so far that stop the window with a rollback; and the most
    errors at the end that still give a GO."""
    stop = []
    for k in range(1, ROUNDS + 1):
        total = k * REQUESTS
        low, high = 0, total + 1  # stops at high (or never), not at low
        while low + 1 < high:
            middle = (low + high) // 2
            if RateBounds.of(middle, total, POLICY).low > POLICY.rollback:
                high = middle
            else:
                low = middle
        stop.append(high)
    total = ROUNDS * REQUESTS
    go = -1
    while RateBounds.of(go + 1, total, POLICY).high < POLICY.hold:
        go += 1
    return stop, go


def window(draws: Sequence[int], stop: list[int], go: int) -> tuple[str, int]:
    """The verdict of one window, and the round (from 1) it stopped early at, 0 if none."""
    errors = 0
    for k, drawn in enumerate(draws, start=1):
        errors += drawn
        if errors >= stop[k - 1]:
            return "ROLLBACK", k
    return ("GO" if errors <= go else "HOLD"), 0


def judged(draws: Sequence[int]) -> str:
    """The same window, judged by ``window.judge`` after every round as a real one is."""
    samples: list[Sample] = []
    for k, drawn in enumerate(draws):
        samples.append(
            Sample(k, float(k), "health.error_rate", "passed", "critical", drawn, REQUESTS)
        )
        if judge(samples, POLICY).stop_early:
            return "ROLLBACK"
    status = judge(samples, POLICY).gates[0].status
    return {"pass": "GO", "hold": "HOLD", "rollback": "ROLLBACK"}[status]


IMMEDIATE = {"pass": "GO", "hold": "HOLD", "rollback": "ROLLBACK"}


def simulate(rate: float, stop: list[int], go: int, rng: random.Random) -> dict[str, object]:
    cdf = binomial_cdf(REQUESTS, rate)

    def draw() -> int:
        return bisect.bisect_left(cdf, rng.random())

    immediate: Counter[str] = Counter()
    windowed: Counter[str] = Counter()
    stops = []
    for n in range(WINDOWS):
        immediate[IMMEDIATE[error_rate_gate("error_rate", draw(), REQUESTS).status]] += 1
        draws = [draw() for _ in range(ROUNDS)]
        verdict, stopped = window(draws, stop, go)
        windowed[verdict] += 1
        if stopped:
            stops.append(stopped * INTERVAL_S)
        if n < CHECKED and judged(draws) != verdict:
            raise SystemExit(f"the simulation and judge() disagree at {rate:.1%}: {draws}")
    return {
        "immediate": {v: immediate[v] / WINDOWS for v in ("GO", "HOLD", "ROLLBACK")},
        "window": {v: windowed[v] / WINDOWS for v in ("GO", "HOLD", "ROLLBACK")},
        "early": len(stops) / WINDOWS,
        "median_stop_s": statistics.median(stops) if stops else None,
    }


def main() -> None:
    rng = random.Random(20261129)
    stop, go = thresholds()
    print(
        f"{WINDOWS} windows per rate; {REQUESTS} requests a round every {INTERVAL_S:.0f} s,"
        f" {ROUNDS} rounds ({WINDOW_S / 60:.0f} min, the short-term window);"
        f" a GO allows at most {go} errors in {ROUNDS * REQUESTS}; round 1 stops at"
        f" {stop[0]} errors, round 2 at {stop[1]}, round 10 at {stop[9]}"
    )
    print(
        "| true rate | immediate GO | HOLD | ROLLBACK | window GO | HOLD | ROLLBACK |"
        " stopped early | median time to stop |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    failures = []
    for rate in RATES:
        r = simulate(rate, stop, go, rng)
        i, w = r["immediate"], r["window"]
        assert isinstance(i, dict)
        assert isinstance(w, dict)
        median = r["median_stop_s"]
        shown = f"{median:.0f} s" if isinstance(median, float | int) else "-"
        print(
            f"| {rate:.1%} | {i['GO']:.2%} | {i['HOLD']:.2%} | {i['ROLLBACK']:.2%}"
            f" | {w['GO']:.2%} | {w['HOLD']:.2%} | {w['ROLLBACK']:.2%}"
            f" | {r['early']:.2%} | {shown} |"
        )
        if rate <= POLICY.rollback and w["ROLLBACK"] > 0.01:
            failures.append(f"P(ROLLBACK) {w['ROLLBACK']:.2%} > 1 % at {rate:.1%}")
        if rate >= POLICY.hold and w["GO"] > 0.05:
            failures.append(f"P(GO) {w['GO']:.2%} > 5 % at {rate:.1%}")
        if rate >= 0.20 and float(r["early"]) < 0.95:  # type: ignore[arg-type]
            failures.append(f"P(early ROLLBACK) {r['early']:.2%} < 95 % at {rate:.1%}")
    print(f"judge() reached the simulation's verdict on {CHECKED} windows per rate")
    print(
        "targets (window): P(ROLLBACK) <= 1 % at rates <= 10 %; P(GO) <= 5 % at rates >= 1 %;"
        " P(ROLLBACK before the end) >= 95 % at 20 %"
    )
    print("all targets met" if not failures else "MISSED: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
