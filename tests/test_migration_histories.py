"""The migrations check on each tool's history as the tool writes it, with a migrations folder
laid out as its projects lay it out: a correct deployment is GO, a pending, failed or dirty
migration is ROLLBACK naming it, an out-of-band one is HOLD, and a file the tool would pass over
is an advisory.

Alembic and Django write their histories here themselves (``alembic upgrade``, ``manage.py
migrate``); Flyway, Prisma, golang-migrate and the Supabase CLI cannot be installed here, so
their tables and folders are laid out as their documentation describes them (cited at each).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.db import migrations
from pytest_deploycheck.db.migration_files import flyway_checksum, prisma_digests, read_folder
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import connect_readonly
from tests.conftest import SignOffReader


@pytest.fixture
def admin(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        yield conn


@pytest.fixture
def reader(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    conn = connect_readonly(pg_database, DbSettings(statement_timeout_ms=5000))
    yield conn
    conn.close()


def judged(
    reader: psycopg.Connection[Any], folder: Path | None, **settings: Any
) -> tuple[str, list[tuple[str, str]]]:
    """The migrations gate's status and its findings, as (rule, object)."""
    if folder is not None:
        settings["migrations_dir"] = str(folder)
    try:
        result = migrations.migrations(reader, DbSuiteSettings.parse(settings))
    finally:
        reader.rollback()
    return result.gates[0].status, [(f.rule, f.object) for f in result.findings]


def ignored(folder: Path, tool: str) -> list[str]:
    """The files the advisory names."""
    return [name for name, _ in read_folder(folder, tool).ignored]


def advised(reader: psycopg.Connection[Any], folder: Path) -> list[tuple[str, str]]:
    """The db.migration_files advisory's findings, as (rule, object)."""
    settings = DbSuiteSettings(migrations_dir=str(folder))
    try:
        result = migrations.folder_advisories(reader, settings, None, 10)
    finally:
        reader.rollback()
    return [(f.rule, f.object) for f in result.findings]


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


GO: tuple[str, list[tuple[str, str]]] = ("pass", [])


# -- Flyway -----------------------------------------------------------------------------------
# Documentation: "Migrations" (naming: V<version>__<description>.sql versioned, U<version>__
# undo, R__<description>.sql repeatable, re-applied when its checksum changes; locations are
# scanned recursively; callbacks such as afterMigrate.sql), "Schema History Table" (the
# flyway_schema_history table below is the one Flyway creates on PostgreSQL), "Baseline".
FLYWAY_TABLE = """CREATE TABLE flyway_schema_history (
    installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), description VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INTEGER,
    installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(),
    execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL)"""
FLYWAY_FILES = {
    "V1.1__create_accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n",
    "V1.9__add_email.sql": "ALTER TABLE accounts ADD COLUMN email text;\n",
    "billing/V1_10__invoices.sql": "CREATE TABLE invoices (id bigint PRIMARY KEY);\n",
    "R__account_view.sql": "CREATE OR REPLACE VIEW account_view AS\r\nSELECT id FROM accounts;\r\n",
    "U1_10__invoices.sql": "DROP TABLE invoices;\n",
    "afterMigrate.sql": "ANALYZE;\n",
}


FLYWAY_ROW = (
    "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script,"
    " checksum, installed_by, execution_time, success) VALUES (%s, %s, %s, %s, %s, %s, 'flyway',"
    " 5, %s)"
)


def flyway_row(
    folder: Path,
    rank: int,
    version: str | None,
    script: str,
    kind: str = "SQL",
    success: bool = True,
) -> tuple[str, tuple[Any, ...]]:
    """A row as Flyway writes it on running ``script`` of ``folder``: with the script's
    checksum (none for a baseline)."""
    path = folder / script
    checksum = flyway_checksum(path.read_bytes()) if path.is_file() else None
    return FLYWAY_ROW, (rank, version, script, kind, script, checksum, success)


