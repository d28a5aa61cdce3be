"""A tenant that writes code and files into what the gate reads, and waits for the gate to run
them with the checking role's rights: a CHECK constraint that reads what the tenant may not and
copies it out through a channel no rollback undoes, an operator standing in for ``=``, defaults
and triggers that move sequences under the write probes, a migrations folder with a FIFO and
symlinks out of it. Each bait is shown to work; then the suites run, as the README's checking
role, and the loot table stays empty, every sequence stays where it was, nothing blocks.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.db.migration_files import read_folder
from pytest_deploycheck.net.postgres import connect_readonly
from pytest_deploycheck.rls import evidence, rules
from pytest_deploycheck.rls.identities import identities
from pytest_deploycheck.rls.reads import read_all
from pytest_deploycheck.rls.settings import RlsSettings
from pytest_deploycheck.rls.writes import write_all
from tests.conftest import SignOffReader, database_state

HASH = "$2a$10$tenantcannotreadthishash0123456789abcdefghijklmnop"
BAIT = """
CREATE EXTENSION dblink;
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text,
                         encrypted_password text);
INSERT INTO auth.users (email, encrypted_password) VALUES ('alice@example.com', {hash});
CREATE SCHEMA tenant AUTHORIZATION {tenant};
GRANT CREATE ON SCHEMA public TO {tenant};
-- A channel out of any transaction, as dblink with a password is in production: a write in
-- a session of its own, which no rollback of the caller's undoes.
CREATE FUNCTION public.keep(text) RETURNS void SECURITY DEFINER LANGUAGE sql AS $$
  SELECT dblink_exec({connection}, 'INSERT INTO tenant.loot VALUES (' || quote_literal($1) || ')')
$$;
GRANT EXECUTE ON FUNCTION public.keep(text) TO {tenant};
SET ROLE {tenant};
CREATE TABLE tenant.loot (taken text);
-- Whatever the caller may read of auth.users, kept for the tenant.
CREATE FUNCTION tenant.take() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.keep(coalesce((SELECT string_agg(encrypted_password, ',') FROM auth.users),
                               'none'));
  RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
  PERFORM public.keep('denied to ' || current_user);
  RETURN true;
END $$;
CREATE FUNCTION tenant.chk(x int) RETURNS boolean LANGUAGE sql AS 'SELECT tenant.take()';
CREATE TABLE tenant.data (x int);
INSERT INTO tenant.data VALUES (1), (2);
ALTER TABLE tenant.data ADD CONSTRAINT data_x_check CHECK (tenant.chk(x)) NOT VALID;
-- An operator for varchar = varchar: an exact match, so it wins over pg_catalog's text = text.
CREATE FUNCTION public.eq(varchar, varchar) RETURNS boolean LANGUAGE sql
  AS 'SELECT tenant.take() AND $1::text = $2::text';
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.eq);
CREATE TABLE tenant.parent (k varchar PRIMARY KEY);
CREATE TABLE tenant.child (k varchar REFERENCES tenant.parent);
INSERT INTO tenant.parent VALUES ('a');
INSERT INTO tenant.child VALUES ('a');
RESET ROLE;
"""


@dataclass
class Tenancy:
    admin: psycopg.Connection[Any]
    checker: str  # the checking role's DSN
    checker_role: str
    tenant: str

    def loot(self) -> list[str]:
        return [row[0] for row in self.admin.execute("SELECT taken FROM tenant.loot")]

    def as_checker(self, statement: str) -> None:
        """Run ``statement`` with the checking role's rights, as the gate would."""
        with psycopg.connect(self.checker, autocommit=True) as conn:
            conn.execute(statement)


