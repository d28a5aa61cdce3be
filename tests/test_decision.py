"""The decision block a release engineer reads first, rendered from a demo run with several
faults: the verdict at the top, short lines, no traceback, each cause once."""

from __future__ import annotations

import pytest

from examples.demo_app.launcher import REPO
from examples.run_demo import UNMONITORED
from pytest_deploycheck.report.decision import decision
from tests.conftest import Deploy, StartDemo


def test_the_decision_comes_first_short_and_once(
    deploy: Deploy, demo: StartDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = demo("rls-disabled", "error-rate=0.2", "lock-held")
    for name, value in {
        "DEMO_BASE_URL": target.base_url,
        "DEMO_DB_URL": target.db_url,
        "DEMO_PASSWORD": "demo-password-1234",
        "DEMO_PROMETHEUS_URL": UNMONITORED,
    }.items():
        monkeypatch.setenv(name, value)
    run = deploy(
        f"--deploy-config={REPO / 'examples' / 'deploycheck.toml'}",
        "--deploy-suites=health,db,rls",
        "--deploy-phase=immediate",
    )
    output = run.result.stdout.lines
    start = next(i for i, line in enumerate(output) if "deploycheck sign-off" in line)
    end = next(i for i, line in enumerate(output) if line.startswith("sign-off written to"))
    block = output[start + 1 : end]
    assert block[0] == "VERDICT: ROLLBACK (exit 20) - target demo, version 1.5.0"  # line 1
    assert block[1].startswith("next: roll back now, then: deploycheck postmortem ")
    signoff = "deploycheck-signoff.json"  # in the lines a person copies whole
    assert [line for line in block if len(line) > 120 and signoff not in line] == []
    text = "\n".join(run.result.stdout.lines + run.result.stderr.lines)
    assert "Traceback" not in text
    assert "FAILURES" not in text  # pytest's own sections would repeat every cause
    causes = [line for line in block if line.startswith(("  ROLLBACK ", "  HOLD "))]
    assert len(causes) == len(set(causes))
    assert any(line.startswith("  ROLLBACK public.notes (") for line in causes)  # by object
    assert any(line.startswith("  HOLD     could not check: ") for line in causes)
    for reason in run.signoff["reasons"]:
        said = reason.split("] ", 1)[1].split(". Fix: ")[0][:50]
        assert text.count(said) <= 1, said  # once, or as part of its object's line


def test_a_long_cause_keeps_its_code_object_and_diagnosis() -> None:
    middle = " ".join(f"column_{i} differs" for i in range(120))
    reason = f"[critical-failure] db.schema: [schema-drift] public.orders: {middle}: RECREATE IT"
    document = {
        "verdict": "ROLLBACK",
        "exit_code": 20,
        "target": {"name": "eu", "version": None},
        "phases": ["immediate"],
        "checks": [],
        "gates": [],
        "reasons": [f"{reason} (from eu)"],
    }
    block = decision(document)
    cause = block[block.index("") + 1 : block.index("", block.index("") + 1)]
    assert 1 < len(cause) <= 3
    assert all(len(line) <= 120 for line in cause)
    assert cause[0].startswith("  ROLLBACK db.schema: [schema-drift] public.orders: column_0 ")
    assert cause[-1].endswith("RECREATE IT (from eu)")  # the end is never what is cut
    assert " … " in " ".join(cause)
    assert all(line.startswith(" " * 11) for line in cause[1:])  # under the cause's text