@pytest.fixture
def flyway(admin: psycopg.Connection[Any], tmp_path: Path) -> Path:
    """A project baselined at 1 on an existing database, then migrated to 1.10, with a
    repeatable view, an undo script and a callback in its folder."""
    write(tmp_path, FLYWAY_FILES)
    admin.execute(FLYWAY_TABLE)
    for row in [
        flyway_row(tmp_path, 1, "1", "<< Flyway Baseline >>", "BASELINE"),
        flyway_row(tmp_path, 2, "1.1", "V1.1__create_accounts.sql"),
        flyway_row(tmp_path, 3, "1.9", "V1.9__add_email.sql"),
        flyway_row(tmp_path, 4, "1.10", "billing/V1_10__invoices.sql"),
        flyway_row(tmp_path, 5, None, "R__account_view.sql"),
    ]:
        admin.execute(*row)
    return tmp_path


def test_flyway_at_head_is_go(reader: psycopg.Connection[Any], flyway: Path) -> None:
    assert judged(reader, flyway) == GO
    assert ignored(flyway, "flyway") == []  # undo, repeatable, callback: all Flyway's own


def test_flyway_pending_failed_undone_and_out_of_band(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], flyway: Path
) -> None:
    write(flyway, {"V1.11__payments.sql": "CREATE TABLE payments ();\n"})
    assert judged(reader, flyway) == ("rollback", [("migration_pending", "1.11")])
    admin.execute(*flyway_row(flyway, 6, "1.11", "V1.11__payments.sql", success=False))
    assert judged(reader, flyway) == ("rollback", [("migration_failed", "1.11")])
    admin.execute(*flyway_row(flyway, 7, "1.11", "V1.11__payments.sql"))  # repaired and re-run
    assert judged(reader, flyway) == GO
    admin.execute(*flyway_row(flyway, 8, "1.11", "U1.11__payments.sql", "UNDO_SQL"))
    assert judged(reader, flyway) == ("rollback", [("migration_pending", "1.11")])
    admin.execute(*flyway_row(flyway, 9, "1.11", "V1.11__payments.sql"))
    admin.execute(*flyway_row(flyway, 10, "1.10.1", "V1.10.1__hotfix.sql"))  # run by hand, no file
    assert judged(reader, flyway) == ("hold", [("migration_unknown", "1.10.1")])


def test_flyway_repeatable_judged_by_checksum(
    reader: psycopg.Connection[Any], flyway: Path
) -> None:
    view = flyway / "R__account_view.sql"
    view.write_text("CREATE OR REPLACE VIEW account_view AS\nSELECT id FROM accounts;\n")
    assert judged(reader, flyway) == GO  # other line breaks: the same checksum, as Flyway's
    view.write_text("CREATE OR REPLACE VIEW account_view AS SELECT id, email FROM accounts;\n")
    status, findings = judged(reader, flyway)
    assert (status, findings) == ("rollback", [("migration_pending", "R__account_view.sql")])


def test_flyway_script_changed_after_it_was_applied_holds(
    reader: psycopg.Connection[Any], flyway: Path
) -> None:
    """Flyway's validation refuses to migrate onto a history whose applied script changed:
    HOLD before and after the deploy, naming it; other line breaks change nothing."""
    script = flyway / "V1.9__add_email.sql"
    script.write_text(script.read_text().replace("\n", "\r\n"))
    assert judged(reader, flyway) == GO
    script.write_text("ALTER TABLE accounts ADD COLUMN email varchar(320);\n")
    assert judged(reader, flyway) == ("hold", [("migration_modified", "1.9")])
    before = migrations.before_deploy(reader, DbSuiteSettings(migrations_dir=str(flyway)), None, 5)
    reader.rollback()
    assert before.problem is not None
    assert before.problem[0] == "migration_modified"


def test_flyway_script_it_would_pass_over_is_an_advisory(
    reader: psycopg.Connection[Any], flyway: Path
) -> None:
    write(flyway, {"V1.12_add_index.sql": "CREATE INDEX ON accounts (email);\n"})  # one "_"
    assert judged(reader, flyway) == GO  # not a pending migration: Flyway never runs it
    assert ignored(flyway, "flyway") == ["V1.12_add_index.sql"]


