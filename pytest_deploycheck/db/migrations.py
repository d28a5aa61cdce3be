"""Which migrations the database says are applied, read from the history table of the tool
that wrote them, against the migrations the deployment expects."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import CouldNotCheck, Evidence, Finding, Gate
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.db.migration_files import Folder, normal, read_folder
from pytest_deploycheck.db.settings import DbSuiteSettings
from pytest_deploycheck.net.postgres import RuleResult, fetch

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection

# tool -> (history table to look for, query of its rows); each tool's columns as it writes them
HISTORY = {
    "supabase": (
        "supabase_migrations.schema_migrations",
        "SELECT version::text AS version FROM supabase_migrations.schema_migrations",
    ),
    "flyway": (
        "flyway_schema_history",
        "SELECT installed_rank, version, type, script, checksum, success"
        " FROM flyway_schema_history ORDER BY installed_rank",
    ),
    "prisma": (
        "_prisma_migrations",
        "SELECT migration_name, checksum, finished_at IS NOT NULL AS finished,"
        " rolled_back_at IS NOT NULL AS rolled_back FROM _prisma_migrations ORDER BY started_at",
    ),
    "golang-migrate": (
        "schema_migrations",
        "SELECT version::text AS version, dirty FROM schema_migrations",
    ),
    "alembic": ("alembic_version", "SELECT version_num FROM alembic_version"),
    "django": (
        "django_migrations",
        "SELECT app || '.' || name AS version FROM django_migrations ORDER BY id",
    ),
}


def migrations(conn: Connection, settings: DbSuiteSettings, base: Path | None = None) -> RuleResult:
    """The database's migration history against the expected migrations."""
    found = history_tables(conn)
    tool, folder = _tool(found, settings, base)
    if tool not in found:  # none found, or not the one named
        if folder.versions or settings.expected_latest:
            tables = HISTORY[tool][0] if tool else ", ".join(t for t, _ in HISTORY.values())
            raise NoHistory(
                f"[migrations-unknown] no migration history table was found ({tables}) on the"
                " role's search_path: before a first deploy there is none yet; otherwise put"
                " the table's schema on the search_path",
                sorted({*folder.versions, *filter(None, [settings.expected_latest])}, key=_key),
            )
        return RuleResult("migrations", note="no migration history table, and none expected")
    query = HISTORY[tool][1]
    rows = fetch(conn, query)
    findings, status = judge_migrations(tool, rows, folder, settings.expected_latest)
    detail = "; ".join(f.message for f in findings[:3]) or f"{len(rows)} applied"
    detail = f"{tool}: {detail}"
    gate = Gate("db.migrations", float(len(findings)), 0.0, status, detail, unit="migrations")
    return RuleResult("migrations", findings, query, rows, [gate], tool, code="migrations")


def folder_advisories(
    conn: Connection, settings: DbSuiteSettings, base: Path | None, limit: int
) -> Result:
    """What the tool itself would only warn about, or not even that: the files of the
    migrations folder it passes over (a Flyway script named ``V2_add.sql`` is never applied,
    and nothing says so), and the scripts changed since they were applied where the tool
    warns and migrates (Prisma's ``migrate deploy``); and what the gate itself does not read
    (a symlink out of the folder, a FIFO), which may hide a migration."""
    found = history_tables(conn)
    tool, folder = _tool(found, settings, base)
    changed = (
        READ_HISTORY[tool](fetch(conn, HISTORY[tool][1]), folder).changed if tool in found else {}
    )
    findings = [
        Finding("migration_file_ignored", name, f"{tool or 'the tool'} passes over {name}: {why}")
        for name, why in folder.ignored
    ]
    rows = [{"file": name, "reason": why} for name, why in folder.ignored]
    for name, why in sorted(folder.unread.items()):
        findings.append(Finding("migration_file_unread", name, f"{name} was not read: {why}"))
        rows.append({"file": name, "reason": why})
    for name, applied in sorted(changed.items()):
        message = (
            f"migration {name} was changed after it was applied (checksum {applied[:12]}… applied,"
            " the folder's differs): the database holds what the script said then"
        )
        findings.append(Finding("migration_file_changed", name, message))
        rows.append({"file": name, "reason": "changed after it was applied"})
    return RuleResult("migration_files", findings, rows=rows).result(limit)


