"""A picture of a watch window: error rate and p95 latency per round, thresholds drawn.
Uses matplotlib (the ``chart`` extra) when installed; without it, no chart is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path

from pytest_deploycheck.window.judge import Sample, WindowPolicy


def draw(
    samples: Sequence[Sample],
    policy: WindowPolicy,
    latency_budget_ms: float | None,
    path: Path,
    note: str = "",
    gaps: Sequence[tuple[float, float]] = (),
) -> Path | None:
    """Write the chart as PNG, ``note`` (how the window ended) under its title and the
    ``gaps`` nobody watched shaded; None when matplotlib is not installed or nothing was
    measured."""
    if find_spec("matplotlib") is None or not samples:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min(s.t for s in samples)
    rounds = sorted({s.round for s in samples})
    times = [max(s.t for s in samples if s.round == r) - start for r in rounds]
    rates, p95s = [], []
    for r in rounds:
        mine = [s for s in samples if s.round == r]
        requests = sum(s.requests for s in mine)
        rates.append(100 * sum(s.errors for s in mine) / requests if requests else float("nan"))
        latencies = [s.p95_ms for s in mine if s.p95_ms is not None]
        p95s.append(max(latencies) if latencies else float("nan"))
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    top.plot(times, rates, marker="o", label="error rate")
    top.axhline(100 * policy.hold, color="orange", linestyle="--", label=f"hold {policy.hold:.0%}")
    top.axhline(
        100 * policy.rollback, color="red", linestyle="--", label=f"rollback {policy.rollback:.0%}"
    )
    for number, (gone, back) in enumerate(gaps):
        for axis in (top, bottom):
            axis.axvspan(
                gone - start,
                back - start,
                color="grey",
                alpha=0.3,
                label="not watched" if number == 0 and axis is top else None,
            )
    top.set_ylabel("error rate (%)")
    top.legend(loc="upper right")
    bottom.plot(times, p95s, marker="o", color="purple", label="p95 latency")
    if latency_budget_ms:
        bottom.axhline(latency_budget_ms, color="orange", linestyle="--", label="budget")
    bottom.set_ylabel("p95 (ms)")
    bottom.set_xlabel("seconds into the window")
    bottom.legend(loc="upper right")
    figure.suptitle("deploycheck watch window" + (f"\n{note}" if note else ""), fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