def test_flyway_checksum_as_flyway_computes_it() -> None:
    lines = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n"
    assert flyway_checksum(lines) == flyway_checksum(lines.replace(b"\n", b"\r\n"))
    assert flyway_checksum(b"\xef\xbb\xbf" + lines) == flyway_checksum(lines)  # BOM ignored
    assert flyway_checksum(b"") == 0
    # CRC-32 of the lines joined without breaks, signed as Java's int: CRC-32's published
    # check value for "123456789" is 0xCBF43926.
    assert flyway_checksum(b"1234\n56789") == 0xCBF43926 - (1 << 32)


# -- Prisma -----------------------------------------------------------------------------------
# Documentation: "Migration histories" (prisma/migrations/<timestamp>_<name>/migration.sql and
# migration_lock.toml, which is not a migration), "Patching & hotfixing" (a failed migration
# is a row with neither finished_at nor rolled_back_at; `migrate resolve --rolled-back` sets
# rolled_back_at, and the next deploy re-applies it in a new row). The table is the one
# prisma-engines creates on PostgreSQL; its checksum is the SHA-256 of migration.sql in hex
# (prisma-engines' schema-connector/src/checksum.rs).
PRISMA_TABLE = """CREATE TABLE _prisma_migrations (
    id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ,
    migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count INTEGER NOT NULL DEFAULT 0)"""
PRISMA_ROW = (
    "INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, rolled_back_at,"
    " started_at, applied_steps_count) VALUES (gen_random_uuid(), %s, %s,"
    " CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END, clock_timestamp(), 1)"
)


PRISMA_SCRIPT = "-- CreateTable\nCREATE TABLE posts (id SERIAL PRIMARY KEY);\n"


def prisma_row(
    name: str, finished: bool = True, rolled_back: bool = False, script: str = PRISMA_SCRIPT
) -> tuple[str, tuple[Any, ...]]:
    """A row as Prisma writes it on running ``script``: with the script's checksum."""
    checksum = hashlib.sha256(script.encode()).hexdigest()
    return PRISMA_ROW, (checksum, name, finished, rolled_back)


@pytest.fixture
def prisma(admin: psycopg.Connection[Any], tmp_path: Path) -> Path:
    names = ["20260110093000_init", "20260201120000_add_posts"]
    write(tmp_path, {f"{n}/migration.sql": PRISMA_SCRIPT for n in names})
    write(tmp_path, {"migration_lock.toml": 'provider = "postgresql"\n'})
    admin.execute(PRISMA_TABLE)
    for name in names:
        admin.execute(*prisma_row(name))
    return tmp_path


def test_prisma_at_head_is_go(reader: psycopg.Connection[Any], prisma: Path) -> None:
    assert judged(reader, prisma) == GO
    assert advised(reader, prisma) == []  # migration_lock.toml is Prisma's own


def test_prisma_pending_failed_rolled_back_and_out_of_band(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], prisma: Path
) -> None:
    new = "20260301080000_add_likes"
    write(prisma, {f"{new}/migration.sql": PRISMA_SCRIPT})
    assert judged(reader, prisma) == ("rollback", [("migration_pending", new)])
    admin.execute(*prisma_row(new, finished=False))
    assert judged(reader, prisma) == ("rollback", [("migration_failed", new)])
    admin.execute("UPDATE _prisma_migrations SET rolled_back_at = now() WHERE finished_at IS NULL")
    assert judged(reader, prisma) == ("rollback", [("migration_pending", new)])
    admin.execute(*prisma_row(new))  # re-applied by the next deploy
    assert judged(reader, prisma) == GO
    admin.execute(*prisma_row("20260302000000_hotfix"))
    assert judged(reader, prisma) == ("hold", [("migration_unknown", "20260302000000_hotfix")])


def test_prisma_stray_file_is_an_advisory(reader: psycopg.Connection[Any], prisma: Path) -> None:
    write(prisma, {"notes.md": "how we migrate\n"})
    assert judged(reader, prisma) == GO
    assert advised(reader, prisma) == [("migration_file_ignored", "notes.md")]


