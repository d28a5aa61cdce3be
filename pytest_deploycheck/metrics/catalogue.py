"""The metrics suite's check: one per configured query, each a gate on production's figures."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, Code, codes
from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase

CATALOGUE = Catalogue(
    [
        Check(
            "metrics.*",
            tuple(Phase),
            Severity.CRITICAL,
            (
                *codes(Category.PERFORMANCE, "metrics-threshold", "metrics-regression"),
                Code("metrics-unavailable", Category.UNREACHABLE),
                Code(
                    "metrics-no-data",
                    Category.SETUP,
                    "check the query in the monitoring"
                    " system's own UI: it must return a number for the deployment's traffic",
                ),
                *codes(Category.SETUP, "metrics-query-error", "metrics-no-baseline"),
            ),
            "Sign-off Criteria: error rate < 1 % for 30 minutes, performance metrics normal,"
            " no new errors; an error rate above 10 % rolls back (Automatic Rollback Trigger);"
            " check the dashboard and the error tracker before deciding.",
            gated=True,
        ),
    ]
)
