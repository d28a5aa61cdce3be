"""The health suite: each check fires on its defect and stays quiet on a healthy target."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.conftest import Deploy, LoopbackServer, Route

FAST = {"burst_requests": 40, "max_rps": 1000, "latency_samples": 3, "retry_backoff_s": 0.01}


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)


def run_health(
    deploy: Deploy,
    url: str,
    version: str | None = "1.0.0",
    *args: str,
    **health: Any,
) -> tuple[int, dict[str, Any]]:
    settings = "\n".join(f"{key} = {toml(value)}" for key, value in {**FAST, **health}.items())
    target = f'[targets.t]\nbase_url = "{url}"\n' + (f'version = "{version}"\n' if version else "")
    config = f"{target}[targets.t.suites.health]\n{settings}\n"
    run = deploy("--deploy-target=t", "--deploy-suites=health", *args, config=config)
    return run.code, run.signoff


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in document["checks"]}


def reasons_starting(document: dict[str, Any], prefix: str) -> list[str]:
    return [r for r in document["reasons"] if r.startswith(prefix)]


def test_healthy_target_passes_every_check(deploy: Deploy, server: LoopbackServer) -> None:
    server.routes["/login"] = Route(200, "<form>")
    server.routes["/old"] = Route(301, "", {"Location": "/login"})
    code, document = run_health(
        deploy, server.url, endpoints=["/login", "/old"], expect={"status": "ok"}
    )
    assert (code, document["verdict"]) == (0, "GO"), document["reasons"]
    assert outcomes(document) == {
        "health.endpoint": "passed",
        "health.version": "passed",
        "health.endpoints": "passed",
        "health.latency": "passed",
        "health.error_rate": "passed",
        "health.tls_certificate": "skipped",
        "health.tls_expiry": "skipped",
        "health.tls_redirect": "skipped",
        "health.tls_hsts": "skipped",
    }
    gates = {g["name"]: g for g in document["gates"]}
    assert gates["error_rate"]["samples"] == 40
    assert gates["error_rate"]["status"] == "pass"
    assert set(gates) == {
        "latency.p95 GET /api/health",
        "latency.p95 GET /login",
        "latency.p95 GET /old",
        "error_rate",
    }
    assert server.count("/login") == 1 + 3 + 20  # check, latency samples, half the burst


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(503, "{}"), "[critical-failure] health.endpoint: [health-status] GET http://*"),
        (Route(200, '{"status": "degraded"}'), "[critical-failure] health.endpoint: [health-body]"),
    ],
)
def test_unhealthy_endpoint_rolls_back(
    deploy: Deploy, server: LoopbackServer, route: Route, reason: str
) -> None:
    server.routes["/api/health"] = route
    code, document = run_health(deploy, server.url, None, expect={"status": ["ok", "healthy"]})
    assert code == 20
    assert reasons_starting(document, reason.split("*", maxsplit=1)[0])
    evidence = document["checks"][0]["evidence"][0]
    assert evidence["name"].startswith("GET http://127.0.0.1")
    assert evidence["text"].splitlines()[1].startswith(f"-> {route.status}")


def test_unreachable_target_rolls_back(deploy: Deploy) -> None:
    code, document = run_health(deploy, "http://127.0.0.1:9", retries=1)
    assert code == 20
    # The endpoint and the version check stopped on the same unanswered request: one reason.
    assert reasons_starting(
        document,
        "[critical-failure] health.endpoint and 1 more (health.version): [unreachable] GET",
    )


def test_evidence_masks_cookies(deploy: Deploy, server: LoopbackServer) -> None:
    server.health(503, headers={"Set-Cookie": "session=abc123secret; HttpOnly"})
    _, document = run_health(deploy, server.url, None)
    text = document["checks"][0]["evidence"][0]["text"]
    assert "set-cookie: ***" in text.lower()
    assert "abc123secret" not in json.dumps(document)


@pytest.mark.parametrize(
    ("health", "reason"),
    [
        (
            {"version": "0.9.0"},
            "[version-mismatch] expected 1.0.0, got 0.9.0 (JSON field 'version')",
        ),
        ({"paths": ["/plain"]}, "[version-unknown]"),  # a plain-text answer, no header
    ],
)
def test_version_defects_roll_back(
    deploy: Deploy, server: LoopbackServer, health: dict[str, str], reason: str
) -> None:
    if "version" in health:
        server.health(version=health.pop("version"))
    server.routes["/plain"] = Route(200, "OK")
    code, document = run_health(deploy, server.url, **health)
    assert code == 20
    assert reasons_starting(document, f"[critical-failure] health.version: {reason}")


def test_a_version_field_the_answer_lacks_holds_listing_its_keys(
    deploy: Deploy, server: LoopbackServer
) -> None:
    code, document = run_health(deploy, server.url, version_field="build")
    assert code == 10
    assert reasons_starting(document, "[could-not-check] health.version: [version-field-missing]")
    [reason] = [r for r in document["reasons"] if "version-field-missing" in r]
    assert "without 'build' (its top-level keys: status, version)" in reason


def test_version_regex_reads_a_plain_text_answer(deploy: Deploy, server: LoopbackServer) -> None:
    server.routes["/version"] = Route(200, "myapp v1.0.0 (build 77)\n")
    code, _ = run_health(deploy, server.url, version_url="/version", version_regex=r"v(\S+)")
    assert code == 0


def test_version_from_a_header_or_a_version_url(deploy: Deploy, server: LoopbackServer) -> None:
    server.routes["/api/health"] = Route(200, "{}", {"X-App-Version": "1.0.0"})
    assert run_health(deploy, server.url)[0] == 0
    server.routes["/version"] = Route(200, "1.0.0\n")
    code, _ = run_health(deploy, server.url, version_url="/version")
    assert code == 0


def test_rolling_deploy_is_polled_until_the_version_matches(
    deploy: Deploy, server: LoopbackServer
) -> None:
    new = Route(200, json.dumps({"status": "ok", "version": "1.0.0"}))
    server.routes["/api/health"] = Route(200, '{"version": "0.9.0"}', then=new, switch_after=3)
    code, document = run_health(
        deploy,
        server.url,
        version_wait_s=5.0,
        version_poll_s=0.05,
        latency_samples=1,
        burst_requests=40,
        endpoints=["/api/health"],
    )
    assert code == 0, document["reasons"]


def test_version_still_wrong_after_the_deadline(deploy: Deploy, server: LoopbackServer) -> None:
    server.health(version="0.9.0")
    _, document = run_health(deploy, server.url, version_wait_s=0.3, version_poll_s=0.1)
    [reason] = reasons_starting(document, "[critical-failure] health.version")
    assert reason.endswith("polls")


def test_failing_critical_endpoint_rolls_back(deploy: Deploy, server: LoopbackServer) -> None:
    server.routes["/api/projects"] = Route(500, "boom")
    code, document = run_health(deploy, server.url, endpoints=["/api/projects"])
    assert code == 20
    assert reasons_starting(document, "[critical-failure] health.endpoints: [endpoint-status] GET")


def test_unsafe_endpoints_need_permission(deploy: Deploy, server: LoopbackServer) -> None:
    server.routes["/api/echo"] = Route(201, "{}")
    endpoints = [{"path": "/api/echo", "method": "POST"}]
    code, document = run_health(deploy, server.url, endpoints=endpoints)
    assert outcomes(document)["health.endpoints"] == "skipped"
    assert server.count("/api/echo", "POST") == 0
    assert code == 0
    code, document = run_health(
        deploy,
        server.url,
        "1.0.0",
        "--deploy-allow-destructive",
        endpoints=endpoints,
    )
    assert outcomes(document)["health.endpoints"] == "passed"
    assert server.count("/api/echo", "POST") == 1  # checked once, never part of a burst


def test_slow_endpoint_over_budget_holds(deploy: Deploy, server: LoopbackServer) -> None:
    server.routes["/slow"] = Route(200, "ok", delay_s=0.2)
    code, document = run_health(
        deploy,
        server.url,
        endpoints=["/slow"],
        latency_budget_ms=100.0,
        burst_requests=40,
        concurrency=20,
    )
    assert code == 10
    assert reasons_starting(document, "[gate-hold] latency.p95 GET /slow")
    assert outcomes(document)["health.latency"] == "failed"


def test_regression_against_a_baseline_holds(
    deploy: Deploy, pytester: pytest.Pytester, server: LoopbackServer
) -> None:
    from pytest_deploycheck.signoff.document import SCHEMA_ID, write

    server.routes["/slow"] = Route(200, "ok", delay_s=0.1)
    gates = [{"name": "latency.p95 GET /slow", "value": 5.0}]
    baseline = {"schema": SCHEMA_ID, "verdict": "GO", "target": {"name": "t"}, "gates": gates}
    write(pytester.path / "earlier.json", baseline)
    code, document = run_health(
        deploy,
        server.url,
        "1.0.0",
        "--deploy-baseline=earlier.json",
        endpoints=["/slow"],
        concurrency=20,
    )
    assert code == 10
    gate = next(g for g in document["gates"] if g["name"] == "latency.p95 GET /slow")
    assert gate["threshold"] == 7.5
    assert "1.5x the baseline 5 ms" in gate["detail"]
    message = next(c["message"] for c in document["checks"] if c["id"] == "health.latency")
    assert message.startswith("[latency-regression] GET /slow: p95")


@pytest.mark.parametrize(("fail_every", "code", "status"), [(20, 10, "hold"), (4, 20, "rollback")])
def test_error_rate_feeds_the_gate(
    deploy: Deploy, server: LoopbackServer, fail_every: int, code: int, status: str
) -> None:
    server.routes["/api/items"] = Route(200, "[]", fail_every=fail_every)
    result, document = run_health(
        deploy,
        server.url,
        endpoints=["/api/items"],
        burst_requests=200,
        latency_samples=1,
    )
    assert result == code
    gate = next(g for g in document["gates"] if g["name"] == "error_rate")
    assert (gate["status"], gate["samples"]) == (status, 200)
    assert reasons_starting(document, f"[gate-{status}] error_rate")
    assert not reasons_starting(document, "[critical-failure] health.error_rate")


def test_too_small_a_burst_is_inconclusive(deploy: Deploy, server: LoopbackServer) -> None:
    code, document = run_health(deploy, server.url, burst_requests=10)
    assert code == 10
    [reason] = reasons_starting(document, "[gate-hold] error_rate")
    assert "inconclusive, need about" in reason


def test_a_check_that_passed_after_a_retry_is_flaky(deploy: Deploy) -> None:
    server = LoopbackServer()
    try:
        server.health(drop_first=1)  # the first request to /api/health gets no answer
        server.routes["/other"] = Route(200, "ok")
        code, document = run_health(deploy, server.url, endpoints=["/other"], latency_samples=1)
    finally:
        server.close()
    assert code == 0, document["reasons"]
    # Whichever of the two requests to /api/health came first was retried and is recorded.
    flaky = [c["id"] for c in document["checks"] if "answered on attempt 2" in c["flaky"]]
    assert len(flaky) == 1
    assert flaky[0] in ("health.endpoint", "health.latency")
    assert [a for a in document["advisories"] if a.startswith(f"[flaky] {flaky[0]}")]


def test_request_rate_is_capped(deploy: Deploy, server: LoopbackServer) -> None:
    run_health(deploy, server.url, max_rps=40.0, burst_requests=40, latency_samples=1)
    arrivals = sorted(t for _, _, t in server.requests)
    # 42 request starts spaced 1/40 s apart cannot arrive within less than about a second
    assert arrivals[-1] - arrivals[0] >= 0.8 * (len(arrivals) - 1) / 40


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https(ca: trustme.CA, tmp_path: Path) -> Iterator[Any]:
    """Start an HTTPS target with a certificate made for the test."""
    servers: list[LoopbackServer] = []

    def start(
        cert: trustme.LeafCert | None = None, hsts: bool = True
    ) -> tuple[LoopbackServer, str]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (cert or ca.issue_cert("127.0.0.1")).configure_cert(context)
        srv = LoopbackServer(context)
        headers = {"Strict-Transport-Security": "max-age=63072000"} if hsts else {}
        srv.health(version="1.0.0", headers=headers)
        plain = LoopbackServer()
        plain.routes["/"] = Route(301, "", {"Location": srv.url + "/"})
        servers.extend([srv, plain])
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        return srv, plain.url + "/"

    yield start
    for srv in servers:
        srv.close()


def run_tls(deploy: Deploy, url: str, redirect: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    return run_health(deploy, url, ca_bundle=str(tmp_path / "ca.pem"), http_url=redirect)


def test_valid_certificate_passes(deploy: Deploy, https: Any, tmp_path: Path) -> None:
    srv, redirect = https()
    code, document = run_tls(deploy, srv.url, redirect, tmp_path)
    assert (code, document["advisories"]) == (0, [])
    assert {k: v for k, v in outcomes(document).items() if "tls" in k} == {
        "health.tls_certificate": "passed",
        "health.tls_expiry": "passed",
        "health.tls_redirect": "passed",
        "health.tls_hsts": "passed",
    }


def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.parametrize(
    ("make_cert", "code", "reason"),
    [
        (
            lambda ca: ca.issue_cert(
                "127.0.0.1",
                not_before=now() - timedelta(days=30),
                not_after=now() - timedelta(days=1),
            ),
            20,
            "[tls-expired]",
        ),
        (lambda ca: ca.issue_cert("example.org"), 20, "[tls-hostname]"),
        (lambda ca: trustme.CA().issue_cert("127.0.0.1"), 20, "[tls-untrusted]"),
        (
            lambda ca: ca.issue_cert("127.0.0.1", not_after=now() + timedelta(days=5)),
            10,
            "[tls-expiry-soon]",
        ),
    ],
    ids=["expired", "wrong-host", "unknown-ca", "soon-to-expire"],
)
def test_certificate_defects(
    deploy: Deploy,
    https: Any,
    tmp_path: Path,
    ca: trustme.CA,
    make_cert: Any,
    code: int,
    reason: str,
) -> None:
    srv, redirect = https(make_cert(ca))
    result, document = run_tls(deploy, srv.url, redirect, tmp_path)
    assert result == code
    tls = [
        c["message"]
        for c in document["checks"]
        if c["id"].startswith("health.tls_") and c["message"]
    ]
    assert [m for m in tls if m.startswith(reason)], tls
    if reason == "[tls-hostname]":  # both names, where a person would look
        assert [m for m in tls if "(the certificate names example.org, not 127.0.0.1)" in m], tls


def test_self_signed_certificate(deploy: Deploy, https: Any, tmp_path: Path) -> None:
    lonely = trustme.CA()  # its own certificate is signed by itself

    class SelfSigned:
        def configure_cert(self, context: ssl.SSLContext) -> None:
            cert, key = tmp_path / "self.pem", tmp_path / "self.key"
            lonely.cert_pem.write_to_path(str(cert))
            lonely.private_key_pem.write_to_path(str(key))
            context.load_cert_chain(cert, key)

    srv, redirect = https(SelfSigned())
    _, document = run_tls(deploy, srv.url, redirect, tmp_path)
    assert reasons_starting(
        document, "[critical-failure] health.tls_certificate: [tls-self-signed]"
    )


def test_missing_hsts_and_redirect_are_advisories(
    deploy: Deploy, https: Any, tmp_path: Path
) -> None:
    srv, _ = https(hsts=False)
    no_redirect = LoopbackServer()
    no_redirect.routes["/"] = Route(200, "plain http")
    try:
        code, document = run_tls(deploy, srv.url, no_redirect.url + "/", tmp_path)
    finally:
        no_redirect.close()
    assert (code, document["verdict"]) == (0, "GO")
    assert [a.split(":")[0] for a in document["advisories"]] == [
        "health.tls_redirect",
        "health.tls_hsts",
    ]


def test_evidence_is_attached_to_allure(
    deploy: Deploy, pytester: pytest.Pytester, server: LoopbackServer
) -> None:
    server.health(503, headers={"Set-Cookie": "session=abc123secret"})
    results = pytester.path / "allure-results"
    run_health(deploy, server.url, None, f"--alluredir={results}")
    attachments = [p.read_text() for p in results.glob("*-attachment*")]
    assert [a for a in attachments if a.startswith("GET http://127.0.0.1") and "-> 503" in a]
    assert not [a for a in attachments if "abc123secret" in a]


def test_nothing_listening_says_where_a_person_would_look(deploy: Deploy) -> None:
    server = LoopbackServer()
    server.health()
    url = server.url
    port = url.rsplit(":", 1)[1]
    code, _ = run_health(deploy, url, "1.0.0", "--deploy-state=state")
    assert code == 0  # the last GO, kept in the state directory
    server.close()
    code, document = run_health(deploy, url, "1.0.0", "--deploy-state=state")
    assert code == 20
    [reason] = [r for r in document["reasons"] if "health.endpoint" in r]
    assert f"(nothing listens at 127.0.0.1:{port}, which answered at the last GO" in reason
    code, document = run_health(deploy, url, "1.0.0")  # no GO ever kept for it
    [reason] = [r for r in document["reasons"] if "health.endpoint" in r]
    assert "[unreachable]" in reason
    assert "is the port in base_url right?" in reason