def test_prisma_script_changed_after_it_was_applied_is_an_advisory(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], prisma: Path
) -> None:
    """``migrate deploy`` warns and migrates: an advisory, not a HOLD; a checkout that turned
    LF into CRLF, or a checksum an older Prisma wrote unpadded, is no change (as Prisma
    reads them)."""
    script = prisma / "20260110093000_init" / "migration.sql"
    script.write_bytes(PRISMA_SCRIPT.replace("\n", "\r\n").encode())
    assert advised(reader, prisma) == []
    script.write_text(PRISMA_SCRIPT.replace("SERIAL", "BIGSERIAL"))
    assert judged(reader, prisma) == GO
    assert advised(reader, prisma) == [("migration_file_changed", "20260110093000_init")]
    digest = hashlib.sha256(script.read_bytes()).digest()
    unpadded = "".join(f"{b:x}" for b in digest)
    admin.execute(
        "UPDATE _prisma_migrations SET checksum = %s WHERE migration_name = %s",
        (unpadded, "20260110093000_init"),
    )
    assert advised(reader, prisma) == []


def test_prisma_compares_the_row_that_applied_the_script(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], prisma: Path
) -> None:
    """The documented fix of a failed migration: marked rolled back, the script edited, the
    next deploy applies it in a new row; the old row's checksum is no change (a warning
    Prisma itself once gave here was a bug, prisma/prisma#16927)."""
    name, fixed = "20260301080000_add_likes", PRISMA_SCRIPT.replace("posts", "likes")
    write(prisma, {f"{name}/migration.sql": fixed})
    admin.execute(*prisma_row(name, finished=False, rolled_back=True))
    admin.execute(*prisma_row(name, script=fixed))
    assert (judged(reader, prisma), advised(reader, prisma)) == (GO, [])


def test_prisma_digests_as_prisma_matches_them() -> None:
    """prisma-engines' own cases: line endings either way match, a different script does not."""
    pairs = [("ab\ncd\nef\ngh\rab", "ab\r\ncd\r\nef\r\ngh\rab")]
    pairs += [("ab\ncd\nef\ngh\rab\n", "ab\r\ncd\r\nef\r\ngh\rab\r\n")]
    for one, other in pairs:
        for script in (one, other):
            for applied in (one, other):
                assert hashlib.sha256(applied.encode()).hexdigest() in prisma_digests(
                    script.encode()
                )
    assert hashlib.sha256(b"abcd").hexdigest() not in prisma_digests(b"abc")
    assert hashlib.sha256(b"abc").hexdigest() not in prisma_digests(b"abc\n")


# -- golang-migrate ---------------------------------------------------------------------------
# Documentation: MIGRATIONS.md ({version}_{title}.up.{extension} and .down.{extension}) and
# FAQ ("dirty": a migration failed half-way; fix it and force the version); the postgres
# driver keeps one row in schema_migrations(version bigint, dirty boolean).
GOLANG_TABLE = (
    "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
)


@pytest.fixture
def golang(admin: psycopg.Connection[Any], tmp_path: Path) -> Path:
    for version, title in [(1, "create_users"), (2, "add_email"), (10, "add_index")]:
        for way in ("up", "down"):
            write(tmp_path, {f"{version:06d}_{title}.{way}.sql": "-- sql\n"})
    admin.execute(GOLANG_TABLE)
    admin.execute("INSERT INTO schema_migrations VALUES (10, false)")
    return tmp_path


def test_golang_migrate_at_head_is_go(reader: psycopg.Connection[Any], golang: Path) -> None:
    assert judged(reader, golang) == GO  # 10 after 2: numbers, not text


def test_golang_migrate_pending_dirty_and_out_of_band(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], golang: Path
) -> None:
    write(golang, {"000011_add_orders.up.sql": "-- sql\n", "000011_add_orders.down.sql": ""})
    assert judged(reader, golang) == ("rollback", [("migration_pending", "11")])
    admin.execute("UPDATE schema_migrations SET version = 11, dirty = true")
    assert judged(reader, golang) == ("rollback", [("migration_failed", "11")])
    admin.execute("UPDATE schema_migrations SET version = 12, dirty = false")
    assert judged(reader, golang) == ("hold", [("migration_unknown", "12")])


def test_golang_migrate_unnumbered_file_is_an_advisory(
    reader: psycopg.Connection[Any], golang: Path
) -> None:
    write(golang, {"add_orders.up.sql": "-- sql\n", "README.md": "# migrations\n"})
    write(golang, {"embed.go": "package migrations\n\n//go:embed *.sql\nvar FS embed.FS\n"})
    assert judged(reader, golang) == GO
    assert ignored(golang, "golang-migrate") == ["README.md", "add_orders.up.sql"]


