"""Which migrations the database says are applied, read from the history table of the tool
that wrote them, against the migrations the deployment expects."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import CouldNotCheck, Evidence, Finding, Gate
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import RuleResult, fetch

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection

# tool -> (history table to look for, query of (version, failed) rows)
HISTORY = {
    "supabase": (
        "supabase_migrations.schema_migrations",
        "SELECT version::text AS version, false AS failed"
        " FROM supabase_migrations.schema_migrations",
    ),
    "flyway": (
        "flyway_schema_history",
        "SELECT version::text AS version, NOT success AS failed FROM flyway_schema_history"
        " WHERE version IS NOT NULL",
    ),
    "prisma": (
        "_prisma_migrations",
        "SELECT migration_name AS version, finished_at IS NULL AS failed FROM _prisma_migrations"
        " WHERE rolled_back_at IS NULL",
    ),
    "golang-migrate": (
        "schema_migrations",
        "SELECT version::text AS version, dirty AS failed FROM schema_migrations",
    ),
    "alembic": (
        "alembic_version",
        "SELECT version_num AS version, false AS failed FROM alembic_version",
    ),
    "django": (
        "django_migrations",
        "SELECT app || '.' || name AS version, false AS failed FROM django_migrations",
    ),
}
# Tools whose table holds only the current version, not the whole history.
SINGLE_VERSION = ("golang-migrate", "alembic")


def migrations(conn: Connection, settings: DbSuiteSettings, base: Path | None = None) -> RuleResult:
    """The database's migration history against the expected migrations."""
    tool = settings.migration_tool if settings.migration_tool != "auto" else _detect(conn)
    expected = expected_versions(settings, base, tool)
    if tool is None:
        if expected or settings.expected_latest:
            raise CouldNotCheck("[migrations-unknown] no migration history table was found")
        return RuleResult("migrations", note="no migration history table, and none expected")
    query = HISTORY[tool][1]
    rows = fetch(conn, query)
    findings, status = judge_migrations(tool, rows, expected, settings.expected_latest)
    detail = "; ".join(f.message for f in findings[:3]) or f"{len(rows)} applied"
    detail = f"{tool}: {detail}"
    gate = Gate("db.migrations", float(len(findings)), 0.0, status, detail, unit="migrations")
    return RuleResult("migrations", findings, query, rows, [gate], tool, code="migrations")


def before_deploy(history: RuleResult, limit: int) -> Result:
    """The history as a deploy will find it: the pending migrations are what it will apply
    (listed, not a fault); a failed or dirty one must be repaired before deploying onto it."""
    pending = [f.object for f in history.findings if f.rule == "migration_pending"]
    failed = [f for f in history.findings if f.rule == "migration_failed"]
    result = RuleResult("pending_migrations", failed, history.query, history.rows).result(limit)
    result.data["to_apply"] = pending
    if pending:
        result.evidence.append(Evidence("migrations the deploy will apply", "\n".join(pending)))
    return result


DETECT = """SELECT ARRAY(SELECT to_regclass(t) IS NOT NULL
             FROM unnest(%s::text[]) WITH ORDINALITY u(t, o) ORDER BY o) AS exists,
  EXISTS (SELECT 1 FROM information_schema.columns
          WHERE table_name = 'schema_migrations' AND column_name = 'dirty') AS dirty_column"""


def _detect(conn: Connection) -> str | None:
    """The first tool (in HISTORY's order) whose history table exists."""
    names = list(HISTORY)
    [row] = fetch(conn, DETECT, ([HISTORY[name][0] for name in names],))
    found = dict(zip(names, row["exists"], strict=True))
    found["golang-migrate"] = found["golang-migrate"] and row["dirty_column"]
    return next((name for name in names if found[name]), None)


def expected_versions(settings: DbSuiteSettings, base: Path | None, tool: str | None) -> set[str]:
    """Versions from ``expected_versions`` and from the file names in ``migrations_dir``."""
    versions = {_normal(v) for v in settings.expected_versions}
    if settings.migrations_dir:
        folder = Path(settings.migrations_dir)
        folder = folder if folder.is_absolute() or base is None else base / folder
        if not folder.is_dir():
            raise CouldNotCheck(f"[migrations-dir] {folder} is not a directory")
        found = (_file_version(p, tool) for p in folder.iterdir() if not p.name.startswith("."))
        versions |= {version for version in found if version is not None}
    return versions


_FLYWAY_VERSIONED = re.compile(r"^V(\d+(?:[._]\d+)*)__")
_LEADING_NUMBER = re.compile(r"^(\d+)(?:[_.-]|$)")


def _file_version(path: Path, tool: str | None) -> str | None:
    """The version a file of the migrations folder stands for, read the way the tool reads
    it; None for what is not a migration to apply (Prisma's ``migration_lock.toml``, Flyway's
    repeatable ``R__`` and undo ``U`` scripts, a README)."""
    name = path.name
    if tool == "prisma":
        return name if path.is_dir() else None  # prisma records the migration's folder name
    if tool == "flyway":
        versioned = _FLYWAY_VERSIONED.match(name)
        return _normal(versioned.group(1).replace("_", ".")) if versioned else None
    if tool == "alembic":
        return re.split(r"[_.]", name, maxsplit=1)[0] if name.endswith(".py") else None
    number = _LEADING_NUMBER.match(name)
    return _normal(number.group(1)) if number else None


def _normal(version: str) -> str:
    return version.lstrip("0") or "0" if version.isdigit() else version


def judge_migrations(
    tool: str, rows: Sequence[Mapping[str, Any]], expected: set[str], latest: str | None
) -> tuple[list[Finding], str]:
    """Pending, failed and unknown migrations, and the gate status they call for."""
    applied = {_normal(str(row["version"])) for row in rows}
    failed = sorted(_normal(str(row["version"])) for row in rows if row["failed"])
    pending, unknown = _pending_and_unknown(tool, applied, expected, latest)
    findings = [Finding("migration_failed", v, f"migration {v} failed or is dirty") for v in failed]
    findings += [Finding("migration_pending", v, f"migration {v} is not applied") for v in pending]
    findings += [
        Finding("migration_unknown", v, f"migration {v} was applied out of band") for v in unknown
    ]
    status = "rollback" if failed or pending else "hold" if unknown else "pass"
    return findings, status


def _pending_and_unknown(
    tool: str, applied: set[str], expected: set[str], latest: str | None
) -> tuple[list[str], list[str]]:
    """Expected versions not applied, and applied versions not expected."""
    if tool in SINGLE_VERSION:
        current = next(iter(applied), None)
        pending: list[str] = []
        unknown: list[str] = []
        if expected and current is not None:
            pending = sorted(v for v in expected if _key(v) > _key(current))
            unknown = [] if current in expected else [current]
        if latest and current != _normal(latest):
            pending = sorted({*pending, _normal(latest)})
        return pending, unknown
    pending = sorted(expected - applied, key=_key)
    unknown = sorted(applied - expected, key=_key) if expected else []
    if latest and _normal(latest) not in applied:
        pending = sorted({*pending, _normal(latest)}, key=_key)
    return pending, unknown


def _key(version: str) -> tuple[int, tuple[int, ...] | str]:
    """Versions in the tools' order: numbers by value, dotted ones part by part (Flyway's
    1.10 after 1.9), anything else after them, as text."""
    parts = version.split(".")
    if all(part.isdigit() for part in parts):
        return (0, tuple(int(part) for part in parts))
    return (1, version)