class NoHistory(CouldNotCheck):
    """Migrations are expected, and no history table says which are applied."""

    def __init__(self, message: str, expected: list[str]) -> None:
        super().__init__(message)
        self.expected = expected


def before_deploy(
    conn: Connection, settings: DbSuiteSettings, base: Path | None, limit: int
) -> Result:
    """The history as a deploy will find it: the pending migrations are what it will apply
    (listed, not a fault); a failed or dirty one, or one changed since it was applied, must be
    repaired before deploying onto it.
    No history table yet, before a first deploy: every migration is to apply."""
    try:
        history = migrations(conn, settings, base)
    except NoHistory as none_yet:
        history, pending = RuleResult("pending_migrations"), none_yet.expected
    else:
        if not history.gates:
            return Result(skip=history.note)
        pending = [f.object for f in history.findings if f.rule == "migration_pending"]
    failed = [f for f in history.findings if f.rule in ("migration_failed", "migration_modified")]
    result = RuleResult("pending_migrations", failed, history.query, history.rows).result(limit)
    result.data["to_apply"] = pending
    if pending:
        result.evidence.append(Evidence("migrations the deploy will apply", "\n".join(pending)))
    return result


DETECT = """SELECT ARRAY(SELECT to_regclass(t) IS NOT NULL
             FROM unnest(%s::text[]) WITH ORDINALITY u(t, o) ORDER BY o) AS exists,
  EXISTS (SELECT 1 FROM information_schema.columns
          WHERE table_name = 'schema_migrations' AND column_name = 'dirty') AS dirty_column"""


def history_tables(conn: Connection) -> list[str]:
    """The tools whose history table exists, in HISTORY's order (the first is the one
    detected)."""
    names = list(HISTORY)
    [row] = fetch(conn, DETECT, ([HISTORY[name][0] for name in names],))
    found = dict(zip(names, row["exists"], strict=True))
    found["golang-migrate"] = found["golang-migrate"] and row["dirty_column"]
    return [name for name in names if found[name]]


def _tool(
    found: list[str], settings: DbSuiteSettings, base: Path | None
) -> tuple[str | None, Folder]:
    """The tool to judge, and the expected migrations as it reads them: the one named, else
    the one whose history table exists; where several do (Supabase's CLI history beside
    Prisma's), the one that reads the most migrations in ``migrations_dir``, else the first."""
    named = None if settings.migration_tool == "auto" else settings.migration_tool
    candidates: list[str | None] = [named] if named else [*found] or [None]
    if not settings.migrations_dir:
        candidates = candidates[:1]  # nothing to read: the first table found
    read = [(tool, read_expected(settings, base, tool)) for tool in candidates]
    return max(read, key=lambda pair: len(pair[1].versions))


def read_expected(settings: DbSuiteSettings, base: Path | None, tool: str | None) -> Folder:
    """The migrations ``migrations_dir`` holds, read as ``tool`` reads it, and those listed in
    ``expected_versions``."""
    if settings.migrations_dir:
        path = Path(settings.migrations_dir)
        path = path if path.is_absolute() or base is None else base / path
        if not path.is_dir():
            raise CouldNotCheck(f"[migrations-dir] {path} is not a directory")
        folder = read_folder(path, tool)
    else:
        folder = Folder()
    folder.versions |= {normal(v) for v in settings.expected_versions}
    return folder