@pytest.fixture
def tenancy(pg_admin: str, pg_database: str) -> Iterator[Tenancy]:
    """A database with a hostile tenant, and the README's checking role."""
    suffix = uuid.uuid4().hex[:8]
    tenant, checker = f"tenant_{suffix}", f"checker_{suffix}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(tenant)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS").format(sql.Identifier(checker)))
        conn.execute(
            sql.SQL("GRANT pg_read_all_data, pg_monitor TO {}").format(sql.Identifier(checker))
        )
    params = psycopg.conninfo.conninfo_to_dict(pg_database)
    connection = " ".join(f"{k}={v}" for k, v in params.items() if k in ("host", "port", "dbname"))
    connection += f" user={params.get('user', 'postgres')}"
    try:
        with psycopg.connect(pg_database, autocommit=True) as admin:
            if not admin.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'dblink'"
            ).fetchone():
                pytest.skip("dblink is not available on this server")
            admin.execute(
                sql.SQL(BAIT).format(
                    hash=sql.Literal(HASH),
                    tenant=sql.Identifier(tenant),
                    connection=sql.Literal(connection),
                )
            )
            yield Tenancy(
                admin, psycopg.conninfo.make_conninfo(pg_database, user=checker), checker, tenant
            )
    finally:
        names = sql.SQL(", ").join(map(sql.Identifier, (tenant, checker)))
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(names))
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            for role in (tenant, checker):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def db_run(pytester: pytest.Pytester, dsn: str, phase: str) -> None:
    pytester.makefile(".toml", deploycheck="[targets.t.suites.db]\n")
    pytester.runpytest(
        "--deploy-target=t",
        "--deploy-suites=db",
        f"--deploy-db-url={dsn}",
        f"--deploy-phase={phase}",
    )


def checks(pytester: pytest.Pytester, read_signoff: SignOffReader) -> dict[str, Any]:
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert HASH not in str(document)
    return {check["id"]: check for check in document["checks"]}