# -- Supabase CLI -----------------------------------------------------------------------------
# Documentation: "Database migrations" (`supabase migration new` writes
# supabase/migrations/<timestamp>_<name>.sql; other files are skipped) and the CLI's history
# table supabase_migrations.schema_migrations(version, statements, name).
SUPABASE_TABLE = """CREATE SCHEMA supabase_migrations;
CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY,
                                                    statements text[], name text)"""


@pytest.fixture
def supabase(admin: psycopg.Connection[Any], tmp_path: Path) -> Path:
    names = ["20260105101500_init", "20260212174233_profiles_rls"]
    write(tmp_path, {f"{n}.sql": "-- sql\n" for n in names})
    admin.execute(SUPABASE_TABLE)
    for name in names:
        version, _, title = name.partition("_")
        admin.execute(
            "INSERT INTO supabase_migrations.schema_migrations VALUES (%s, ARRAY['-- sql'], %s)",
            (version, title),
        )
    return tmp_path


def test_supabase_at_head_is_go(reader: psycopg.Connection[Any], supabase: Path) -> None:
    assert judged(reader, supabase) == GO


def test_supabase_pending_and_out_of_band(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], supabase: Path
) -> None:
    write(supabase, {"20260301090000_storage.sql": "-- sql\n"})
    assert judged(reader, supabase) == ("rollback", [("migration_pending", "20260301090000")])
    admin.execute(
        "INSERT INTO supabase_migrations.schema_migrations (version) VALUES ('20260301090000'),"
        " ('20260302000000')"  # the second pushed from a branch never merged
    )
    assert judged(reader, supabase) == ("hold", [("migration_unknown", "20260302000000")])


def test_supabase_unnamed_file_is_an_advisory(
    reader: psycopg.Connection[Any], supabase: Path
) -> None:
    write(supabase, {"seed.sql": "INSERT INTO profiles DEFAULT VALUES;\n"})
    assert judged(reader, supabase) == GO
    assert ignored(supabase, "supabase") == ["seed.sql"]


# -- Alembic, run for real --------------------------------------------------------------------


def sqlalchemy_url(dsn: str) -> str:
    """The DSN as SQLAlchemy's URL for psycopg 3 (a socket directory works too)."""
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    query = {k: str(parts[k]) for k in ("host", "port") if k in parts}
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+psycopg", str(parts.get("user", "")), database=str(parts["dbname"])
    )
    return url.update_query_dict(query).render_as_string(hide_password=False)


class Alembic:
    """An Alembic project in a folder, its commands run as a user runs them."""

    def __init__(self, folder: Path, dsn: str) -> None:
        self.folder = folder
        self.versions = folder / "alembic" / "versions"
        self("init", "alembic")
        ini = folder / "alembic.ini"
        url = sqlalchemy_url(dsn).replace("%", "%%")
        ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", url))

    def __call__(self, *args: str) -> str:
        command = [sys.executable, "-m", "alembic", *args]
        done = subprocess.run(command, cwd=self.folder, check=True, capture_output=True, text=True)
        return done.stdout

    def new(self, *args: str) -> str:
        """The id of the revision ``alembic revision`` or ``alembic merge`` generates (random
        hex, the file named ``<id>_<slug>.py``)."""
        [script] = re.findall(r"Generating (\S+\.py)", self(*args))
        return Path(script).name.split("_", 1)[0]


@pytest.fixture
def alembic(pg_database: str, tmp_path: Path) -> Alembic:
    """A project with a branch and its merge, and an independent labelled branch: two heads,
    both applied with ``alembic upgrade heads``."""
    project = Alembic(tmp_path, pg_database)
    base = project.new("revision", "-m", "create users")
    project.new("revision", "-m", "add posts")
    project.new("revision", "-m", "add tags", "--head", base, "--splice")  # a branch off base
    project.merge = project.new("merge", "heads", "-m", "merge posts and tags")
    project.audit = project.new(
        "revision", "-m", "audit log", "--head", "base", "--branch-label", "audit"
    )
    project("upgrade", "heads")
    return project


