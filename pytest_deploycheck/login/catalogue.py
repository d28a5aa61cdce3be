"""The login suite's checks: the runbook's "Login/logout working", in a browser and over HTTP."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, Code, codes
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
            (
                *codes(
                    Category.LOGIN,
                    "login-page",
                    "login-failed",
                    "logout-missing",
                    "logout-failed",
                    "browser-step",
                ),
                Code(
                    "login-server-error",
                    Category.AVAILABILITY,
                    "the login itself fails on the server: see the deployment's logs",
                ),
                Code(
                    "rate-limited",
                    Category.SETUP,
                    "the smoke account is rate limited or locked: unlock it, or exempt it from"
                    " the lockout policy",
                ),
                Code(
                    "login-config",
                    Category.SETUP,
                    "a selector in the login settings matches nothing on the login page: fix it"
                    " (the message lists the page's inputs), or leave it to its default",
                ),
                Code(
                    "credentials-off-origin",
                    Category.SECURITY,
                    "the login page sends the password or the session to another origin: roll"
                    " back, then find what changed the form or its scripts; an identity provider"
                    " the login really uses goes in login.allowed_origins",
                ),
                Code(
                    "protected-unknown",
                    Category.SETUP,
                    "set protected_url to a page only a signed-in user can open",
                ),
            ),
            SMOKE,
        ),
        Check(
            "login.api",
            PHASES,
            Severity.CRITICAL,
            codes(Category.LOGIN, "api-login-failed", "api-logout-failed"),
            SMOKE,
        ),
        Check(
            "login.page_health",
            PHASES,
            Severity.MAJOR,
            codes(Category.AVAILABILITY, "console-error", "resource-failed"),
            "Post-Deployment Validation, Immediate: check UI rendering; a page that loads with"
            " errors or missing assets is a deployment to look at.",
        ),
        Check(
            "login.wrong_password",
            PHASES,
            Severity.CRITICAL,
            codes(Category.SECURITY, "auth-bypass"),
            "Security Incident: a wrong password logs in; roll back, patch and redeploy.",
        ),
        Check(
            "login.user_enumeration",
            PHASES,
            Severity.MINOR,
            codes(
                Category.SECURITY,
                "user-enumeration",
                fix="answer an unknown user exactly as a wrong password",
            ),
            "Security review: the login tells who has an account.",
        ),
        Check(
            "login.session_revocation",
            PHASES,
            Severity.MAJOR,
            codes(
                Category.SECURITY,
                "session-not-revoked",
                fix="end sessions on the server (a session store, a token deny-list); if the"
                " framework keeps them in signed cookies by design, say so: sessions ="
                ' "stateless"',
            ),
            "Security review: a session copied before logout (a stolen cookie) still opens the"
            " app after it; a deploy that stops the server revoking sessions is rolled back.",
            gated=True,
        ),
        Check(
            "login.session_cookie",
            PHASES,
            Severity.MAJOR,
            codes(
                Category.SECURITY,
                "cookie-no-httponly",
                "cookie-no-samesite",
                "cookie-no-secure",
                "cookie-samesite-none",
                "session-fixation",
            ),
            "Security Incident: session cookies readable by scripts, sent cross-site or kept"
            " across the login; set HttpOnly, SameSite and Secure, and issue a new session at"
            " login.",
        ),
    ]
)
