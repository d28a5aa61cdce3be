"""The one redaction step, and safe file names (pure logic)."""

from __future__ import annotations

import html
import json
import re
import xml.sax.saxutils
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from pytest_deploycheck.core.artifacts import artifact_path, safe_name
from pytest_deploycheck.core.redact import Redactor, inert, markdown_text, one_line, sql_masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: ***"),
        ("token bearer eyJhbGciOiJIUzI1NiJ9.x", "token bearer ***"),
        ("host=db password=s3cr3t dbname=x", "host=db password=*** dbname=x"),
        (
            "ALTER ROLE app ENCRYPTED PASSWORD 'it''s s3cr3t'",
            "ALTER ROLE app ENCRYPTED PASSWORD ***",
        ),
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


def test_control_characters_become_visible_escapes() -> None:
    hostile = "a\x1b[31mred\r\nnext\rover\u202eevil\x00\tend\n"
    assert inert(hostile) == "a\\x1b[31mred\nnext\\rover\\u202eevil\\x00\tend\n"
    assert Redactor(["red"])(hostile).startswith("a\\x1b[31m***\n")
    assert one_line("first\nsecond\x1b") == "first\\nsecond\\x1b"


def test_markdown_text_renders_as_the_same_text() -> None:
    assert markdown_text("<script>x</script> | `y`\n") == (
        "&lt;script&gt;x&lt;/script&gt; \\| \\`y\\`\\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("failure.png", "failure.png"),
        ("../../etc/passwd", r"etc-passwd-[0-9a-f]{8}"),
        ("..", r"artifact-[0-9a-f]{8}"),
        ("a/b\\c.zip", r"a-b-c-[0-9a-f]{8}\.zip"),
        ("<script>\x1b[31m.png", r"script-31m-[0-9a-f]{8}\.png"),
        ("x" * 200 + ".zip", r"x{80}-[0-9a-f]{8}\.zip"),
    ],
)
def test_artifact_names_are_plain_file_names(text: str, expected: str, tmp_path: Path) -> None:
    name = safe_name(text)
    assert re.fullmatch(expected, name)
    path = artifact_path(tmp_path, "..", text)
    assert path.parent.parent == tmp_path
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_different_texts_keep_different_names() -> None:
    assert safe_name("a/b") != safe_name("a:b")


SPECIAL = "p@ss w0rd/&\"é\\'%+"


@pytest.mark.parametrize(
    "written",
    [
        SPECIAL,
        json.dumps(SPECIAL),
        json.dumps(SPECIAL, ensure_ascii=False),
        repr(SPECIAL),
        repr(SPECIAL.encode()),
        quote(SPECIAL, safe=""),
        quote(SPECIAL),
        quote_plus(SPECIAL),
        html.escape(SPECIAL),
        html.escape(SPECIAL, quote=False),
        xml.sax.saxutils.quoteattr(SPECIAL),
        SPECIAL.encode("ascii", "xmlcharrefreplace").decode(),
        json.dumps(repr(SPECIAL)),  # a repr inside a JSON result
        html.escape(repr(SPECIAL), quote=False),  # a repr inside JUnit XML
        json.dumps(json.dumps(SPECIAL)),
    ],
)
def test_every_encoding_of_a_secret_is_masked(written: str) -> None:
    assert "w0rd" not in Redactor([SPECIAL])(f"before {written} after")


def test_a_quoted_dsn_password_is_masked_whole() -> None:
    assert (
        Redactor()("host=db password='Spaced Secret99' user=checker")
        == "host=db password=*** user=checker"
    )


def test_keys_are_redacted_as_well_as_values() -> None:
    document = {"statements": {"ALTER ROLE x PASSWORD 'pw'": {"calls": 1}, "abc key": "abc"}}
    assert Redactor(["abc"]).deep(document) == {
        "statements": {"ALTER ROLE x PASSWORD ***": {"calls": 1}, "*** key": "***"}
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ALTER ROLE checker PASSWORD 'Sup3r'", "ALTER ROLE checker PASSWORD '***'"),
        ("SELECT pgp_sym_encrypt(card, 'k3y')", "SELECT pgp_sym_encrypt(card, '***')"),
        ("SELECT dblink_connect('host=h password=pw')", "SELECT dblink_connect('***')"),
        (
            "SELECT E'a\\'b', 'it''s' FROM t WHERE id = $1",
            "SELECT '***', '***' FROM t WHERE id = $1",
        ),
        ("SELECT $$one$$, $f$ two $$ $f$ + 1", "SELECT '***', '***' + 1"),
        ("SELECT 'cut off by left(query, 200", "SELECT '***'"),
        ('SELECT "Quoted Name" FROM t', 'SELECT "Quoted Name" FROM t'),
    ],
)
def test_literals_of_sql_text_are_masked(text: str, expected: str) -> None:
    assert sql_masked(text) == expected