def test_alembic_at_its_heads_is_go(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], alembic: Alembic
) -> None:
    heads = admin.execute("SELECT count(*) FROM alembic_version").fetchone()
    assert heads == (2,)  # the merged branch and the audit branch
    assert judged(reader, alembic.versions) == GO
    assert judged(reader, alembic.versions, expected_latest="audit") == GO  # a branch label
    assert judged(reader, None, expected_latest=alembic.merge) == GO  # no folder: one of the heads


def test_alembic_pending_and_out_of_band(reader: psycopg.Connection[Any], alembic: Alembic) -> None:
    late = alembic.new("revision", "-m", "add likes", "--head", alembic.merge)
    assert judged(reader, alembic.versions) == ("rollback", [("migration_pending", late)])
    assert judged(reader, None, expected_latest=late) == ("rollback", [("migration_pending", late)])
    alembic("downgrade", "audit@base")  # one branch taken back
    status, findings = judged(reader, alembic.versions)
    assert status == "rollback"
    assert sorted(findings) == sorted(
        [("migration_pending", late), ("migration_pending", alembic.audit)]
    )
    alembic("upgrade", "heads")
    assert judged(reader, alembic.versions) == GO
    # The code rolled back, the database not: the head it stands at is not in the folder.
    next(alembic.versions.glob(f"{late}_*.py")).unlink()
    assert judged(reader, alembic.versions) == ("hold", [("migration_unknown", late)])


def test_alembic_graph_read_from_the_scripts_not_their_names(tmp_path: Path) -> None:
    """Both of Alembic's templates (plain and annotated), a merge tuple, a file template that
    puts a date first, and a module that is not a revision."""
    write(
        tmp_path,
        {
            "2026_01_05_aa11_init.py": 'revision = "aa11"\ndown_revision = None\n',
            "2026_02_01_bb22_posts.py": (
                "from typing import Sequence, Union\n"
                'revision: str = "bb22"\n'
                'down_revision: Union[str, None] = "aa11"\n'
                'branch_labels: Union[str, Sequence[str], None] = ("blog",)\n'
            ),
            "2026_02_02_cc33_tags.py": 'revision = "cc33"\ndown_revision = "aa11"\n',
            "2026_03_01_dd44_merge.py": 'revision = "dd44"\ndown_revision = ("bb22", "cc33")\n',
            "helpers.py": "def op_helper():\n    pass\n",
            "__init__.py": "",
        },
    )
    folder = read_folder(tmp_path, "alembic")
    assert folder.parents == {
        "aa11": (),
        "bb22": ("aa11",),
        "cc33": ("aa11",),
        "dd44": ("bb22", "cc33"),
    }
    assert folder.labels == {"blog": "bb22"}
    assert folder.ignored == [("helpers.py", "declares no Alembic revision")]


# -- Django, run for real ---------------------------------------------------------------------

MODELS = {
    "catalog": "class Product(models.Model):\n    name = models.CharField(max_length=80)\n",
    "orders": (
        "class Order(models.Model):\n"
        "    product = models.ForeignKey('catalog.Product', on_delete=models.PROTECT)\n"
    ),
}


class Django:
    """A project of two apps (orders depends on catalog) with Django's own apps, on the test
    database, managed with manage.py as a user manages it."""

    def __init__(self, folder: Path, dsn: str) -> None:
        self.folder = folder
        django = [sys.executable, "-m", "django"]
        subprocess.run([*django, "startproject", "shop", str(folder)], check=True)
        for app, models in MODELS.items():
            self("startapp", app)
            (folder / app / "models.py").write_text(f"from django.db import models\n\n{models}")
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts["dbname"],
            "USER": parts.get("user", ""),
            "HOST": parts.get("host", ""),
            "PORT": parts.get("port", ""),
        }
        with (folder / "shop" / "settings.py").open("a") as settings:
            settings.write(f"\nINSTALLED_APPS += {list(MODELS)!r}\nDATABASES = {{'default': ")
            settings.write(f"{database!r}}}\n")

    def __call__(self, *args: str) -> str:
        manage = [sys.executable, str(self.folder / "manage.py")]
        done = subprocess.run(
            [*manage, *args], cwd=self.folder, check=True, capture_output=True, text=True
        )
        return done.stdout


