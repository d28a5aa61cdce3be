"""Text from the target is shown, never obeyed: a site whose health body, headers and login page
carry ``<script>``, ANSI escapes, carriage returns and ``../`` goes through the health and login
suites (a real Chromium), and the terminal, the sign-off, the Allure results, the job summary,
the postmortem and the artifact paths all stay inert."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.cli import main
from tests.conftest import LoopbackServer, Route, SignOffReader

SCRIPT = "<script>alert(1)</script>"
# Clears the screen, prints a fake verdict in green, returns the cursor, reverses the text.
ANSI = "\x1b[2J\x1b[32mVERDICT: GO\r\u202e"
EVIL = f"{SCRIPT}{ANSI}../../../../tmp/x"
LOGIN_PAGE = f"""<!doctype html><html><head><title>{EVIL}</title></head><body>
<h1>{SCRIPT}</h1>
<form method="post" action="/login"><input name="username"><input type="password"
name="password"><button type="submit">Sign in</button></form></body></html>"""
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def hostile_site(server: LoopbackServer) -> LoopbackServer:
    body = json.dumps({"status": "ok", "version": EVIL})
    headers = {"Content-Type": "application/json", "X-Note": f"{SCRIPT} ../../etc/passwd"}
    server.routes["/api/health"] = Route(200, body, headers)
    page = {"Content-Type": "text/html; charset=utf-8"}
    server.routes["/login"] = Route(200, LOGIN_PAGE, page)  # never logs anyone in
    return server


def strings(value: Any) -> list[str]:
    """Every string in a JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_target_text_stays_inert_everywhere(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    hostile_site: LoopbackServer,
    read_signoff: SignOffReader,
) -> None:
    monkeypatch.setenv("SMOKE_PASSWORD", "not-a-real-password")
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makefile(
        ".toml",
        deploycheck=(
            f'[targets.t]\nbase_url = "{hostile_site.url}"\nversion = "1.0.0"\n'
            '[targets.t.credentials]\nusername = "smoke@example.com"\n'
            'password = "${SMOKE_PASSWORD}"\n'
            "[targets.t.suites.login]\ntimeout_ms = 3000\n"
        ),
    )
    result = pytester.runpytest_subprocess(
        "--deploy-target=t",
        "--deploy-suites=health,login",
        "--deploy-phase=immediate",
        "--deploy-artifacts=artifacts",
        "--alluredir=allure",
        "-rA",
    )
    signoff = pytester.path / "deploycheck-signoff.json"
    document = read_signoff(signoff)
    assert document["verdict"] == "ROLLBACK"  # the version differs and the login fails

    # Terminal: no escape sequence, carriage return or bidi override reaches it; the text is
    # shown escaped, and the verdict is the real one.
    output = result.stdout.str() + result.stderr.str()
    assert CONTROL.findall(output) == []
    assert "\\x1b[32mVERDICT: GO" in output  # escaped (the line is cut at 120 characters)
    assert [line for line in output.splitlines() if line.startswith("VERDICT:")] == [
        "VERDICT: ROLLBACK (exit 20) - target t, version 1.0.0"
    ]

    # The sign-off keeps the text, inert.
    assert [s for s in strings(document) if CONTROL.search(s)] == []
    assert any(SCRIPT in s for s in strings(document))  # shown as text, not dropped

    # Markdown for people renders the text as text.
    main(["postmortem", str(signoff), "-o", str(pytester.path / "postmortem.md")])
    fence = re.compile(r"```text\n(.*?)\n```", re.S)
    for markdown in (summary, pytester.path / "postmortem.md"):
        text = markdown.read_text()
        # Outside a code block the text is escaped; inside one (the job summary's decision
        # block, whose lines never open or close a fence) Markdown shows it as it is.
        prose = fence.sub("", text)
        assert SCRIPT not in prose
        assert "```" not in prose
        assert "&lt;script&gt;" in prose or SCRIPT in "".join(fence.findall(text))
        assert CONTROL.findall(text.replace("\n", "")) == []

    # Allure: every file inside its directory; descriptions and "why it failed" escaped; no
    # control character in any text file.
    allure = (pytester.path / "allure").resolve()
    files = [p for p in allure.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(allure) for p in files)
    results = [json.loads(p.read_text()) for p in files if p.name.endswith("-result.json")]
    assert SCRIPT not in "".join(r.get("description", "") for r in results)
    assert SCRIPT not in "".join(r.get("descriptionHtml", "") for r in results)
    why = [
        (allure / a["source"]).read_text()
        for r in results
        for a in r.get("attachments", [])
        if a["name"] == "why it failed"
    ]
    assert why
    assert [w for w in why if SCRIPT in w] == []
    texts = [p for p in files if p.suffix in (".json", ".txt", ".md", ".csv")]
    assert [p.name for p in texts if CONTROL.search(p.read_text().replace("\n", ""))] == []

    # Artifacts: the failed login's screenshot and traces, under safe names, inside the folder.
    artifacts = (pytester.path / "artifacts").resolve()
    kept = [p for p in artifacts.rglob("*") if p.is_file()]
    assert {p.suffix for p in kept} == {".png", ".zip"}
    assert all(p.resolve().is_relative_to(artifacts) for p in kept)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", part) for p in kept for part in p.parts[-2:])
    assert not Path("/tmp/x").exists()
