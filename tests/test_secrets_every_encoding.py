"""Secrets never leak, in any encoding: a password every encoder treats specially, used by
every suite of a failing run written out every way pytest and its plugins write (``-l``
locals, ``--tb=long``, ``-rA``, JUnit XML, Allure results, traces, screenshots, the sign-off,
the job summary, the postmortem). Every file and every zip member is searched for every form
the password takes. Credentials in a base URL are refused before anything prints them."""

from __future__ import annotations

import shutil
from typing import Any

import psycopg
import pytest

from examples.demo_app.database import MIGRATIONS
from pytest_deploycheck.cli import main
from tests.conftest import DJANGO_PASSWORD, file_holds
from tests.served import Site

CONFIG = """
artifacts = "artifacts"
[targets.leak]
base_url = "${LEAK_BASE_URL}"
db_url = "${LEAK_DB_URL}"
[targets.leak.credentials]
username = "smoke"
password = "${LEAK_PASSWORD}"
[targets.leak.suites.health]
paths = ["/no-such-health/"]
[targets.leak.suites.login]
modes = ["browser", "api"]
login_url = "/admin/login/"
logout_selector = "#no-such-control"
api_logout_url = "/admin/no-such-logout/"
[targets.leak.suites.db]
migrations_dir = "migrations"
"""
LEAKY = """
def test_locals_hold_the_password(deploy_target, deploy_record):
    password = deploy_target.credentials["password"].reveal()
    as_bytes = password.encode()
    print("printed:", password, repr(password), as_bytes)
    deploy_record.attach("echo", repr(password) + " " + password)
    assert password == "", f"compared {password!r}"
"""


# Every textual encoding keeps letters and digits as they are (URL, form, JSON, repr, HTML
# and XML entities, any of them inside another): a form of the password is wherever this
# part of it is. Base64 alone hides it, and is searched for as itself.
CORE = "w0rd"


def basic_auth() -> str:
    import base64

    return base64.b64encode(f"smoke:{DJANGO_PASSWORD}".encode()).decode()


def leaks(text: str) -> bool:
    return CORE in text or basic_auth() in text


def test_a_failing_run_of_every_suite_leaks_no_form_of_the_password(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    django_admin: Site,
    supa: dict[str, Any],
) -> None:
    supa["admin"].execute("ALTER TABLE notes DISABLE ROW LEVEL SECURITY")  # an rls failure
    migrations = pytester.path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    (migrations / "20991231000000_pending.sql").write_text("SELECT 1;\n")  # a db failure
    # A key/value DSN whose password libpq must quote: spaces, quotes, a backslash.
    dsn = psycopg.conninfo.make_conninfo(supa["checker"], password=DJANGO_PASSWORD)
    assert "password='" in dsn
    pytester.makefile(".toml", deploycheck=CONFIG)
    pytester.makepyfile(test_leaky=LEAKY)
    monkeypatch.setenv("LEAK_BASE_URL", django_admin.base_url)
    monkeypatch.setenv("LEAK_DB_URL", dsn)
    monkeypatch.setenv("LEAK_PASSWORD", DJANGO_PASSWORD)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))
    result = pytester.runpytest_subprocess(
        "--deploy-target=leak",
        "--deploy-suites=all",
        "test_leaky.py",
        f"--alluredir={pytester.path / 'allure'}",
        "--junitxml=junit.xml",
        "-l",
        "--tb=long",
        "-rA",
    )
    assert result.ret == 20, result.stdout.str()[-3000:]
    main(["postmortem", str(pytester.path / "deploycheck-signoff.json"), "-o", "postmortem.md"])
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix != ".py"]
    kinds = {p.suffix for p in written}
    assert kinds >= {".json", ".xml", ".md", ".png", ".zip", ".properties"}, kinds
    assert [p.name for p in written if p.name.startswith("trace-")], "no trace was kept"
    assert CORE in DJANGO_PASSWORD
    assert not leaks(result.stdout.str() + result.stderr.str())
    held = [p.name for p in written if file_holds(p, CORE) or file_holds(p, basic_auth())]
    assert held == []


@pytest.mark.parametrize(
    "given",
    [
        ("--base-url", "http://smoke:{password}@127.0.0.1:9/"),
        ("env", "http://smoke:{password}@127.0.0.1:9/"),
    ],
    ids=["option", "config-reference"],
)
def test_credentials_in_a_base_url_are_refused_before_anything_prints_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: tuple[str, str]
) -> None:
    from urllib.parse import quote

    url = given[1].format(password=quote(DJANGO_PASSWORD, safe=""))
    monkeypatch.setenv("LEAK_PASSWORD", DJANGO_PASSWORD)
    if given[0] == "env":
        monkeypatch.setenv("LEAK_BASE_URL", url)
        pytester.makefile(".toml", deploycheck='[targets.t]\nbase_url = "${LEAK_BASE_URL}"\n')
        args = ["--deploy-target=t"]
    else:
        pytester.makefile(".toml", deploycheck="[targets.t]\n")
        args = ["--deploy-target=t", f"--base-url={url}"]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 4
    output = result.stdout.str() + result.stderr.str()
    assert "the base URL holds credentials" in output
    assert not leaks(output)
    assert "Traceback" not in output