@pytest.fixture
def django(pg_database: str, tmp_path: Path) -> Django:
    project = Django(tmp_path, pg_database)
    project("makemigrations", "-v", "0")
    project("migrate", "--noinput", "-v", "0")
    return project


def test_django_migrated_is_go(reader: psycopg.Connection[Any], django: Django) -> None:
    # Django's own apps (auth, admin, ...) are in the history, not in the project: not out of
    # band. The project's folder is read for every app's migrations.
    assert judged(reader, django.folder) == GO
    assert judged(reader, django.folder / "orders" / "migrations") == GO
    assert judged(reader, None, expected_versions=["catalog.0001_initial"]) == GO


def test_django_pending_and_out_of_band(reader: psycopg.Connection[Any], django: Django) -> None:
    models = django.folder / "catalog" / "models.py"
    models.write_text(models.read_text() + "    price = models.IntegerField(default=0)\n")
    django("makemigrations", "catalog", "--name", "price", "-v", "0")
    assert judged(reader, django.folder) == (
        "rollback",
        [("migration_pending", "catalog.0002_price")],
    )
    django("migrate", "--noinput", "-v", "0")
    assert judged(reader, django.folder) == GO
    # The code rolled back, the database not.
    (django.folder / "catalog" / "migrations" / "0002_price.py").unlink()
    assert judged(reader, django.folder) == ("hold", [("migration_unknown", "catalog.0002_price")])


def test_django_squashed_migrations_are_go(reader: psycopg.Connection[Any], django: Django) -> None:
    models = django.folder / "catalog" / "models.py"
    models.write_text(
        models.read_text() + "    sku = models.CharField(max_length=20, default='')\n"
    )
    django("makemigrations", "catalog", "--name", "sku", "-v", "0")
    django("migrate", "--noinput", "-v", "0")
    django("squashmigrations", "catalog", "0002", "--noinput", "-v", "0")
    assert judged(reader, django.folder) == GO  # squashed: applied, since all it replaces are
    django("migrate", "--noinput", "-v", "0")
    for old in ("0001_initial.py", "0002_sku.py"):  # the transition over, as Django's docs say
        (django.folder / "catalog" / "migrations" / old).unlink()
    assert judged(reader, django.folder) == GO


def test_django_folder_read_as_django_reads_it(tmp_path: Path) -> None:
    """Every app's migrations package, an app's own label, a squashed migration's replaces;
    never a virtualenv's or node's packages."""
    write(
        tmp_path,
        {
            "billing/apps.py": "class BillingConfig(AppConfig):\n    label = 'invoicing'\n",
            "billing/migrations/__init__.py": "",
            "billing/migrations/0001_initial.py": "class Migration:\n    pass\n",
            "billing/migrations/0002_squashed.py": (
                "class Migration:\n"
                "    replaces = [('invoicing', '0001_a'), ('invoicing', '0002_b')]\n"
            ),
            "billing/migrations/notes.txt": "",
            "venv/lib/python3.11/site-packages/x/migrations/0001_initial.py": "",
            ".venv/lib/x/migrations/0001_initial.py": "",
            "node_modules/y/migrations/0001_initial.py": "",
        },
    )
    folder = read_folder(tmp_path, "django")
    assert folder.versions == {"invoicing.0001_initial", "invoicing.0002_squashed"}
    assert folder.replaces == {"invoicing.0002_squashed": ("invoicing.0001_a", "invoicing.0002_b")}
    assert folder.ignored == [("billing/migrations/notes.txt", "not a Python module")]