def test_a_tenants_check_constraint_never_runs_with_the_checkers_rights(
    tenancy: Tenancy, pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    tenancy.as_checker("SELECT tenant.chk(1)")  # the bait works: run as the checker, it steals
    assert tenancy.loot() == [HASH]
    tenancy.admin.execute("TRUNCATE tenant.loot")

    db_run(pytester, tenancy.checker, "standard")
    assert tenancy.loot() == []
    check = checks(pytester, read_signoff)["db.check_violations"]
    assert check["outcome"] == "error"  # could not check: never a pass on what it did not see
    assert check["message"].startswith(
        "[check-not-evaluated] tenant.data.data_x_check calls tenant.chk(integer):"
    )


def test_acknowledged_unevaluated_checks_leave_the_rest_checked(
    tenancy: Tenancy, pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    pytester.makefile(
        ".toml",
        deploycheck='[targets.t.suites.db]\nunevaluated_checks = ["tenant.data.data_x_check"]\n',
    )
    pytester.runpytest(
        "--deploy-target=t",
        "--deploy-suites=db",
        f"--deploy-db-url={tenancy.checker}",
        "--deploy-phase=standard",
    )
    assert tenancy.loot() == []
    assert checks(pytester, read_signoff)["db.check_violations"]["outcome"] == "passed"


def test_as_the_tables_owner_a_check_runs_with_the_owners_rights_only(
    tenancy: Tenancy, pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    roles = sql.Identifier(tenancy.tenant), sql.Identifier(tenancy.checker_role)
    tenancy.admin.execute(sql.SQL("GRANT {} TO {}").format(*roles))
    db_run(pytester, tenancy.checker, "standard")
    # It ran, as the tenant: what the tenant may read of auth.users is nothing.
    assert set(tenancy.loot()) == {f"denied to {tenancy.tenant}"}
    check = checks(pytester, read_signoff)["db.check_violations"]
    assert check["outcome"] == "passed"  # evaluated: every row keeps the constraint


def test_a_tenants_operator_never_stands_in_for_the_foreign_keys_own(
    tenancy: Tenancy, pytester: pytest.Pytester, read_signoff: SignOffReader
) -> None:
    tenancy.as_checker("SELECT 'a'::varchar = 'a'::varchar")  # the bait works
    assert tenancy.loot() == [HASH]
    tenancy.admin.execute("TRUNCATE tenant.loot")

    db_run(pytester, tenancy.checker, "standard")
    assert tenancy.loot() == []
    assert checks(pytester, read_signoff)["db.fk_orphans"]["outcome"] == "passed"


# Tables whose writes would advance a sequence however they are rolled back: a default that
# calls nextval inside an expression, a BEFORE INSERT trigger that calls it, an AFTER UPDATE
# trigger that logs through a helper into a table with a serial key. Each table lets any
# signed-in user write any row, so the write probes really go through where they run.
SEQUENCED = """
CREATE SEQUENCE public.ticket_codes;
CREATE SEQUENCE public.stamps;
CREATE TABLE public.audit (id bigserial PRIMARY KEY, what text);
CREATE FUNCTION public.log_change(text) RETURNS void SECURITY DEFINER LANGUAGE sql
  AS 'INSERT INTO public.audit (what) VALUES ($1)';
CREATE FUNCTION public.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM public.log_change(TG_TABLE_NAME); RETURN NEW; END $$;
CREATE FUNCTION public.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM nextval('public.stamps'); RETURN NEW; END $$;
CREATE TABLE public.tickets (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  owner_id uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id),
  code text NOT NULL DEFAULT 'T-' || nextval('public.ticket_codes'),
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE public.stamped (LIKE public.tickets INCLUDING DEFAULTS INCLUDING IDENTITY);
CREATE TABLE public.audited (LIKE public.tickets INCLUDING DEFAULTS INCLUDING IDENTITY);
-- What real projects put on their tables, and advances nothing: an updated_at trigger.
CREATE FUNCTION public.handle_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER tickets_updated_at BEFORE UPDATE ON public.tickets
  FOR EACH ROW EXECUTE FUNCTION public.handle_updated_at();
CREATE TRIGGER stamped_stamp BEFORE INSERT ON public.stamped
  FOR EACH ROW EXECUTE FUNCTION public.stamp();
CREATE TRIGGER audited_log AFTER INSERT OR UPDATE OR DELETE ON public.audited
  FOR EACH ROW EXECUTE FUNCTION public.audit_row();
"""
OPEN_TO_SIGNED_IN = """
ALTER TABLE public.{t} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {t}_read ON public.{t} FOR SELECT TO authenticated USING (true);
CREATE POLICY {t}_write ON public.{t} FOR ALL TO authenticated USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.{t} TO authenticated;
INSERT INTO public.{t} (owner_id) SELECT id FROM auth.users ORDER BY created_at LIMIT 2;
"""


def test_write_probes_advance_no_sequence(supa: dict[str, Any]) -> None:
    admin = supa["admin"]
    admin.execute(SEQUENCED)
    for table in ("tickets", "stamped", "audited"):
        admin.execute(OPEN_TO_SIGNED_IN.format(t=table))
    with admin.transaction(force_rollback=True):  # the bait: a rolled-back write moves them
        admin.execute(
            "INSERT INTO public.stamped (id, owner_id, code)"
            " SELECT 0, owner_id, 'x' FROM public.stamped LIMIT 1"
        )
        admin.execute("UPDATE public.audited SET code = code")
    moved = {
        s: admin.execute(sql.SQL("SELECT last_value FROM {}").format(sql.Identifier(s))).fetchone()
        for s in ("stamps", "audit_id_seq")
    }
    # 2 rows stamped, then 1 more; 2 rows logged as inserted, then 2 as updated
    assert moved == {"stamps": (3,), "audit_id_seq": (4,)}

    before = database_state(admin)
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        settings = RlsSettings()
        schemas, _ = rules.exposed_schemas(conn, settings)
        tables = evidence.exposed_tables(conn, settings, schemas)
        who = identities(conn, settings)
        reads = read_all(conn, settings, tables, who)
        writes = write_all(conn, settings, tables, who, reads)
        audited = [t for t in tables if t.name == "public.audited"]
        blind = write_all(conn, settings, audited, who, reads)
    finally:
        conn.close()
    assert database_state(admin) == before  # every sequence: its value, and whether called
    # Where it was safe the probes ran, and found the holes; elsewhere they said why not.
    holes = {(f.rule, f.object) for f in writes.result.findings}
    assert ("cross_user_insert_as_other", "public.tickets") in holes
    assert ("cross_user_update_others", "public.stamped") in holes
    assert not {h for h in holes if h[1] == "public.audited" and "update" in h[0]}
    assert set(writes.not_tried["public.stamped"].values()) == {
        "trigger stamped_stamp may advance a sequence"
    }
    assert set(writes.not_tried["public.audited"].values()) == {
        "trigger audited_log may advance a sequence"
    }
    # Where no write at all could be tried, the probes saw nothing: never a pass.
    assert blind.result.undecided == (
        "writes-not-tried",
        "no write could be tried without advancing a sequence:"
        " public.audited: trigger audited_log may advance a sequence",
    )
    assert writes.result.undecided is None
    assert writes.not_tried["public.tickets"] == {}  # its updated_at trigger advances nothing
    assert ("cross_user_update_others", "public.tickets") in holes


# -- the target's repository: a migrations folder built to block or mislead the gate --------


def _blocks(path: Path) -> threading.Thread:
    """A plain read of ``path`` in a thread of its own: still running while the read blocks."""
    reader = threading.Thread(target=path.read_bytes, daemon=True)
    reader.start()
    reader.join(0.5)
    return reader


def test_a_fifo_in_the_migrations_folder_blocks_nothing(
    tmp_path: Path, pytester: pytest.Pytester, pg_database: str, read_signoff: SignOffReader
) -> None:
    migrations = tmp_path / "shop" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(
        "from django.db import migrations\n\nclass Migration(migrations.Migration):\n"
        "    initial = True\n    dependencies = []\n    operations = []\n"
    )
    fifo = migrations / "0002_more.py"
    os.mkfifo(fifo)
    blocked = _blocks(fifo)  # the bait works: reading it as a file waits for ever
    assert blocked.is_alive()
    try:
        found = read_folder(tmp_path, "django")  # returns: nothing read from the FIFO
        assert found.unread == {
            "shop/migrations/0002_more.py": "a FIFO, not a regular file: not read"
        }
        assert found.versions == {"shop.0001_initial"}
        config = (
            f'[targets.t.suites.db]\nmigrations_dir = "{tmp_path}"\nmigration_tool = "django"\n'
        )
        pytester.makefile(".toml", deploycheck=config)
        pytester.runpytest(
            "--deploy-target=t",
            "--deploy-suites=db",
            f"--deploy-db-url={pg_database}",
            "--deploy-phase=pre_deploy",
        )
        document = read_signoff(pytester.path / "deploycheck-signoff.json")
        [advisory] = [a for a in document["advisories"] if "migration_file_unread" in a]
        assert "shop/migrations/0002_more.py was not read: a FIFO" in advisory
    finally:
        with open(fifo, "wb"):  # let the bait's reader go
            pass
        blocked.join(5)


def test_symlinks_out_of_the_migrations_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "elsewhere").mkdir(parents=True)
    (outside / "elsewhere" / "migration.sql").write_text("DROP TABLE users;\n")
    (outside / "secret.sql").write_text("-- not the project's\n")
    folder = tmp_path / "prisma" / "migrations"
    (folder / "20260110093000_init").mkdir(parents=True)
    (folder / "20260110093000_init" / "migration.sql").symlink_to(outside / "secret.sql")
    (folder / "20260301000000_escape").symlink_to(outside / "elsewhere")
    (folder / "20260201000000_real").mkdir()
    (folder / "20260201000000_real" / "migration.sql").write_text("CREATE TABLE a (id int);\n")
    (folder / "20260202000000_alias").symlink_to(folder / "20260201000000_real")  # stays inside
    assert (folder / "20260301000000_escape" / "migration.sql").read_text()  # the bait is real
    found = read_folder(folder, "prisma")
    leaves = "a symlink that leaves the folder: not followed"
    assert found.unread == {
        "20260110093000_init/migration.sql": leaves,
        "20260301000000_escape": leaves,
    }
    assert found.versions == {"20260110093000_init", "20260201000000_real", "20260202000000_alias"}
    assert set(found.digests) == {"20260201000000_real", "20260202000000_alias"}
