"""Least privilege: the README's checking role runs the db and rls suites to GO on a healthy
Supabase-style database, and a superuser session on production holds the deployment."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck.discover.render import CHECKING_ROLE_SQL
from tests.conftest import Deploy

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_role_sql() -> str:
    """The SQL block of the README's "Security model" section."""
    section = README.read_text().split("## Security model", 1)[1]
    match = re.search(r"```sql\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_init_suggests_the_readmes_role() -> None:
    assert readme_role_sql() == CHECKING_ROLE_SQL


@pytest.fixture
def checking_role(supa: dict[str, Any], pg_admin: str) -> Iterator[str]:
    """A role made by running the README's SQL (under a unique name); its DSN."""
    role = f"deploycheck_{uuid.uuid4().hex[:8]}"
    text = readme_role_sql().replace("deploycheck", role)
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(text)
    yield psycopg.conninfo.make_conninfo(supa["admin_url"], user=role)
    supa["admin"].execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


CONFIG = """[targets.prod]
production = true
{extra}
[targets.prod.suites.db]
confirm_backups = false  # the platform's, confirmed elsewhere: the least-privileged role here
[targets.prod.suites.rls]
public_tables = ["public.announcements"]
"""


def run(deploy: Deploy, dsn: str, *args: str, extra: str = "") -> dict[str, Any]:
    config = CONFIG.format(extra=extra)
    suites = ("--deploy-target=prod", "--deploy-suites=db,rls", f"--deploy-db-url={dsn}")
    return deploy(*suites, *args, config=config).signoff


def test_the_readme_role_checks_production_to_go(deploy: Deploy, checking_role: str) -> None:
    document = run(deploy, checking_role, "--deploy-allow-destructive")
    assert document["verdict"] == "GO", document["reasons"]
    outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
    assert outcomes["rls.write_probes"] == outcomes["db.fk_orphans"] == "passed"


def test_a_superuser_on_production_holds_unless_allowed(
    deploy: Deploy, supa: dict[str, Any]
) -> None:
    superuser = supa["admin_url"]
    [(name,)] = supa["admin"].execute("SELECT session_user::text").fetchall()
    held = run(deploy, superuser, "--deploy-phase=immediate")
    assert held["verdict"] == "HOLD"
    assert [r for r in held["reasons"] if "superuser" in r] == [
        f"[db-superuser] the checks connected to production as superuser {name}: connect as the"
        " least-privileged checking role (README: Security model), or set"
        " allow_db_superuser = true on target prod"
    ]
    allowed = run(
        deploy,
        superuser,
        "--deploy-phase=immediate",
        extra="allow_db_superuser = true",
    )
    assert allowed["verdict"] == "GO", allowed["reasons"]


def test_a_superuser_is_reported_from_xdist_workers(deploy: Deploy, supa: dict[str, Any]) -> None:
    args = ("--deploy-target=prod", "--deploy-suites=db", "--deploy-phase=immediate")
    url = f"--deploy-db-url={supa['admin_url']}"
    config = CONFIG.format(extra="")
    document = deploy(*args, url, "-n", "2", config=config, subprocess=True).signoff
    assert document["verdict"] == "HOLD"
    assert [r for r in document["reasons"] if r.startswith("[db-superuser]")] != []