def test_a_deploy_run_reads_the_folder_and_advises_on_a_stray_script(
    pytester: pytest.Pytester, pg_database: str, flyway: Path, read_signoff: SignOffReader
) -> None:
    """The whole path: config, the immediate phase, the sign-off. A script Flyway would pass
    over is an advisory on a GO; a pending one is a ROLLBACK naming it."""
    write(flyway, {"V1.12_add_index.sql": "CREATE INDEX ON accounts (email);\n"})
    pytester.makefile(".toml", deploycheck=f'[targets.t.suites.db]\nmigrations_dir = "{flyway}"\n')
    run = ("--deploy-target=t", "--deploy-suites=db", "--deploy-phase=immediate")
    result = pytester.runpytest(*run, f"--deploy-db-url={pg_database}")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert (result.ret, document["verdict"]) == (0, "GO"), document["reasons"]
    [advisory] = document["advisories"]
    assert "db.migration_files" in advisory
    assert "V1.12_add_index.sql" in advisory
    write(flyway, {"V1.12__add_index.sql": "CREATE INDEX ON accounts (email);\n"})
    pytester.runpytest(*run, f"--deploy-db-url={pg_database}")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert document["verdict"] == "ROLLBACK"
    assert "migration 1.12 is not applied" in document["reasons"][0]


def test_two_history_tables_the_folder_tells_which_tool(
    admin: psycopg.Connection[Any], reader: psycopg.Connection[Any], prisma: Path
) -> None:
    """A Supabase project whose schema Prisma migrates: the CLI's table is there too."""
    admin.execute(SUPABASE_TABLE)
    admin.execute("INSERT INTO supabase_migrations.schema_migrations VALUES ('20250101000000')")
    settings = DbSuiteSettings(migrations_dir=str(prisma))
    result = migrations.migrations(reader, settings)
    assert (result.note, result.gates[0].status) == ("prisma", "pass")


def test_the_whole_db_suite_is_go_on_a_migrated_django_project(
    pytester: pytest.Pytester, pg_database: str, django: Django, read_signoff: SignOffReader
) -> None:
    """Django's own schema (auth, admin, sessions, contenttypes) and the project's apps, every
    phase, before and after: nothing to say about a healthy target nobody here wrote."""
    django("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
    config = f'[targets.t.suites.db]\nmigrations_dir = "{django.folder}"\n'
    pytester.makefile(".toml", deploycheck=config)
    run = ("--deploy-target=t", "--deploy-suites=db", f"--deploy-db-url={pg_database}")
    assert pytester.runpytest(*run, "--deploy-phase=pre_deploy", "--deploy-state=s").ret == 0
    result = pytester.runpytest(*run, "--deploy-state=s")
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert (result.ret, document["reasons"], document["advisories"]) == (0, [], [])
    outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
    assert outcomes["db.migrations"] == outcomes["db.fk_orphans"] == "passed"


# -- any tool ---------------------------------------------------------------------------------


def test_no_history_with_expectations_could_not_check(reader: psycopg.Connection[Any]) -> None:
    with pytest.raises(CouldNotCheck, match="no migration history table"):
        migrations.migrations(reader, DbSuiteSettings(expected_latest="5"))
    assert migrations.migrations(reader, DbSuiteSettings()).gates == []


def test_before_a_first_deploy_every_migration_is_to_apply(
    reader: psycopg.Connection[Any], supabase: Path, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("DROP SCHEMA supabase_migrations CASCADE")  # a database never migrated
    settings = DbSuiteSettings(migrations_dir=str(supabase))
    before = migrations.before_deploy(reader, settings, None, 5)
    assert (before.failed, before.data["to_apply"]) == (False, ["20260105101500", "20260212174233"])
    with pytest.raises(CouldNotCheck, match=r"\[migrations-unknown\]"):
        migrations.migrations(reader, settings)  # after the deploy, the table must be there
    nothing = migrations.before_deploy(reader, DbSuiteSettings(), None, 5)
    assert nothing.skip == "no migration history table, and none expected"


def test_a_missing_folder_could_not_check(reader: psycopg.Connection[Any], tmp_path: Path) -> None:
    with pytest.raises(CouldNotCheck, match=r"\[migrations-dir\]"):
        migrations.migrations(reader, DbSuiteSettings(migrations_dir=str(tmp_path / "nope")))


def test_a_named_tool_without_its_table_could_not_check(
    reader: psycopg.Connection[Any], tmp_path: Path
) -> None:
    write(tmp_path, {"V1__init.sql": "SELECT 1;\n"})
    settings = DbSuiteSettings(migration_tool="flyway", migrations_dir=str(tmp_path))
    with pytest.raises(CouldNotCheck, match=r"\[migrations-unknown\] .*\(flyway_schema_history\)"):
        migrations.migrations(reader, settings)
