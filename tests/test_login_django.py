"""The login suite on Django's admin site, a real application nobody here wrote: both modes GO
with no more than the login URL and the credentials; a wrong password is ROLLBACK in both; no
mode ever reports a false auth bypass.

Django's documentation on sessions: by default they are stored in the database
(``django.contrib.sessions.backends.db``), the cookie holds only the session key, and
``logout()`` flushes the session. A copy of the cookie taken before logging out is refused
after it: revocation works, and ``login.session_revocation`` passes with no setting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Deploy
from tests.served import Site


def run(
    deploy: Deploy,
    monkeypatch: pytest.MonkeyPatch,
    site: Site,
    modes: list[str],
    password: str | None = None,
    *args: str,
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("SMOKE_PASSWORD", password or site.password)
    config = (
        f'[targets.django]\nbase_url = "{site.base_url}"\n'
        f'[targets.django.credentials]\nusername = "{site.username}"\n'
        'password = "${SMOKE_PASSWORD}"\n'
        f'[targets.django.suites.login]\nmodes = {modes!r}\nlogin_url = "/admin/login/"\n'
    ).replace("'", '"')
    done = deploy("--deploy-target=django", "--deploy-suites=login", *args, config=config)
    return done.code, done.signoff


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in document["checks"]}


@pytest.mark.parametrize("modes", [["browser", "api"], ["api"], ["browser"]])
def test_django_admin_is_go(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch, django_admin: Site, modes: list[str]
) -> None:
    code, document = run(deploy, monkeypatch, django_admin, modes)
    assert (code, document["reasons"]) == (0, [])
    checks = outcomes(document)
    assert checks["login.wrong_password"] == "passed"  # no false auth bypass
    assert checks["login.user_enumeration"] == "passed"
    assert checks["login.session_cookie"] == "passed"  # sessionid; csrftoken is not its business
    assert checks["login.session_revocation"] == "passed"  # server-side sessions
    assert all(checks[f"login.{mode}"] == "passed" for mode in modes)
    assert set(checks.values()) <= {"passed", "skipped"}, checks


def test_wrong_password_is_rollback_in_both_modes(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch, django_admin: Site
) -> None:
    code, document = run(deploy, monkeypatch, django_admin, ["browser", "api"], "not-it-1234")
    assert code == 20
    reasons = document["reasons"]
    assert [r for r in reasons if r.startswith("[critical-failure] login.browser: [login-failed]")]
    assert [r for r in reasons if r.startswith("[critical-failure] login.api: [api-login-failed]")]
    assert outcomes(document)["login.wrong_password"] == "passed"