@dataclass
class History:
    """A history table read as its tool reads it: the migrations it counts as applied (and
    every version ``below`` one, for the tools that record a position), those that failed, and
    those recorded that the expected list must account for."""

    applied: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)
    modified: dict[str, int] = field(default_factory=dict)  # applied with another checksum
    changed: dict[str, str] = field(default_factory=dict)  # the same, and the tool only warns
    below: str | None = None
    lost: bool = False  # where the database stands is not in the folder: pending unknowable

    def has_applied(self, version: str) -> bool:
        below = self.below is not None and _key(version) < _key(self.below)
        return below or version in self.applied


def judge_migrations(
    tool: str, rows: Sequence[Mapping[str, Any]], folder: Folder, latest: str | None
) -> tuple[list[Finding], str]:
    """Pending, failed and out-of-band migrations, and the gate status they call for."""
    history = READ_HISTORY[tool](rows, folder)
    expected = set(folder.versions)
    wanted = expected | ({_latest(latest, folder)} if latest else set())
    failed = sorted(history.failed, key=_key)
    missing = set() if history.lost else wanted - history.failed
    pending = sorted((v for v in missing if not history.has_applied(v)), key=_key)
    unknown = sorted(history.recorded - expected, key=_key) if expected else []
    findings = [Finding("migration_failed", v, f"migration {v} failed or is dirty") for v in failed]
    findings += [Finding("migration_pending", v, _pending(v, folder)) for v in pending]
    findings += [
        Finding("migration_unknown", v, f"migration {v} was applied out of band") for v in unknown
    ]
    findings += [
        Finding(
            "migration_modified",
            v,
            f"migration {v} was changed after it was applied (checksum {folder.checksums[v]},"
            f" applied {applied}): the tool's validation refuses to migrate",
        )
        for v, applied in sorted(history.modified.items(), key=lambda item: _key(item[0]))
    ]
    status = "rollback" if failed or pending else "hold" if unknown or history.modified else "pass"
    return findings, status


def _latest(latest: str, folder: Folder) -> str:
    """``expected_latest`` as a version: an Alembic branch label stands for its head."""
    if latest in folder.labels:
        return _branch_head(folder, folder.labels[latest])
    return normal(latest)


def _branch_head(folder: Folder, revision: str) -> str:
    """The head of the branch ``revision`` starts: its descendants followed while each has
    exactly one child."""
    children: dict[str, list[str]] = {}
    for child, parents in folder.parents.items():
        for parent in parents:
            children.setdefault(parent, []).append(child)
    while len(children.get(revision, [])) == 1:
        revision = children[revision][0]
    return revision


def _pending(version: str, folder: Folder) -> str:
    if version.startswith("R__"):
        return (
            f"repeatable migration {version} is not applied as it is now"
            f" (checksum {folder.checksums[version]})"
        )
    return f"migration {version} is not applied"


def _supabase(rows: Sequence[Mapping[str, Any]], folder: Folder) -> History:
    versions = {normal(str(row["version"])) for row in rows}
    return History(versions, set(), versions)


def _django(rows: Sequence[Mapping[str, Any]], folder: Folder) -> History:
    """Django's rows; a squashed migration counts as applied once all it replaces are (as
    Django's loader counts it); only the apps the folder holds are accounted for (the
    database also holds Django's own apps' migrations, and third parties')."""
    recorded = {str(row["version"]) for row in rows}
    applied = recorded | {s for s, old in folder.replaces.items() if set(old) <= recorded}
    replaced = {name for old in folder.replaces.values() for name in old}
    apps = {version.split(".", 1)[0] for version in folder.versions}
    ours = {v for v in recorded if v.split(".", 1)[0] in apps and v not in replaced}
    return History(applied, set(), ours)


def _prisma(rows: Sequence[Mapping[str, Any]], folder: Folder) -> History:
    """Prisma's rows: rolled-back ones do not count; a row neither finished nor rolled back is
    a failed migration, until a later one finishes it. A script whose checksum is not the
    one its applied row carries was changed since: ``migrate deploy`` warns and goes on."""
    history = History()
    checksums: dict[str, str] = {}
    for row in rows:
        if row["rolled_back"]:
            continue
        name = str(row["migration_name"])
        if row["finished"]:
            history.applied.add(name)
            history.failed.discard(name)
            checksums[name] = str(row["checksum"])
        elif name not in history.applied:
            history.failed.add(name)
    history.recorded = set(history.applied)
    history.changed = {
        name: checksum
        for name, checksum in checksums.items()
        if name in folder.digests and checksum not in folder.digests[name]
    }
    return history


