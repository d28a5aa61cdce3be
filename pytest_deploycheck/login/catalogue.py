"""The login suite's checks: the runbook's "Login/logout working", in a browser and over HTTP."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, codes
from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase

# A smoke test right after the deploy, and again in the short-term watch.
PHASES = (Phase.IMMEDIATE, Phase.SHORT_TERM)
SMOKE = (
    "Automatic Rollback Trigger: smoke tests fail; roll back, then check the deployment's logs "
    "and environment variables (Troubleshooting: smoke tests failing)."
)

CATALOGUE = Catalogue(
    [
        Check(
            "login.browser",
            PHASES,
            Severity.CRITICAL,
            codes(
                Category.LOGIN,
                "login-page",
                "login-failed",
                "protected-page",
                "logout-missing",
                "logout-failed",
                "browser-step",
            ),
            SMOKE,
        ),
        Check(
            "login.api",
            PHASES,
            Severity.CRITICAL,
            codes(Category.LOGIN, "api-login-failed", "api-protected", "api-logout-failed"),
            SMOKE,
        ),
        Check(
            "login.wrong_password",
            PHASES,
            Severity.CRITICAL,
            codes(Category.SECURITY, "auth-bypass"),
            "Security Incident: a wrong password logs in; roll back, patch and redeploy.",
        ),
        Check(
            "login.session_cookie",
            PHASES,
            Severity.MAJOR,
            codes(
                Category.SECURITY,
                "cookie-flags",
                "cookie-no-httponly",
                "cookie-no-samesite",
                "cookie-no-secure",
                "cookie-missing",
            ),
            "Security Incident: session cookies readable by scripts or sent cross-site; set "
            "HttpOnly, SameSite and Secure on the session cookie.",
        ),
    ]
)
