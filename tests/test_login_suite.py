"""The login suite in a real headless Chromium and over HTTP: each check fires on its defect
and stays quiet on a healthy target; the password never reaches an artifact."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest

from tests.conftest import Deploy, StartDemo, file_holds

PASSWORD = "demo-password-1234"
# The pages here send nothing after their load: 50 ms of quiet settles them as surely as the
# default 250 ms (the scripted-page test keeps the wait for a late form).
QUICK = {"settle_ms": 50}
DEMO_LOGIN = {
    "login_url": "/login",
    "protected_url": "/dashboard",
}


def toml_table(values: dict[str, Any]) -> str:
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(list(v)) if isinstance(v, list | tuple) else json.dumps(v)

    return "\n".join(f"{k} = {value(v)}" for k, v in values.items())


@pytest.fixture
def run_login(deploy: Deploy, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the login suite against a base URL with the given suite settings."""

    def run(
        base_url: str,
        *args: str,
        username: str = "alice@example.com",
        production: bool = False,
        **login: Any,
    ) -> tuple[int, dict[str, Any], pytest.RunResult]:
        monkeypatch.setenv("SMOKE_PASSWORD", PASSWORD)
        login = {**QUICK, **login}
        config = (
            f'artifacts = "artifacts"\n[targets.t]\nbase_url = "{base_url}"\n'
            f"production = {'true' if production else 'false'}\n"
            f'[targets.t.credentials]\nusername = "{username}"\n'
            'password = "${SMOKE_PASSWORD}"\n'
            f"[targets.t.suites.login]\n{toml_table(login)}\n"
        )
        args = ("--deploy-target=t", "--deploy-suites=login", *args)
        run = deploy(*args, config=config)
        return run.code, run.signoff, run.result

    return run


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in document["checks"]}


@pytest.mark.parametrize(
    "plugins", [(), ("-p", "no:playwright")], ids=["with-pytest-playwright", "own-playwright"]
)
def test_healthy_demo_in_both_modes(
    run_login: Any, demo: StartDemo, plugins: tuple[str, ...]
) -> None:
    code, document, _ = run_login(demo().base_url, *plugins, modes=["browser", "api"], **DEMO_LOGIN)
    assert code == 0, document["reasons"]
    assert {k: v["outcome"] for k, v in by_id(document).items()} == {
        "login.browser": "passed",
        "login.api": "passed",
        "login.page_health": "passed",
        "login.wrong_password": "passed",
        "login.user_enumeration": "passed",
        "login.session_revocation": "passed",
        "login.session_cookie": "passed",
    }


@pytest.mark.parametrize(
    ("fault", "code", "expected"),
    [
        (
            "login-broken",
            20,
            {"login.browser": "[login-failed]", "login.api": "[api-login-failed]"},
        ),
        (
            "logout-broken",
            20,
            {"login.browser": "[logout-failed]", "login.api": "[api-logout-failed]"},
        ),
        (
            "logout-500",  # a crash on the way out: the server's fault, not the session's
            20,
            {
                "login.browser": "[login-server-error] the log-out request answered 500",
                "login.api": "[login-server-error] the log-out request answered 500",
            },
        ),
        (
            "insecure-cookie",
            10,
            {"login.session_cookie": "[cookie-no-httponly] session cookie demo_session lacks"},
        ),
        (
            "stateless-session",  # logged out for the user; the server ends nothing
            10,
            {
                "login.session_revocation": "[session-not-revoked] a copy of the session taken"
                " before logging out still opens /dashboard after it"
            },
        ),
    ],
)
def test_demo_faults(
    run_login: Any, demo: StartDemo, fault: str, code: int, expected: dict[str, str]
) -> None:
    result, document, _ = run_login(demo(fault).base_url, modes=["browser", "api"], **DEMO_LOGIN)
    assert result == code
    checks = by_id(document)
    for check_id, message in expected.items():
        assert checks[check_id]["outcome"] == "failed"
        assert checks[check_id]["message"].startswith(message)
    if fault == "insecure-cookie":  # the findings name the cookie
        findings = checks["login.session_cookie"]["findings"]
        assert {(f["rule"], f["object"]) for f in findings} == {
            ("cookie-no-httponly", "demo_session"),
            ("cookie-no-samesite", "demo_session"),
        }


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            "error-rate=1",  # every request but the health endpoint answers 500
            [
                ("[critical-failure]", "login.browser", "[login-server-error]"),
                ("[critical-failure]", "login.api", "[login-server-error]"),
            ],
        ),
        (
            "rate-limited",  # every sign-in answers 429
            [
                ("[could-not-check]", "login.browser", "[rate-limited]"),
                ("[could-not-check]", "login.api", "[rate-limited]"),
                ("[could-not-check]", "login.wrong_password", "[rate-limited]"),
            ],
        ),
    ],
)
def test_server_faults_are_never_bad_credentials(
    run_login: Any, demo: StartDemo, fault: str, expected: list[tuple[str, str, str]]
) -> None:
    code, document, _ = run_login(demo(fault).base_url, modes=["browser", "api"], **DEMO_LOGIN)
    assert code == (20 if fault.startswith("error-rate") else 10)
    reasons = document["reasons"]
    for verdict, check, why in expected:
        assert [r for r in reasons if r.startswith(verdict) and check in r and why in r], reasons
    assert not [r for r in reasons if "login-failed]" in r or "auth-bypass" in r]


