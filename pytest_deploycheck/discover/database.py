"""What a target's database is, read in one read-only, time-bounded session: which migration
tool keeps its history there (and which folder beside the configuration holds its files), whether
it is a Supabase project exposing schemas to the API, whether query statistics are kept, what
backups leave to see, and whether the role connecting is one the checks should not use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.db.migrations import HISTORY, history_tables
from pytest_deploycheck.net.postgres import connect_readonly, fetch, is_superuser

# Where each tool keeps its migration files, relative to the project.
FOLDERS = {
    "supabase": ("supabase/migrations",),
    "alembic": ("alembic/versions", "migrations/versions"),
    "django": (),  # one folder per app: the history table alone says what was applied
    "flyway": ("src/main/resources/db/migration", "db/migration", "sql"),
    "prisma": ("prisma/migrations",),
    "golang-migrate": ("migrations", "db/migrations"),
}

FACTS = """SELECT
  EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS statements,
  (SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles
     WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator')) AS api_roles,
  (SELECT string_agg(split_part(c, '=', 2), ',') FROM pg_db_role_setting s
     JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c
     WHERE r.rolname = 'authenticator' AND c LIKE 'pgrst.db_schemas=%') AS exposed,
  (SELECT archived_count FROM pg_stat_archiver) AS archived,
  current_setting('archive_mode') AS archive_mode"""


@dataclass
class Database:
    """What was found in the database, each fact with how it was found."""

    role: str = ""
    superuser: bool = False
    tools: list[str] = field(default_factory=list)  # history tables found, the first detected
    folder: str | None = None  # the migrations folder found for the detected tool
    statements: bool = False
    api_roles: list[str] = field(default_factory=list)
    exposed: str | None = None  # pgrst.db_schemas, where the API's authenticator sets it
    archive_mode: str = "off"
    archived: int = 0
    error: str | None = None

    @property
    def supabase(self) -> bool:
        return {"anon", "authenticated"} <= set(self.api_roles)


def discover(dsn: str, base: Path) -> Database:
    """Read the database at ``dsn``; ``base`` is where migration folders are looked for."""
    from pytest_deploycheck.core.model import CouldNotCheck

    found = Database()
    try:
        conn = connect_readonly(dsn, DbSettings())
    except CouldNotCheck as exc:
        from psycopg.conninfo import conninfo_to_dict

        error = str(exc).removeprefix("[db-unreachable] ")
        password = str(conninfo_to_dict(dsn).get("password") or "")
        found.error = error.replace(password, "***") if password else error  # never written
        return found
    with conn:
        found.role, found.superuser = is_superuser(conn)
        found.tools = history_tables(conn)
        [row] = fetch(conn, FACTS)
        conn.rollback()
    _read_facts(found, row)
    tool = found.tools[0] if found.tools else None
    usual = FOLDERS.get(tool, ()) if tool else tuple(f for v in FOLDERS.values() for f in v)
    found.folder = next((f for f in usual if (base / f).is_dir()), None) or _nearby(base)
    return found


def _nearby(base: Path) -> str | None:
    """A folder named migrations up to two levels below ``base`` that holds files (not in a
    hidden folder or a dependency tree), as a relative path."""
    for pattern in ("migrations", "*/migrations", "*/*/migrations"):
        for folder in sorted(base.glob(pattern)):
            parts = folder.relative_to(base).parts
            if any(p.startswith(".") or p in SKIPPED for p in parts):
                continue
            if folder.is_dir() and not folder.is_symlink() and any(folder.iterdir()):
                return folder.relative_to(base).as_posix()
    return None


SKIPPED = {"node_modules", "venv", "site-packages", "__pycache__"}


def _read_facts(found: Database, row: dict[str, Any]) -> None:
    found.statements = bool(row["statements"])
    found.api_roles = list(row["api_roles"] or [])
    found.exposed = row["exposed"]
    found.archive_mode = row["archive_mode"]
    found.archived = int(row["archived"] or 0)


def history_table(tool: str) -> str:
    """The table where ``tool`` keeps its history."""
    return HISTORY[tool][0]
