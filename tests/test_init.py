"""``deploycheck init`` on real targets: the file it writes loads, names secrets only as
environment variables, and its first run gives the verdict a hand-written configuration gives
(GO on a healthy target; HOLD where the framework's sessions call for a person's word), with no
edit; ``--check`` reports drift; a target's text cannot write a line of the file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from examples.demo_app.app import OPENAPI
from examples.demo_app.launcher import REPO
from examples.demo_app.traffic import users
from examples.prometheus import binary, running_prometheus, wait_for_points
from pytest_deploycheck.cli import main
from pytest_deploycheck.config import read_toml
from pytest_deploycheck.discover.render import without_password
from pytest_deploycheck.discover.web import (
    HEALTH_PATHS,
    LOGIN_PATHS,
    OPENAPI_PATHS,
    PROTECTED_PATHS,
    VERSION_PATHS,
    cookie_kind,
)
from pytest_deploycheck.login.settings import LoginSettings
from tests.conftest import Deploy, LoopbackServer, Route, StartDemo, wait_until
from tests.jupyter_site import running_jupyter
from tests.served import Site

DEMO_PASSWORD = "demo-password-1234"


def init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["init", *args])
    out, err = capsys.readouterr()
    return code, out, err


def suites_of(out: str) -> str:
    """The suites the command said to run, from its last line."""
    return out.split("--deploy-suites=")[1].split(maxsplit=1)[0]


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    """A project beside the config: the demo's migrations where a repository keeps them."""
    shutil.copytree(
        REPO / "examples" / "demo_app" / "migrations", pytester.path / "demo_app" / "migrations"
    )
    return pytester.path