def test_a_stateless_session_acknowledged_is_an_advisory_until_revocation_regresses(
    run_login: Any, demo: StartDemo, pytester: pytest.Pytester
) -> None:
    stateless = demo("stateless-session").base_url
    code, document, _ = run_login(stateless, sessions="stateless", **DEMO_LOGIN)
    assert code == 0, document["reasons"]
    assert [a for a in document["advisories"] if "[session-not-revoked]" in a]
    # The last GO revoked sessions; this deploy stops doing so: a regression, rolled back
    # whatever the setting says.
    # (Over HTTP alone: the gate reads whichever mode ran.)
    api = {**DEMO_LOGIN, "modes": ["api"]}
    code, document, _ = run_login(demo().base_url, "--deploy-state=state", **api)
    assert code == 0, document["reasons"]
    code, document, _ = run_login(stateless, "--deploy-state=state", sessions="stateless", **api)
    assert code == 20, document["reasons"]
    [reason] = [r for r in document["reasons"] if "session_revocation" in r]
    assert reason.startswith(
        "[gate-rollback] login.session_revocation = 0 (limit 1): still accepted after"
        " logging out (revoked at the baseline)"
    )


def test_token_api_mode(run_login: Any, demo: StartDemo) -> None:
    token = {
        "modes": ["api"],
        "api_kind": "token",
        "token_url": "/api/auth/token",
        "api_protected_url": "/api/me",
        "api_logout_url": "/api/auth/logout",
    }
    code, document, _ = run_login(demo().base_url, **token)
    assert code == 0, document["reasons"]
    # A token the server does not revoke: the client throws its copy away at logout, as
    # clients do; the server still honouring a copy is the revocation check's to say.
    code, document, _ = run_login(demo("logout-broken").base_url, **token)
    assert by_id(document)["login.api"]["outcome"] == "passed"
    revocation = by_id(document)["login.session_revocation"]
    assert revocation["message"].startswith("[session-not-revoked] a copy of the session")
    assert code == 10


def test_failing_run_leaves_the_password_nowhere(
    run_login: Any, demo: StartDemo, pytester: pytest.Pytester
) -> None:
    allure = pytester.path / "allure-results"
    _, document, result = run_login(
        demo("login-broken").base_url,
        f"--alluredir={allure}",
        "--junitxml=junit.xml",
        "-l",
        "--tb=long",
        modes=["browser", "api"],
        **DEMO_LOGIN,
    )
    evidence = by_id(document)["login.browser"]["evidence"]
    kinds = {Path(e["text"]).suffix for e in evidence if e["content_type"] != "text/plain"}
    assert kinds == {".png", ".zip"}
    written = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".zip" for p in written)
    assert any("attachment" in p.name for p in allure.iterdir())
    leaks = [str(p) for p in written if file_holds(p, PASSWORD)]
    assert leaks == []
    assert PASSWORD not in result.stdout.str() + result.stderr.str()