BASELINE_TYPES = ("BASELINE", "SQL_BASELINE")


def _flyway(rows: Sequence[Mapping[str, Any]], folder: Folder) -> History:
    """Flyway's rows in installed order: each version's last row says whether it is applied,
    failed or undone, and with which checksum (a script changed since is what Flyway's
    validation refuses); versions up to a baseline count as applied; a repeatable script is
    applied when its last row carries the script's current checksum. The row Flyway writes
    when it creates a schema is no migration."""
    state: dict[str, bool | None] = {}  # True applied, False failed, None undone
    checksums: dict[str, int | None] = {}
    repeatable: dict[str, tuple[bool, int | None]] = {}
    baseline: str | None = None
    for row in rows:
        kind, version, success = str(row["type"]), row["version"], bool(row["success"])
        if kind == "SCHEMA":
            continue
        if kind in BASELINE_TYPES:
            baseline = normal(str(version))
        elif version is None:
            repeatable[Path(str(row["script"])).name] = (success, row["checksum"])
        elif kind == "DELETE":
            state.pop(normal(str(version)), None)
        else:
            undone = kind.startswith("UNDO") and success
            state[normal(str(version))] = None if undone else success
            checksums[normal(str(version))] = row["checksum"]
    history = History(recorded={v for v, ok in state.items() if ok})
    history.modified = {
        v: applied
        for v in history.recorded
        if (applied := checksums.get(v)) is not None and folder.checksums.get(v, applied) != applied
    }
    history.applied = set(history.recorded)
    history.failed = {v for v, ok in state.items() if ok is False}
    if baseline is not None:
        history.applied.add(baseline)
        history.below = baseline
    for script, (success, checksum) in repeatable.items():
        if not success:
            history.failed.add(script)
        elif checksum is None or folder.checksums.get(script) in (None, checksum):
            history.applied.add(script)
    return history


def _golang_migrate(rows: Sequence[Mapping[str, Any]], folder: Folder) -> History:
    """golang-migrate keeps one row: the current version, dirty when it failed half-way; the
    versions before it are applied."""
    history = History()
    for row in rows:
        current = normal(str(row["version"]))
        history.recorded.add(current)
        (history.failed if row["dirty"] else history.applied).add(current)
        history.below = current
    return history


def _alembic(rows: Sequence[Mapping[str, Any]], folder: Folder) -> History:
    """Alembic keeps its current heads; applied is every revision they descend from through
    ``down_revision`` (and ``depends_on``), merges included. A head the folder does not hold
    (the database is ahead of this code) hides what it descends from: out of band, and
    nothing can be called pending."""
    heads = {str(row["version_num"]) for row in rows}
    if folder.parents and not heads <= folder.parents.keys():
        return History(heads, set(), heads, lost=True)
    applied, todo = set(), list(heads)
    while todo:
        revision = todo.pop()
        if revision not in applied:
            applied.add(revision)
            todo.extend(folder.parents.get(revision, ()))
    return History(applied, set(), heads)


READ_HISTORY: dict[str, Callable[[Sequence[Mapping[str, Any]], Folder], History]] = {
    "supabase": _supabase,
    "flyway": _flyway,
    "prisma": _prisma,
    "golang-migrate": _golang_migrate,
    "alembic": _alembic,
    "django": _django,
}


def _key(version: str) -> tuple[int, tuple[int, ...] | str]:
    """Versions in the tools' order: numbers by value, dotted ones part by part (Flyway's
    1.10 after 1.9), anything else after them, as text."""
    parts = version.split(".")
    if all(part.isdigit() for part in parts):
        return (0, tuple(int(part) for part in parts))
    return (1, version)
