"""The metrics suite against a real Prometheus server scraping real demo targets every second,
each demo under real traffic: a healthy one, one failing 20 % of its requests, a slow one, and
a canary job where version 2.0.0 fails beside a healthy 1.5.0."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest

from examples.demo_app.launcher import running_demo
from examples.demo_app.traffic import users
from examples.prometheus import binary, running_prometheus, wait_for_points
from tests.conftest import Deploy, DeployRun

pytestmark = pytest.mark.skipif(
    binary() is None, reason="no Prometheus server here: `make prometheus` installs Debian's"
)

ERROR_RATE = """
[[suites.metrics.query]]
name = "http error rate"
query = '''
  (sum(rate(demo_http_requests_total{job="{{target}}",code=~"5.."}[{{window}}])) or vector(0))
  / sum(rate(demo_http_requests_total{job="{{target}}"}[{{window}}]))'''
window = "1m"
hold_above = 0.01
rollback_above = 0.10
"""
CONFIG = """
[suites.metrics]
provider = "prometheus"
url = "${PROMETHEUS_URL}"
[targets.healthy]
[targets.errors]
[targets.slow]
[targets.canary.suites.metrics]
baseline_version = "1.5.0"
"""


@pytest.fixture(scope="module")
def monitored(pg_admin: str) -> Iterator[str]:
    """The demos under traffic and Prometheus scraping them, until every job has a rate."""
    with ExitStack() as stack:
        healthy = stack.enter_context(running_demo((), pg_admin))  # version 1.5.0
        demos = {
            "healthy": [healthy],
            "errors": [stack.enter_context(running_demo(["error-rate=0.2"], pg_admin))],
            "slow": [stack.enter_context(running_demo(["slow=1"], pg_admin))],
            "canary": [
                healthy,
                stack.enter_context(
                    running_demo(["error-rate=0.2"], pg_admin, env={"DEMO_VERSION": "2.0.0"})
                ),
            ],
        }
        urls = {d.base_url for group in demos.values() for d in group}
        stack.enter_context(users(sorted(urls)))
        jobs = {job: [urlsplit(d.base_url).netloc for d in group] for job, group in demos.items()}
        url = stack.enter_context(running_prometheus(jobs))

        rates = "sum by (job) (rate(demo_http_requests_total[1m]))"
        wait_for_points(url, rates, series=len(jobs))  # a range query has a range
        yield url


@pytest.fixture
def metrics(monitored: str, monkeypatch: pytest.MonkeyPatch, deploy: Deploy) -> Deploy:
    """Runs the metrics suite with the given queries."""
    monkeypatch.setenv("PROMETHEUS_URL", monitored)

    def run(target: str, queries: str, *args: str) -> DeployRun:
        return deploy(
            "--deploy-suites=metrics", f"--deploy-target={target}", *args, config=CONFIG + queries
        )

    return run


def test_the_error_rate_gate_reads_production_traffic(metrics: Deploy) -> None:
    over_time = ERROR_RATE.replace("http error rate", "error rate over 20s").replace(
        'window = "1m"', 'window = "1m"\nrange = "20s"\nstep = "2s"'
    )
    healthy = metrics("healthy", ERROR_RATE + over_time)
    assert healthy.code == 0, healthy.result.stdout.str()
    gates = {g["name"]: g for g in healthy.signoff["gates"]}
    assert gates["metrics http error rate"]["value"] == 0
    assert gates["metrics error rate over 20s"]["samples"] > 1  # every point of the range judged
    failing = metrics("errors", ERROR_RATE)
    assert failing.code == 20, failing.result.stdout.str()
    [reason] = failing.signoff["reasons"]
    assert reason.startswith("[gate-rollback] metrics http error rate = 0.1"), reason
    [gate] = failing.signoff["gates"]
    assert 0.1 < gate["value"] < 0.2  # a fifth of the pages fail, the health checks never
    assert gate["threshold"] == 0.1
    [check] = failing.signoff["checks"]
    assert check["id"] == "metrics.http_error_rate"
    assert check["message"].startswith("[metrics-threshold] http error rate: the value = 0.1")


def test_no_answer_is_never_a_pass(metrics: Deploy) -> None:
    with running_prometheus({}) as stopped:
        pass  # a real server, now stopped: its port refuses connections
    down = metrics("healthy", ERROR_RATE + f'url = "{stopped}"\n')
    silent = metrics(
        "healthy",
        ERROR_RATE.replace("http error rate", "checkout errors").replace(
            "demo_http_requests_total{", 'demo_http_requests_total{route="/checkout",'
        ),
    )
    for run, code in ((down, "metrics-unavailable"), (silent, "metrics-no-data")):
        assert run.code == 10, run.result.stdout.str()
        [check] = run.signoff["checks"]
        assert check["outcome"] == "error"
        assert check["message"].startswith(f"[{code}] ")


LATENCY = """
[[suites.metrics.query]]
name = "p95 latency"
query = '''histogram_quantile(0.95, sum by (le) (
  rate(demo_http_request_duration_seconds_bucket{job="{{target}}"}[{{window}}])))'''
