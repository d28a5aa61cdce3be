"""No SQL text is built by string formatting anywhere in the shipped code: statements are string
literals or ``psycopg.sql`` compositions, so a name or value from the target can only ever be
an identifier or a literal. Read from the source, so new code is held to it too."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [
    *sorted((ROOT / "pytest_deploycheck").rglob("*.py")),
    *sorted((ROOT / "suites").rglob("*.py")),
]
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|FROM|WHERE|SET|RESET|ALTER|CREATE|DROP|COPY"
    r"|GRANT|REVOKE|JOIN|BEGIN|ROLLBACK|EXECUTE)\b"
)
# The places where text from the catalog becomes SQL: an expression PostgreSQL deparsed
# itself, and an operator's name, which holds operator characters only (see the docstrings).
SQL_FROM_TEXT_ALLOWED = {
    ("pytest_deploycheck/net/postgres.py", "deparsed"),
    ("pytest_deploycheck/net/postgres.py", "operator"),
}


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to a string literal (the queries)."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.constants = _constants(tree)

    def text(self, node: ast.AST) -> str | None:
        """The string a node stands for: a literal, or a module constant's literal."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        return None

    def sql(self, node: ast.AST) -> bool:
        """Whether SQL words appear in the literals inside ``node``, or the constants it names."""
        texts = [self.text(n) for n in ast.walk(node)]
        return any(t is not None and SQL_WORDS.search(t) for t in texts)


def _is_sql_call(node: ast.Call) -> bool:
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "SQL") or (
        isinstance(func, ast.Name) and func.id == "SQL"
    )


def violations(source: str, filename: str) -> Iterator[str]:
    """Where ``source`` builds SQL by formatting strings, or wraps non-literal text as SQL."""
    tree = ast.parse(source)
    check = _Checker(tree)
    functions = {
        child: node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for child in ast.walk(node)
    }
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.JoinedStr) and check.sql(node):
            yield f"{where}: SQL in an f-string"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if check.text(node.left) is not None and check.sql(node.left):
                yield f"{where}: SQL formatted with %"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            if any(check.sql(s) for s in sides) and not all(
                check.text(s) is not None for s in sides
            ):
                yield f"{where}: SQL concatenated with a value"
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "format"
                and check.text(func.value) is not None
                and check.sql(func.value)
            ):
                yield f"{where}: SQL formatted with str.format"
            literal = all(isinstance(a, ast.Constant) for a in node.args)
            allowed = (filename, functions.get(node)) in SQL_FROM_TEXT_ALLOWED
            if _is_sql_call(node) and not literal and not allowed:
                yield f"{where}: sql.SQL() of text that is not a literal"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sql_is_built_from_strings(path: Path) -> None:
    assert list(violations(path.read_text(), str(path.relative_to(ROOT)))) == []


@pytest.mark.parametrize(
    "source",
    [
        'conn.execute(f"SELECT * FROM {table}")',
        'conn.execute("DELETE FROM %s" % table)',
        'conn.execute("UPDATE {} SET x = 1".format(table))',
        'conn.execute("SELECT 1 FROM " + table)',
        "conn.execute(sql.SQL(name))",
        "query = sql.SQL(f'SELECT {x}')",
        'QUERY = "SELECT * FROM {t}"\nconn.execute(QUERY.format(t=table))',
        'QUERY = "SELECT * FROM t WHERE %s"\nconn.execute(QUERY % condition)',
        'QUERY = "SELECT * FROM t"\nconn.execute(f"{QUERY} LIMIT {n}")',
        "conn.execute(sql.SQL(QUERY))",
    ],
)
def test_the_source_check_catches_each_form(source: str) -> None:
    assert list(violations(source, "example.py")) != []


@pytest.mark.parametrize(
    "source",
    [
        'conn.execute("SELECT * FROM t WHERE id = %s", (value,))',
        'sql.SQL("SELECT * FROM {} WHERE {} = %s").format(sql.Identifier(t), sql.Identifier(c))',
        'A = "WHERE true"\nQUERY = "SELECT 1 " + A',
        'message = f"table {name} has no policy"',
    ],
)
def test_the_source_check_allows_composition(source: str) -> None:
    assert list(violations(source, "example.py")) == []
