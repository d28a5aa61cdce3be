"""The one redaction step (pure logic)."""

from __future__ import annotations

import pytest

from pytest_deploycheck.redact import Redactor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: ***"),
        ("token bearer eyJhbGciOiJIUzI1NiJ9.x", "token bearer ***"),
        ("host=db password=s3cr3t dbname=x", "host=db password=*** dbname=x"),
        ("https://example.com/api/health", "https://example.com/api/health"),
        ("", ""),
    ],
)
def test_credential_shapes(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_known_secrets_longest_first() -> None:
    redact = Redactor(["abc", "abcdef"])
    assert redact("x abcdef y abc") == "x *** y ***"


def test_secrets_with_regex_characters() -> None:
    assert Redactor(["p@ss.w(o)rd*"])("login p@ss.w(o)rd* ok") == "login *** ok"


def test_deep_structures() -> None:
    redact = Redactor(["hunter2"])
    assert redact.deep({"a": ["hunter2", 1, None], "b": {"c": "x hunter2"}}) == {
        "a": ["***", 1, None],
        "b": {"c": "x ***"},
    }


def test_encoded_forms_of_a_secret() -> None:
    redact = Redactor(['p@ss w"rd<'])
    assert redact("password=p%40ss+w%22rd%3C&x=1") == "password=*** &x=1".replace(" ", "")
    assert redact('{"password": "p@ss w\\"rd<"}') == '{"password": "***"}'
    assert redact("value=p@ss w&quot;rd&lt;") == "value=***"