window = "30s"
compare = "baseline"
max_ratio = 2.0
min_delta = 0.05
unit = "s"
"""


def test_latency_against_the_baseline_catches_a_slow_deployment(
    metrics: Deploy, pytester: pytest.Pytester
) -> None:
    first = metrics("healthy", LATENCY)
    assert first.code == 0, first.result.stdout.str()
    [check] = first.signoff["checks"]
    assert check["outcome"] == "skipped"  # nothing to compare with yet: its values start it
    baseline = pytester.path / "baseline.json"
    (pytester.path / "deploycheck-signoff.json").rename(baseline)
    same = metrics("healthy", LATENCY, f"--deploy-baseline={baseline}")
    assert same.code == 0, same.result.stdout.str()
    # The deployment before, recorded here under another target's name: renamed by hand, it
    # is accepted only as trusted.
    renamed = json.loads(baseline.read_text())
    renamed["target"]["name"] = "slow"
    baseline.write_text(json.dumps(renamed))
    slow = metrics("slow", LATENCY, f"--deploy-baseline={baseline}", "--deploy-baseline-trust")
    assert slow.code == 10, slow.result.stdout.str()
    [check] = slow.signoff["checks"]
    assert check["message"].startswith("[metrics-regression] p95 latency: the value = ")
    assert "against" in check["message"]
    assert "the baseline" in check["message"]


CANARY = """[[suites.metrics.query]]
name = "canary error rate"
query = '''
  (sum(rate(demo_http_requests_total{job="canary",version="{{version}}",code=~"5.."}[1m]))
    or vector(0))
  / sum(rate(demo_http_requests_total{job="canary",version="{{version}}"}[1m]))'''
compare = "canary"
min_delta = 0.01
rollback_ratio = 5
[[suites.metrics.query]]
name = "canary latency"
query = '''histogram_quantile(0.95, sum by (le) (
  rate(demo_http_request_duration_seconds_bucket{job="canary",version="{{version}}"}[1m])))'''
compare = "canary"
min_delta = 0.05
"""


def test_a_canary_is_judged_against_the_version_before_it(metrics: Deploy) -> None:
    run = metrics("canary", CANARY, "--deploy-version=2.0.0")
    assert run.code == 20, run.result.stdout.str()
    checks = {c["id"]: c for c in run.signoff["checks"]}
    assert checks["metrics.canary_latency"]["outcome"] == "passed"  # silent where it is fine
    message = checks["metrics.canary_error_rate"]["message"]
    assert message.startswith("[metrics-regression] canary error rate: the value = 0.")
    assert message.endswith(
        "against 0 version 1.5.0, infinitely higher (holds past 2x, rolls"
        " back past 5x, changes under 0.01 pass)"
    ), message


def test_a_watch_window_asks_again_every_round(metrics: Deploy) -> None:
    started = time.monotonic()
    run = metrics("errors", ERROR_RATE, "--deploy-window=20s", "--deploy-interval=0.3s")
    assert run.code == 20, run.result.stdout.str()
    assert time.monotonic() - started < 20  # three rollback rounds in a row end it early
    window = run.signoff["window"]
    assert window["rounds"] == 3
    assert window["stopped_early"].endswith("metrics.http_error_rate failed 3 rounds in a row")