def test_the_demo_with_its_database_is_go_with_no_edit(
    deploy: Deploy,
    demo: StartDemo,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = demo()
    config = project / "deploycheck.toml"
    args = ("--base-url", target.base_url, "--db-url", target.db_url, "--target", "demo")
    code, out, _ = init(capsys, *args, "-o", str(config))
    assert code == 0, out
    text = config.read_text()
    assert suites_of(out) == "health,login,db,rls"
    assert 'expect = { status = "ok" }' in text
    assert 'login_url = "/login"  # GET /login: 200 (text/html), a form with a username' in text
    assert 'protected_url = "/dashboard"  # GET /dashboard signed out leads to the login' in text
    assert 'api_kind = "token"  # /openapi.json: POST /api/auth/token takes password' in text
    assert 'api_protected_url = "/api/me"' in text
    assert 'migration_tool = "supabase"  # its history table' in text
    assert 'migrations_dir = "demo_app/migrations"  # found beside this file' in text
    assert 'password = "${SMOKE_PASSWORD}"' in text
    assert DEMO_PASSWORD not in text
    assert read_toml(config)["default_target"] == "demo"
    assert (init(capsys, *args, "-o", str(config))[0]) == 2  # never overwritten
    monkeypatch.setenv("SMOKE_USERNAME", "alice@example.com")
    monkeypatch.setenv("SMOKE_PASSWORD", DEMO_PASSWORD)
    run = deploy(f"--deploy-suites={suites_of(out)}", "--deploy-version=1.5.0")
    assert (run.code, run.signoff["reasons"]) == (0, []), run.result.stdout.str()
    assert {c["suite"] for c in run.signoff["checks"]} == {"health", "login", "db", "rls"}


def test_drift_from_the_file_is_reported(
    demo: StartDemo, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "deploycheck.toml"
    assert init(capsys, "--base-url", demo().base_url, "-o", str(config))[0] == 0
    code, out, _ = init(capsys, "--base-url", demo().base_url, "-o", str(config), "--check")
    assert (code, out) == (0, f"{config}: no drift\n")
    broken = demo("health-503").base_url  # a deploy broke the health endpoint
    code, out, _ = init(capsys, "--base-url", broken, "-o", str(config), "--check")
    assert code == 1
    assert "drift: suites.health.paths: /api/health answers 503 (application/json) now\n" in out


def test_without_a_database_or_a_server_it_says_what_it_could_not_find(
    demo: StartDemo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = init(capsys, "--base-url", demo().base_url, "--stdout")
    assert code == 0
    assert suites_of(out) == "health,login"
    assert "# Not found (write these yourself if they apply):" in out
    assert "give --prometheus-url to have the queries written" in out  # it exposes /metrics
    code, _, err = init(capsys, "--base-url", "http://127.0.0.1:9", "--stdout")
    assert code == 2
    assert err.startswith("deploycheck: http://127.0.0.1:9 answered nothing (")
    assert err.count("\n") == 1


def test_a_monitoring_server_is_go_and_a_wrong_version_rolls_back(
    deploy: Deploy, prometheus: str, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = init(
        capsys, "--base-url", prometheus, "-o", str(pytester.path / "deploycheck.toml")
    )
    assert code == 0
    text = (pytester.path / "deploycheck.toml").read_text()
    assert 'paths = ["/-/healthy", "/-/ready"]' in text
    assert 'version_field = "version"  # field version of GET /version' in text
    running = httpx.get(f"{prometheus}/api/v1/status/buildinfo").json()["data"]["version"]
    run = deploy(f"--deploy-suites={suites_of(out)}", f"--deploy-version={running}")
    assert (run.code, run.signoff["reasons"]) == (0, [])
    run = deploy(f"--deploy-suites={suites_of(out)}", "--deploy-version=9.9.9")
    assert run.code == 20
    assert any("[version-mismatch]" in r for r in run.signoff["reasons"])


@pytest.fixture
def nested() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    body = {"status": "UP", "build": {"version": "3.1.0", "git": {"commit": "abc"}}}
    server.routes["/actuator/health"] = Route(body=json.dumps(body), headers=JSON)
    yield server
    server.close()


JSON = {"Content-Type": "application/json"}


def test_a_version_two_levels_down_is_found_with_its_jmespath(
    nested: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = init(capsys, "--base-url", nested.url, "--stdout")
    assert code == 0
    assert 'version_field = "build.version"  # field build.version of GET /actuator/health' in out
    assert 'expect = { status = "UP" }' in out


def test_what_a_target_says_cannot_write_a_line_of_the_file(
    nested: LoopbackServer, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = '1.0\n[targets.evil]\nbase_url = "http://evil.example"\n# '
    body = {"status": "ok", "version": hostile}
    nested.routes["/actuator/health"] = Route(body=json.dumps(body), headers=JSON)
    config = pytester.path / "deploycheck.toml"
    assert init(capsys, "--base-url", nested.url, "-o", str(config))[0] == 0
    table = read_toml(config)
    assert list(table["targets"]) == ["app"]
    assert table["targets"]["app"]["base_url"] == nested.url
    assert not any(line.startswith("[targets.evil") for line in config.read_text().splitlines())


JUPYTER_PASSWORD = "Jup pw/&é+%K3rnel"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_jupyter(tmp_path_factory.mktemp("jupyter"), JUPYTER_PASSWORD) as site:
        yield site


def test_a_password_only_login_holds_only_for_its_signed_cookie_sessions(
    deploy: Deploy,
    jupyter: Site,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jupyter Server: a password alone, and a session in a signed cookie its log-out cannot
    end on the server. The file's first run holds for that alone, which the hand-written
    configuration acknowledges with ``sessions = "stateless"``."""
    config = pytester.path / "deploycheck.toml"
    code, out, _ = init(capsys, "--base-url", jupyter.base_url, "-o", str(config))
    assert code == 0
    text = config.read_text()
    assert "# no username: the login asks for a password alone" in text
    assert 'protected_url = "/api/me"  # GET /api/me signed out: 403' in text
    assert 'logout_url = "/logout"' in text
    monkeypatch.setenv("SMOKE_PASSWORD", JUPYTER_PASSWORD)
    run = deploy(f"--deploy-suites={suites_of(out)}")
    assert run.code == 10, run.result.stdout.str()
    [reason] = run.signoff["reasons"]
    assert reason.startswith("[major-failure] login.session_revocation: [session-not-revoked]")


def test_django_admin_is_go_with_no_edit(
    deploy: Deploy,
    django_admin: Site,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = pytester.path / "deploycheck.toml"
    code, out, _ = init(capsys, "--base-url", django_admin.base_url, "-o", str(config))
    assert code == 0
    assert 'login_url = "/admin/login/"' in config.read_text()
    monkeypatch.setenv("SMOKE_USERNAME", str(django_admin.username))
    monkeypatch.setenv("SMOKE_PASSWORD", django_admin.password)
    run = deploy(f"--deploy-suites={suites_of(out)}")
    assert (run.code, run.signoff["reasons"]) == (0, []), run.result.stdout.str()


def test_a_superuser_connection_gets_the_checking_roles_sql(
    demo: StartDemo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = init(
        capsys, "--base-url", demo().base_url, "--db-url", demo().admin_url, "--stdout"
    )
    assert code == 0
    assert ", a superuser: a run on production holds for it." in out
    assert "#   CREATE ROLE deploycheck LOGIN NOSUPERUSER NOCREATEDB" in out


def test_metrics_queries_from_the_apps_exposition_and_prometheus_series(
    deploy: Deploy,
    demo: StartDemo,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if binary() is None:
        pytest.skip("no Prometheus server here: `make prometheus` installs Debian's")
    target = demo()
    config = pytester.path / "deploycheck.toml"
    jobs = {"demo": [urlsplit(target.base_url).netloc]}
    with users([target.base_url]), running_prometheus(jobs) as url:  # traffic to rate
        wait_for_points(url, "sum(rate(demo_http_requests_total[1m]))", series=1, points=1)
        args = ("--base-url", target.base_url, "--prometheus-url", url, "-o", str(config))
        code, out, _ = init(capsys, *args)
        assert code == 0
        text = config.read_text()
        assert 'demo_http_requests_total{job="demo",code=~"5.."}' in text
        assert 'rate(demo_http_request_duration_seconds_bucket{job="demo"}' in text
        assert suites_of(out) == "health,login,metrics"
        monkeypatch.setenv("SMOKE_USERNAME", "alice@example.com")  # the file names them
        monkeypatch.setenv("SMOKE_PASSWORD", DEMO_PASSWORD)
        run = deploy("--deploy-suites=metrics")
    assert (run.code, run.signoff["reasons"]) == (0, []), run.result.stdout.str()
    assert {c["id"] for c in run.signoff["checks"]} == {
        "metrics.http_error_rate",
        "metrics.p95_latency",
    }


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "signed"),  # a JWT
        (".eJyrVkrOz8lJTS7JzM9TslIqSi0uyclPTy1RqgUAc0kJEQ.Z1a2bw.sig-nature_x", "signed"),  # Flask
        ("3f2a9c0e1b7d4a6f8e5c2b1a0d9f8e7c", "opaque"),  # a session id
        ("2|1:0|10:1700000000|5:_xsrf|48:abc", "opaque"),  # Tornado's XSRF token
        ("a.b.c", "opaque"),  # dots alone are not a signature
    ],
)
def test_a_cookie_value_kind(value: str, kind: str) -> None:
    assert cookie_kind(value) == kind


@pytest.mark.parametrize(
    ("dsn", "written"),
    [
        (
            "postgresql://checker:s3cr%40t@db.example.com:5432/app",
            "postgresql://checker:${DEPLOYCHECK_DB_PASSWORD}@db.example.com:5432/app",
        ),
        (
            "host=db.example.com user=checker password='two words' dbname=app",
            "user='checker' password='${DEPLOYCHECK_DB_PASSWORD}' dbname='app'"
            " host='db.example.com'",
        ),
        ("postgresql://checker@db.example.com/app", "postgresql://checker@db.example.com/app"),
    ],
)
def test_a_database_password_is_never_written(dsn: str, written: str) -> None:
    assert without_password(dsn)[0] == written


def test_a_version_that_moved_is_drift(
    nested: LoopbackServer, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    config = pytester.path / "deploycheck.toml"
    assert init(capsys, "--base-url", nested.url, "-o", str(config))[0] == 0
    moved = {"status": "UP", "info": {"app": {"version": "3.2.0"}}}  # a new framework release
    nested.routes["/actuator/health"] = Route(body=json.dumps(moved), headers=JSON)
    code, out, _ = init(capsys, "--base-url", nested.url, "-o", str(config), "--check")
    assert code == 1
    assert out.splitlines() == [
        'drift: suites.health.version_field: "build.version" no longer holds it, the version is'
        " at field info.app.version of GET /actuator/health",
        f"{config}: 1 drifted",
    ]


def test_a_token_api_alone_is_configured_from_its_openapi_document(
    nested: LoopbackServer, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """An API with no login page: its OpenAPI document (the demo's, as FastAPI publishes one)
    says where the token comes from, in what field, and what it opens."""
    document = json.loads(json.dumps(OPENAPI).replace("access_token", "token"))
    nested.routes["/openapi.json"] = Route(body=json.dumps(document), headers=JSON)
    config = pytester.path / "deploycheck.toml"
    assert init(capsys, "--base-url", nested.url, "-o", str(config))[0] == 0
    table = read_toml(config)["targets"]["app"]
    assert table["credentials"] == {
        "username": "${SMOKE_USERNAME}",
        "password": "${SMOKE_PASSWORD}",
    }
    assert table["suites"]["login"] == {
        "modes": ["api"],
        "api_kind": "token",
        "token_url": "/api/auth/token",
        "token_field": "token",
        "api_protected_url": "/api/me",
        "api_logout_url": "/api/auth/logout",
    }
    LoginSettings.parse(table["suites"]["login"])  # what the suite accepts


def test_a_target_that_stalls_costs_three_deadlines_not_one_per_path(
    nested: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = HEALTH_PATHS + VERSION_PATHS + LOGIN_PATHS + PROTECTED_PATHS + OPENAPI_PATHS
    for path in paths:
        nested.routes[path] = Route(body="{}", delay_s=5.0)  # headers only after 5 s
    code, _, err = init(capsys, "--base-url", nested.url, "--stdout", "--timeout-s=0.3")
    assert code == 2
    assert err.startswith(f"deploycheck: {nested.url} answered nothing (")
    # The third may reach the server's thread after the client gave up on it (a loaded machine).
    wait_until(lambda: len(nested.requests) >= 3, "the third request's arrival", 5)
    assert len(nested.requests) == 3  # then nothing more was asked


def test_a_database_it_cannot_reach_is_said_without_its_password(
    nested: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = "postgresql://checker:s3cret-Pw@127.0.0.1:1/app"  # nothing listens on port 1
    code, out, err = init(capsys, "--base-url", nested.url, "--db-url", dsn, "--stdout")
    assert code == 0
    assert "#   - the database: cannot connect to the database:" in out
    assert 'db_url = "postgresql://checker:${DEPLOYCHECK_DB_PASSWORD}@127.0.0.1:1/app"' in out
    assert "s3cret-Pw" not in out + err


def test_bodies_past_a_mebibyte_are_cut_off_and_end_the_asking(
    nested: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target answering huge pages cannot fill the gate's memory: each is cut at 1 MiB, and
    three of them end the discovery."""
    huge = json.dumps({"status": "ok", "pad": "x" * (3 << 20)})
    for path in HEALTH_PATHS:
        nested.routes[path] = Route(body=huge, headers=JSON)
    code, _, err = init(capsys, "--base-url", nested.url, "--stdout")
    assert code == 2
    [said] = [line for line in err.splitlines() if line.startswith("deploycheck:")]
    assert said.startswith(f"deploycheck: {nested.url} answered nothing (ExchangeStopped: "), said
    assert len(nested.requests) == 3
