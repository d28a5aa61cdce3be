"""The catalogues are the one source of the bundled checks' facts: every reason code the code
can emit is declared once and falls in exactly one Allure category, every declared code is
emitted somewhere, and the README's check tables say what the catalogues say."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_deploycheck.bundled import CATALOGUE
from pytest_deploycheck.core.catalogue import Check
from pytest_deploycheck.report.allure import categories, level_trace
from pytest_deploycheck.signoff.engine import SIGNOFF_CODES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pytest_deploycheck"
CODE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
PREFIX = re.compile(r"^\[([a-z][a-z0-9_-]*)\]")
# Where a code is emitted: callee name -> position of the code among its arguments.
EMITTERS = {
    "Finding": 0,
    "fail": 0,
    "undecide": 0,
    "require": 1,
    "TlsResult": 0,
    "_simple": 0,
    "_each": 0,
    "_on_policy": 0,
    "_definer": 0,
    "_answered": 2,
    "_sessions": 1,
    "Write": 1,
}


def _sources() -> list[Path]:
    """Every module that makes checks' messages: the package but the catalogues, and suites/."""
    shipped = [*PACKAGE.rglob("*.py"), *(ROOT / "suites").rglob("*.py")]
    return [path for path in shipped if path.name != "catalogue.py"]


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def emitted(source: str) -> Iterator[str]:
    """The reason codes a module can emit: messages that start with ``[code]``, literal codes
    given to the emitters, and the codes of its ``*_CODE`` constants and ``*_CODES`` tables."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = PREFIX.match(node.value)
            if match and not node.value.startswith("[%"):
                yield match.group(1)
        elif isinstance(node, ast.Call):
            position = EMITTERS.get(_callee(node), len(node.args))
            code = node.args[position] if len(node.args) > position else None
            code = next((k.value for k in node.keywords if k.arg == "code"), code)
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                yield code.value
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.endswith(("_CODE", "_CODES")) for t in node.targets
        ):
            table = node.value
            items = table.values if isinstance(table, ast.Dict) else ast.walk(table)
            yield from (
                item.value
                for item in items
                if isinstance(item, ast.Constant)
                and isinstance(item.value, str)
                and CODE.match(item.value)
            )


# Codes that never head a failed or broken result, which is all Allure categorises: a skip's,
# and an advisory's on a sign-off that is GO.
NEVER_FAILS = {"destructive-not-allowed", "flaky"}


def declared() -> list[str]:
    return [code.name for _, code in CATALOGUE.codes()] + list(SIGNOFF_CODES)


def test_every_code_is_declared_once() -> None:
    assert [name for name, n in Counter(declared()).items() if n > 1] == []


def test_every_emitted_code_is_declared_and_every_declared_code_emitted() -> None:
    found = {code for path in _sources() for code in emitted(path.read_text())}
    names = set(declared())
    assert sorted(found - names) == [], "emitted but not in a catalogue"
    assert sorted(names - found) == [], "declared but never emitted"


def test_every_code_falls_in_exactly_one_allure_category() -> None:
    """Each check's code in one category of its kind; the sign-off's own codes head only the
    verdict's result, which its level places (below)."""
    rules = [r for r in categories(code for _, code in CATALOGUE.codes()) if "messageRegex" in r]
    for _, code in CATALOGUE.codes():
        if code.name in NEVER_FAILS:
            continue
        for prefix in ("", "Failed: ", "pytest_deploycheck.core.model.CouldNotCheck: "):
            message = f"{prefix}[{code.name}] something\nwith a second line"  # as allure writes
            matched = [r["name"] for r in rules if re.fullmatch(r["messageRegex"], message)]
            assert len(matched) == 1, (code.name, prefix, matched)


def test_every_failure_that_gates_is_in_its_levels_category() -> None:
    rules = categories(code for _, code in CATALOGUE.codes())
    by_trace = {r["name"]: r["traceRegex"] for r in rules if "traceRegex" in r}
    assert set(by_trace) == {"Rollback triggers", "Holds"}
    for level, name in (("ROLLBACK", "Rollback triggers"), ("HOLD", "Holds")):
        trace = f"test_checks.py:3: in test_login\n    assert False\n{level_trace(level)}"
        matched = [n for n, regex in by_trace.items() if re.fullmatch(regex, trace)]  # Java's
        assert matched == [name]
        assert re.search(by_trace[name], level_trace(level))  # JavaScript's test()
    assert not any(re.fullmatch(r, "no level line") for r in by_trace.values())


def test_the_source_scan_sees_each_way_of_emitting() -> None:
    source = """
X_CODES = {"a": "code-a"}
Y_CODE = "code-g"
fail("code-b", "m")
result.require(ok, "code-c", "m")
Finding("code-d", "o", "m")
message = "[code-e] something"
RuleResult("x", [], code="code-f")
"""
    assert sorted(emitted(source)) == [f"code-{c}" for c in "abcdefg"]


# -- the README's tables ---------------------------------------------------------------------

README = (ROOT / "README.md").read_text()
ROW = re.compile(r"^\| (`[^|]+`) \|(.*)\|$", re.M)


def readme_rows(suite: str) -> dict[str, list[str]]:
    """The check table of a suite's README section: check id -> the row's other cells."""
    section = README.split(f"### {suite.capitalize()} suite", 1)[1]
    table = section.split("\n| check", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for first, rest in ROW.findall(table):
        cells = [cell.strip() for cell in rest.split("|")]
        for name in re.findall(r"`([^`]+)`", first):
            check_id = name if name.startswith(f"{suite}.") else f"{suite}.{name}"
            if check_id in CATALOGUE or name.startswith(f"{suite}."):
                rows[check_id] = cells
    return rows


@pytest.mark.parametrize("suite", ["health", "login", "db", "rls", "metrics"])
def test_the_readme_tables_match_the_catalogues(suite: str) -> None:
    rows = readme_rows(suite)
    checks: dict[str, Check] = {c.id: c for c in CATALOGUE.values() if c.suite == suite}
    assert sorted(rows) == sorted(checks)
    for check_id, cells in rows.items():
        check = checks[check_id]
        text = " | ".join(cells)
        severity = cells[-2]
        if check.gated:
            assert "via its gate" in severity, check_id
        words = re.findall(r"\b(critical|major|minor)\b", severity)
        assert words in ([], [check.severity.value]), (check_id, severity)
        if len(cells) == 3:  # the db table says the phase
            assert cells[0] == ", ".join(p.value for p in check.phases), check_id
        mentioned = set(re.findall(r"`\[?([a-z][a-z0-9_-]*)\]?`", text))
        codes = {c.name for c in check.codes} | {c.name for _, c in CATALOGUE.codes()}
        assert [m for m in mentioned if "-" in m and m not in codes] == [], check_id
