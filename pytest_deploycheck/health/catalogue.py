"""The health suite's checks: the runbook's first look after a deploy."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, Code, codes
from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase

IMMEDIATE = (Phase.IMMEDIATE,)
ROLL_BACK = (
    "Rollback Procedures: the health check answers 5xx or the deployment is not the one "
    "expected; roll back, then check the deployment's logs (Troubleshooting: smoke tests failing)."
)
CERTIFICATE = "Pre-Deployment Checklist, Infrastructure: SSL certificate valid; renew or fix it."

CATALOGUE = Catalogue(
    [
        Check(
            "health.endpoint",
            IMMEDIATE,
            Severity.CRITICAL,
            codes(Category.AVAILABILITY, "health-status", "health-body"),
            ROLL_BACK,
        ),
        Check(
            "health.version",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                *codes(Category.AVAILABILITY, "version-mismatch", "version-unknown"),
                Code(
                    "version-field-missing",
                    Category.SETUP,
                    "set version_field to where the answer holds the version (a JMESPath"
                    " expression: data.version, build.version)",
                ),
            ),
            ROLL_BACK,
        ),
        Check(
            "health.endpoints",
            IMMEDIATE,
            Severity.CRITICAL,
            codes(Category.AVAILABILITY, "endpoint-status"),
            ROLL_BACK,
        ),
        Check(
            "health.latency",
            IMMEDIATE,
            Severity.MAJOR,
            codes(
                Category.PERFORMANCE, "latency-budget", "latency-regression", "latency-unmeasured"
            ),
            "Post-Deployment Validation: response time should be normal; compare with the "
            "baseline and check the database and external calls before deciding.",
            gated=True,
        ),
        Check(
            "health.error_rate",
            IMMEDIATE,
            Severity.CRITICAL,
            (Code("error-rate", Category.PERFORMANCE),),
            "Automatic Rollback Trigger: an error rate above 10 % rolls back; between 1 % and "
            "10 %, watch it (Troubleshooting: high error rate in production).",
            gated=True,
        ),
        Check(
            "health.tls_certificate",
            IMMEDIATE,
            Severity.CRITICAL,
            codes(
                Category.SECURITY,
                "tls-untrusted",
                "tls-self-signed",
                "tls-expired",
                "tls-hostname",
                "tls-handshake",
            ),
            CERTIFICATE,
        ),
        Check(
            "health.tls_expiry",
            IMMEDIATE,
            Severity.MAJOR,
            codes(Category.SECURITY, "tls-expiry-soon"),
            CERTIFICATE,
        ),
        Check(
            "health.tls_redirect",
            IMMEDIATE,
            Severity.MINOR,
            codes(Category.SECURITY, "tls-no-redirect"),
            "Pre-Deployment Checklist, Infrastructure: CDN configuration correct.",
        ),
        Check(
            "health.tls_hsts",
            IMMEDIATE,
            Severity.MINOR,
            codes(Category.SECURITY, "tls-no-hsts"),
            "Pre-Deployment Checklist, Infrastructure: CDN configuration correct.",
        ),
    ]
)
