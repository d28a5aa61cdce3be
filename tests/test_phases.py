"""Phase markers and --deploy-phase select exactly the checks of the chosen phases."""

from __future__ import annotations

import pytest

from tests.conftest import SignOffReader

CHECKS = """
import pytest

def test_unmarked(): pass

@pytest.mark.immediate
def test_now(): pass

@pytest.mark.short_term
def test_soon(): pass

@pytest.mark.standard
def test_later(): pass

@pytest.mark.extended
def test_tomorrow(): pass

@pytest.mark.immediate
@pytest.mark.extended
def test_both(): pass
"""


@pytest.fixture
def checks(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_checks=CHECKS)
    return pytester


def ids(read_signoff: SignOffReader, pytester: pytest.Pytester) -> list[tuple[str, str]]:
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    return [(check["id"], check["phase"]) for check in document["checks"]]


def test_one_phase_selects_its_checks_and_unmarked_ones(
    checks: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    result = checks.runpytest("--deploy-phase=immediate")
    result.assert_outcomes(passed=3, deselected=3)
    assert result.ret == 0
    assert ids(read_signoff, checks) == [
        ("checks.unmarked", "immediate"),
        ("checks.now", "immediate"),
        ("checks.both", "immediate"),
    ]


def test_several_phases(checks: pytest.Pytester, read_signoff: SignOffReader) -> None:
    result = checks.runpytest("--deploy-phase=short-term,extended")
    result.assert_outcomes(passed=3, deselected=3)
    assert ids(read_signoff, checks) == [
        ("checks.soon", "short_term"),
        ("checks.tomorrow", "extended"),
        ("checks.both", "extended"),
    ]
    assert read_signoff(checks.path / "deploycheck-signoff.json")["phases"] == [
        "short_term",
        "extended",
    ]


def test_dash_m_selects_unmarked_checks_as_immediate(checks: pytest.Pytester) -> None:
    result = checks.runpytest("--deploy-target=local", "-m", "immediate", "--strict-markers")
    result.assert_outcomes(passed=3, deselected=3)


def test_dash_m_works_without_a_deploy_run(checks: pytest.Pytester) -> None:
    result = checks.runpytest("-m", "standard", "--strict-markers")
    result.assert_outcomes(passed=1, deselected=5)
    assert not (checks.path / "deploycheck-signoff.json").exists()


def test_default_phase_is_configurable(
    checks: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    checks.makefile(".toml", deploycheck='default_phase = "standard"')
    checks.runpytest("--deploy-phase=standard").assert_outcomes(passed=2, deselected=4)
    assert ids(read_signoff, checks) == [
        ("checks.unmarked", "standard"),
        ("checks.later", "standard"),
    ]


def test_phase_that_collects_nothing_holds(
    pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.immediate\ndef test_now(): pass\n")
    result = pytester.runpytest("--deploy-phase=extended")
    assert result.ret == 10
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "HOLD"
    assert document["reasons"] == ["[nothing-collected] no checks selected for extended"]


def test_unknown_phase_is_a_usage_error(checks: pytest.Pytester) -> None:
    result = checks.runpytest("--deploy-phase=soon")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: deploycheck: unknown phase 'soon' (choose from *)"])


def test_the_signoff_schema_knows_every_phase() -> None:
    import json

    from pytest_deploycheck.core.phases import Phase
    from pytest_deploycheck.signoff.document import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$defs"]["phase"]["enum"] == [phase.value for phase in Phase]
