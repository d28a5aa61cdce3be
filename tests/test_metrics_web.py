"""The metrics suite's web provider against a real HTTP server on loopback answering JSON in
the shapes of real monitoring APIs."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.conftest import Deploy, DeployRun, LoopbackServer, Route, file_holds

DD_KEY = "dd-k3y-0f-the-t3am"  # what the run must never write anywhere
CONFIG = """
[suites.metrics]
provider = "web"
url = "${MONITORING_URL}"
[suites.metrics.headers]
DD-API-KEY = "${DD_API_KEY}"
Accept = "application/json"
"""
# Datadog's GET /api/v1/query answers series with a pointlist of [timestamp, value].
DATADOG = """
[[suites.metrics.query]]
name = "error rate"
url = "/api/v1/query"
params = {query = "sum:trace.http.request.errors{service:api}", from = "{{start}}", to = "{{end}}"}
jmespath = "series[0].pointlist[-1][1]"
hold_above = 1.0
rollback_above = 5.0
unit = "%"
consecutive_errors = 0
"""


def datadog(value: float) -> Route:
    body = {
        "status": "ok",
        "series": [{"pointlist": [[1795960000000, 0.1], [1795960060000, value]]}],
    }
    return Route(200, json.dumps(body), {"Content-Type": "application/json"})


@pytest.fixture
def web(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, deploy: Deploy) -> Deploy:
    monkeypatch.setenv("MONITORING_URL", server.url)
    monkeypatch.setenv("DD_API_KEY", DD_KEY)

    def run(queries: str, *args: str) -> DeployRun:
        return deploy("--deploy-suites=metrics", *args, config=CONFIG + queries)

    return run


@pytest.mark.parametrize(("value", "code"), [(0.4, 0), (2.5, 10), (7.0, 20)])
def test_a_json_value_is_judged_against_its_thresholds(
    web: Deploy, server: LoopbackServer, value: float, code: int
) -> None:
    server.routes["/api/v1/query"] = datadog(value)
    run = web(DATADOG)
    assert run.code == code, run.result.stdout.str()
    assert server.headers[-1]["DD-API-KEY"] == DD_KEY  # the secret reached the API, ...
    [gate] = run.signoff["gates"]
    assert gate["value"] == value
    assert gate["detail"].endswith("hold_above 1 %, rollback_above 5 %")


def test_a_missing_json_path_is_hold(web: Deploy, server: LoopbackServer) -> None:
    server.routes["/api/v1/query"] = Route(200, json.dumps({"status": "ok", "series": []}))
    run = web(DATADOG)
    assert run.code == 10, run.result.stdout.str()
    [check] = run.signoff["checks"]
    assert check["outcome"] == "error"
    assert check["message"] == (
        "[metrics-no-data] error rate: no number in the answer (jmespath"
        " 'series[0].pointlist[-1][1]' found no number)"
    )


def test_the_header_secret_never_reaches_a_file(
    web: Deploy, server: LoopbackServer, pytester: pytest.Pytester
) -> None:
    # The API echoes the key back, as an error page might; the run writes every report.
    echo = json.dumps({"errors": [f"bad key {DD_KEY}"], "series": [{"pointlist": [[0, 9.0]]}]})
    server.routes["/api/v1/query"] = Route(200, echo)
    run = web(
        DATADOG,
        f"--alluredir={pytester.path / 'allure'}",
        "--junitxml=junit.xml",
        "--deploy-artifacts=artifacts",
        "-rA",
        "--tb=long",
    )
    assert run.code == 20, run.result.stdout.str()
    assert DD_KEY not in run.result.stdout.str() + run.result.stderr.str()
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix != ".py"]
    assert any(p.name.endswith("-result.json") for p in written)
    assert [p.name for p in written if file_holds(p, DD_KEY)] == []


def test_redirects_to_another_host_are_not_followed(web: Deploy, server: LoopbackServer) -> None:
    port = urlsplit(server.url).port
    server.routes["/api/v1/query"] = Route(302, "", {"Location": f"http://127.0.0.2:{port}/x"})
    run = web(DATADOG)
    assert run.code == 10, run.result.stdout.str()
    [check] = run.signoff["checks"]
    assert check["message"] == (
        f"[metrics-unavailable] error rate: http://127.0.0.1:{port} redirected to"
        f" http://127.0.0.2:{port}; not followed"
    )
    assert server.count("/x") == 0


def test_a_slow_api_is_could_not_check_in_bounded_time(
    deploy: Deploy, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITORING_URL", server.url)
    monkeypatch.setenv("DD_API_KEY", DD_KEY)
    server.routes["/api/v1/query"] = Route(200, "{}", delay_s=3)
    config = CONFIG.replace('provider = "web"', 'provider = "web"\ntimeout_s = 0.5') + DATADOG
    run = deploy("--deploy-suites=metrics", config=config)
    assert run.code == 10, run.result.stdout.str()
    [check] = run.signoff["checks"]
    assert check["message"] == (
        f"[metrics-unavailable] error rate: no answer from {server.url} in time"
    )
    assert check["duration_s"] < 2.5


def test_a_literal_key_in_a_header_is_refused(pytester: pytest.Pytester) -> None:
    config = CONFIG.replace('"${DD_API_KEY}"', '"Bearer abc123"') + DATADOG
    pytester.makefile(".toml", deploycheck=config)
    result = pytester.runpytest("--deploy-suites=metrics")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*suites.metrics.headers.DD-API-KEY holds a literal secret; write it as*"]
    )