def test_no_browser_means_could_not_check(
    run_login: Any, demo: StartDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYCHECK_BROWSER", "/nonexistent/chromium")
    code, document, _ = run_login(demo().base_url, **DEMO_LOGIN)
    assert code == 10
    assert by_id(document)["login.browser"]["outcome"] == "error"
    assert [
        r
        for r in document["reasons"]
        if r.startswith("[could-not-check] login.browser") and "[no-browser]" in r
    ]


def test_wrong_password_on_production_only_when_asked(run_login: Any, demo: StartDemo) -> None:
    api = {**DEMO_LOGIN, "modes": ["api"]}  # the rule is the same in either mode
    _, document, _ = run_login(demo().base_url, production=True, **api)
    assert by_id(document)["login.wrong_password"]["outcome"] == "skipped"
    _, document, _ = run_login(demo().base_url, production=True, negative=True, **api)
    assert by_id(document)["login.wrong_password"]["outcome"] == "passed"


# -- a second login page, with other markup: fields "user"/"pass", a welcome message ----------


class OtherSite(BaseHTTPRequestHandler):
    """Another app's sign-in: a message instead of a redirect, GET logout, cookie 'sid'."""

    protocol_version = "HTTP/1.1"
    sessions: ClassVar[set[str]] = set()
    attempts: ClassVar[list[tuple[str, bool]]] = []  # (username, accepted)
    accept_any = False
    fixate = False  # the session id is handed out before the login and kept
    broken_assets = False  # the sign-in page logs an error and loads a missing image
    crash_second_visit = False  # the account page fails a session's second visit (the log-out's)
    # > 0: the sign-in page is a shell whose script asks for the form so many seconds after the load
    scripted = 0.0
    visits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        if self.path == "/signin" and self.scripted:
            self.page(
                "<main></main><script>setTimeout(() => fetch('/signin-form').then(r => r.text())"
                ".then(html => { document.querySelector('main').innerHTML = html }),"
                f" {self.scripted * 1000:.0f})</script>"
            )
        elif self.path == "/signin-form":
            time.sleep(0.2)
            self.page(
                "<form method='post' action='/signin'><input name='user'>"
                "<input name='pass' type='password'><button>Go</button></form>"
            )
        elif self.path == "/signin":
            extra = (
                "<script>console.error('boom')</script><img src='/missing.png' alt=''>"
                if self.broken_assets
                else ""
            )
            early = f"sid={secrets.token_hex(16)}; HttpOnly; SameSite=Strict; Path=/"
            self.page(
                "<form method='post' action='/signin'><p>Account <input name='user'></p>"
                "<p>Secret <input name='pass' type='password'></p>"
                f"<input type='submit' value='Go'></form>{extra}",
                cookie=early if self.fixate and not self.cookie() else None,
            )
        elif self.path == "/account":
            sid = self.cookie()
            self.visits[sid] = self.visits.get(sid, 0) + 1
            if sid in self.sessions and self.crash_second_visit and self.visits[sid] == 2:
                self.page("<p>Internal Server Error</p>", 500)
            elif sid in self.sessions:
                self.page("<h2>Your account</h2>")
            else:
                self.page("<p>Please sign in</p>", 401)
        elif self.path == "/bye":
            self.sessions.discard(self.cookie())
            self.page("<p>Signed out</p>")
        else:
            self.page("not here", 404)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        accepted = form.get("user") == "carol" and (form.get("pass") == PASSWORD or self.accept_any)
        self.attempts.append((form.get("user", ""), accepted))
        if accepted:
            sid = self.cookie() if self.fixate else secrets.token_hex(16)
            self.sessions.add(sid)
            cookie = f"sid={sid}; HttpOnly; SameSite=Strict; Path=/"
            self.page("<p class='welcome'>Welcome back, carol</p>", 200, cookie)
        else:
            self.page(
                "<p class='oops'>No such account</p><form method='post' action='/signin'>"
                "<input name='user'><input name='pass' type='password'>"
                "<input type='submit' value='Go'></form>",
                200,
            )

    def cookie(self) -> str:
        raw = self.headers.get("Cookie", "")
        return next((p.split("=", 1)[1] for p in raw.split("; ") if p.startswith("sid=")), "")

    def page(self, html: str, status: int = 200, cookie: str | None = None) -> None:
        payload = f"<!doctype html><html><body>{html}</body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[type[OtherSite]]:
    handler = type("Site", (OtherSite,), {"sessions": set(), "attempts": [], "visits": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


OTHER_LOGIN = {
    "modes": ["browser", "api"],
    "login_url": "/signin",
    "protected_url": "/account",
    "logout_url": "/bye",
    "api_protected_url": "/account",
    "api_logout_url": "/bye",
    "api_logout_method": "GET",
}


def test_second_login_page_configured_only_by_file(run_login: Any, other_site: Any) -> None:
    code, document, _ = run_login(other_site.url, username="carol", **OTHER_LOGIN)
    assert code == 0, document["reasons"]
    assert {c["outcome"] for c in document["checks"]} == {"passed"}


def test_wrong_password_accepted_is_an_auth_bypass(run_login: Any, other_site: Any) -> None:
    other_site.accept_any = True
    code, document, _ = run_login(other_site.url, username="carol", **OTHER_LOGIN)
    assert code == 20
    assert by_id(document)["login.wrong_password"]["message"].startswith(
        "[auth-bypass] a wrong password for carol was accepted"
    )


def test_wrong_credentials_are_tried_once_per_window(run_login: Any, other_site: Any) -> None:
    code, document, _ = run_login(
        other_site.url,
        "--deploy-phase=short_term",
        "--deploy-window=3s",
        "--deploy-interval=0.5s",
        username="carol",
        **{**OTHER_LOGIN, "modes": ["api"]},
    )
    assert code == 0, document["reasons"]
    accepted = [user for user, ok in other_site.attempts if ok]
    refused = [user for user, ok in other_site.attempts if not ok]
    assert len(accepted) >= 2  # a login every round
    assert len(refused) == 2  # one wrong password, one unknown user: in the first round only
    assert refused[0] == "carol"
    assert refused[1].startswith("nobody-")


@pytest.mark.parametrize(
    ("defect", "check", "rules"),
    [
        ("fixate", "login.session_cookie", {("session-fixation", "sid")}),
        (
            "broken_assets",
            "login.page_health",
            {("console-error", "/signin"), ("resource-failed", "/missing.png")},
        ),
    ],
)
def test_session_and_page_defects_hold(
    run_login: Any, other_site: Any, defect: str, check: str, rules: set[tuple[str, str]]
) -> None:
    setattr(other_site, defect, True)
    code, document, _ = run_login(other_site.url, username="carol", **OTHER_LOGIN)
    assert code == 10, document["reasons"]
    findings = by_id(document)[check]["findings"]
    assert {(f["rule"], f["object"].replace(other_site.url, "")) for f in findings} == rules


def test_a_setting_that_does_not_fit_the_page_holds_naming_what_is_there(
    run_login: Any, other_site: Any
) -> None:
    code, document, _ = run_login(
        other_site.url, username="carol", password_selector="#secret", **OTHER_LOGIN
    )
    assert code == 10, document["reasons"]  # a configuration problem, not a broken page
    browser = by_id(document)["login.browser"]
    assert browser["outcome"] == "error"
    assert browser["message"].startswith("[login-config] password_selector '#secret' matches")
    assert "input[type=password][name=pass]" in browser["message"]
    assert by_id(document)["login.api"]["outcome"] == "passed"  # the form, read as HTML
    assert by_id(document)["login.wrong_password"]["outcome"] == "error"
    assert not other_site.attempts or all(user == "carol" for user, _ in other_site.attempts)


def test_a_username_field_with_no_username_configured_holds(
    run_login: Any, other_site: Any
) -> None:
    code, document, _ = run_login(other_site.url, username="", **OTHER_LOGIN)
    assert code == 10, document["reasons"]
    for check in ("login.browser", "login.api"):
        assert by_id(document)[check]["message"].startswith(
            "[not-configured] the login form asks for a username: set credentials.username"
        )
    assert other_site.attempts == []  # nothing was sent without a username


def test_a_protected_page_that_fails_when_opened_to_log_out_is_a_server_error(
    run_login: Any, other_site: Any
) -> None:
    other_site.crash_second_visit = True
    code, document, _ = run_login(other_site.url, username="carol", **OTHER_LOGIN)
    assert code == 20, document["reasons"]
    for check in ("login.browser", "login.api"):  # not "no log-out control"
        assert by_id(document)[check]["message"].startswith(
            "[login-server-error] /account, opened to log out, answered 500."
        )


def test_a_login_form_a_script_fetches_after_the_load_is_waited_for(
    run_login: Any, other_site: Any
) -> None:
    """A page is judged once it has settled (quiet for ``settle_ms``) and shows a password
    field, waited for up to ``timeout_ms``: a script that asks for the form 1 s after the load
    is a login page, not a broken one; a page that never shows one is ``[login-page]``."""
    other_site.scripted = 1.0  # asked for 1 s after the load, there 0.2 s later
    login = {**OTHER_LOGIN, "modes": ["browser"], "negative": False}  # one login page a run
    code, document, _ = run_login(other_site.url, username="carol", **login)
    assert code == 0, document["reasons"]
    # 0.5 s of waiting (the settle, then the field; longer on a loaded machine, whose browser
    # answers late): a form asked for after 3 s comes too late for this page to be a login page.
    other_site.scripted = 3.0
    code, document, _ = run_login(other_site.url, username="carol", timeout_ms=500, **login)
    assert code == 20
    assert by_id(document)["login.browser"]["message"].startswith("[login-page]")
