"""A migrations folder read the way its tool reads it: which migrations it holds, how they
depend on each other, and which files the tool would pass over.

Python migrations (Alembic's, Django's) are parsed, never imported: importing them would run
the project's code, and its imports, inside the gate. The folder is the target's too: only its
regular files and folders are read, never through a symlink that leaves it (``net.files``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_deploycheck.net.files import Unreadable, read_bytes, refusal

SKIPPED_DIRS = {"__pycache__", "node_modules", "site-packages"}


@dataclass
class Folder:
    """What a migrations folder says the database should hold.

    ``versions``: the migrations to apply, named as the history table names them.
    ``parents``: Alembic's revision graph (a revision's ``down_revision`` and ``depends_on``);
    ``labels``: its branch labels. ``replaces``: Django's squashed migrations and the ones each
    replaces. ``checksums``: Flyway's scripts' checksums, by version (a repeatable script by its
    name); ``digests``: the SHA-256 digests Prisma accepts for each migration's script.
    ``ignored``: files the tool would not run, each with the reason; ``unread``: paths not
    read at all (a symlink out of the folder, a FIFO, a file too large), each with the reason.
    """

    versions: set[str] = field(default_factory=set)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    replaces: dict[str, tuple[str, ...]] = field(default_factory=dict)
    checksums: dict[str, int] = field(default_factory=dict)
    digests: dict[str, frozenset[str]] = field(default_factory=dict)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    unread: dict[str, str] = field(default_factory=dict)


def read_folder(folder: Path, tool: str | None) -> Folder:
    """The migrations in ``folder`` as ``tool`` reads them (numbered files for an unknown one)."""
    read = READERS.get(tool or "", _numbered)
    return read(folder, Folder())


def normal(version: str) -> str:
    """A numeric version without its leading zeros (``0001`` is ``1``)."""
    return version.lstrip("0") or "0" if version.isdigit() else version


def _files(
    folder: Path, found: Folder, recursive: bool = False, root: Path | None = None
) -> Iterable[Path]:
    """The files (and, flat, the folders) a tool looks at, in name order: hidden ones and
    caches left out, and what may not be read below ``root`` (default: ``folder``) noted in
    ``found.unread``."""
    if not recursive:
        paths = sorted(p for p in folder.iterdir() if not _skipped(p.name))
        yield from (p for p in paths if _readable(root or folder, p, found))
        return
    for path in sorted(_walk(folder, found)):
        if path.is_file():
            yield path


def _walk(folder: Path, found: Folder) -> Iterable[Path]:
    """Every path below ``folder`` that may be read, never entering a hidden folder, a cache
    or a symlinked one."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not _skipped(d)]
        here = Path(root)
        paths = (here / name for name in [*dirs, *files] if not _skipped(name))
        yield from (p for p in paths if _readable(folder, p, found))


def _readable(folder: Path, path: Path, found: Folder) -> bool:
    why = refusal(path, folder)
    if why is not None:
        found.unread[_name(folder, path)] = why
    return why is None


def _content(folder: Path, path: Path, found: Folder) -> bytes | None:
    """A file's bytes, or None (noted in ``found.unread``) when it may not be read."""
    if not _readable(folder, path, found):
        return None
    try:
        return read_bytes(path)
    except Unreadable as why:
        found.unread[_name(folder, path)] = str(why)
        return None


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRS


def _name(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


# -- Supabase CLI and golang-migrate: numbered SQL files --------------------------------------

# Supabase CLI: <timestamp>_<name>.sql, anything else is skipped with a warning.
_SUPABASE = re.compile(r"^(\d+)_.*\.sql$")
# golang-migrate: <version>_<title>.up.<ext> and .down.<ext>; other files are passed over.
_GOLANG = re.compile(r"^(\d+)_.*\.(up|down)\.[^.]+$")
_LEADING_NUMBER = re.compile(r"^(\d+)(?:[_.-]|$)")


def _matching(
    pattern: re.Pattern[str], wanted: str, own: str = "(?!)"
) -> Callable[[Path, Folder], Folder]:
    """Files named after ``pattern`` are migrations (its first group the version); those
    matching ``own`` are the tool's, not migrations; anything else is passed over."""

    def read(folder: Path, found: Folder) -> Folder:
        for path in _files(folder, found):
            match = pattern.match(path.name) if path.is_file() else None
            if match is None and re.fullmatch(own, path.name):
                continue
            if match is None:
                found.ignored.append((_name(folder, path), f"not named {wanted}"))
            else:
                found.versions.add(normal(match.group(1)))
        return found

    return read


def _numbered(folder: Path, found: Folder) -> Folder:
    """A tool not known: files named after a number are migrations; others are not."""
    for path in _files(folder, found):
        number = _LEADING_NUMBER.match(path.name)
        if number:
            found.versions.add(normal(number.group(1)))
        else:
            found.ignored.append((_name(folder, path), "not named after a version number"))
    return found


# -- Flyway -----------------------------------------------------------------------------------

_FLYWAY_VERSIONED = re.compile(r"^V(\d+(?:[._]\d+)*)__.+\.sql$")
_FLYWAY_REPEATABLE = re.compile(r"^R__.+\.sql$")
# Undo (U), baseline (B) scripts and callbacks (beforeMigrate.sql, afterEachMigrate__x.sql):
# Flyway's own, but not migrations to apply.
_FLYWAY_OTHER = re.compile(r"^(?:[UB]\d+(?:[._]\d+)*__.+|(?:before|after)[A-Z]\w*(?:__.+)?)\.sql$")


def _flyway(folder: Path, found: Folder) -> Folder:
    """Flyway's locations are scanned recursively; a script whose name does not follow its
    naming is silently passed over by Flyway (``V2_x.sql``: one underscore)."""
    for path in _files(folder, found, recursive=True):
        name = path.name
        versioned = _FLYWAY_VERSIONED.match(name)
        if versioned or _FLYWAY_REPEATABLE.match(name):
            # A repeatable script is applied while its last run had this checksum.
            key = (
                ".".join(normal(p) for p in re.split(r"[._]", versioned.group(1)))
                if versioned
                else name
            )
            found.versions.add(key)
            content = _content(folder, path, found)
            if content is not None:
                found.checksums[key] = flyway_checksum(content)
        elif not _FLYWAY_OTHER.match(name):
            wanted = "V<version>__<description>.sql or R__<description>.sql"
            found.ignored.append((_name(folder, path), f"not named {wanted}"))
    return found


def flyway_checksum(content: bytes) -> int:
    """Flyway's checksum of a script: CRC-32 of its lines without their line breaks (and of
    the first without a byte-order mark), as a signed 32-bit integer."""
    text = content.decode("utf-8", errors="replace").removeprefix("\ufeff")
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


# -- Prisma -----------------------------------------------------------------------------------


def _prisma(folder: Path, found: Folder) -> Folder:
    """Prisma: one folder per migration, named as its history row, its script in
    ``migration.sql``; ``migration_lock.toml`` beside them records the provider and is not a
    migration."""
    for path in _files(folder, found):
        if path.is_dir():
            found.versions.add(path.name)
            script = path / "migration.sql"
            content = _content(folder, script, found) if script.exists() else None
            if content is not None:
                found.digests[path.name] = prisma_digests(content)
        elif path.name != "migration_lock.toml":
            found.ignored.append((_name(folder, path), "not a migration folder"))
    return found


def prisma_digests(script: bytes) -> frozenset[str]:
    """The checksums Prisma accepts for a script: the SHA-256 of the script as written, with
    its CRLF line breaks as LF, and with its LF as CRLF (a Git checkout may change them), each
    also in the unpadded hex older Prisma versions wrote (prisma-engines' ``checksum.rs``)."""
    variants = (script, script.replace(b"\r\n", b"\n"), script.replace(b"\n", b"\r\n"))
    digests = [hashlib.sha256(variant).digest() for variant in variants]
    return frozenset(
        form for digest in digests for form in (digest.hex(), "".join(f"{b:x}" for b in digest))
    )


# -- Python migrations: Alembic and Django ----------------------------------------------------


def _assignments(tree: ast.AST) -> dict[str, object]:
    """The literal values assigned at the top of a module or class body."""
    body = getattr(tree, "body", [])
    values: dict[str, object] = {}
    for node in body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue  # not a literal: not one of the names read here
    return values


def _parse(folder: Path, path: Path, found: Folder) -> ast.Module | None:
    content = _content(folder, path, found)
    try:
        return ast.parse(content, str(path)) if content is not None else None
    except (SyntaxError, ValueError):
        return None


def _names(value: object) -> tuple[str, ...]:
    """A revision field (``None``, one id, or a tuple of ids) as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


def _alembic(folder: Path, found: Folder) -> Folder:
    """Alembic: each script declares ``revision`` and ``down_revision`` (a tuple at a merge),
    optionally ``branch_labels`` and ``depends_on``; the history is that graph, whatever the
    file names are."""
    for path in _files(folder, found, recursive=True):
        if path.name == "__init__.py":
            continue
        tree = _parse(folder, path, found) if path.suffix == ".py" else None
        values = _assignments(tree) if tree else {}
        revision = values.get("revision")
        if not isinstance(revision, str):
            found.ignored.append((_name(folder, path), "declares no Alembic revision"))
            continue
        found.versions.add(revision)
        parents = _names(values.get("down_revision")) + _names(values.get("depends_on"))
        found.parents[revision] = parents
        found.labels.update((label, revision) for label in _names(values.get("branch_labels")))
    return found


_APP_LABEL = re.compile(r"^\s*label\s*=\s*['\"](\w+)['\"]", re.MULTILINE)


def _django(folder: Path, found: Folder) -> Folder:
    """Django: every ``migrations`` package under the folder (the project, or one app's
    ``migrations``), each module in it a migration named ``app.module``; the app's label is its
    folder's name unless its ``apps.py`` sets another. A squashed migration's ``replaces`` are
    read so that the migrations it replaced stay known."""
    packages = [folder] if folder.name == "migrations" else []
    packages += sorted(p for p in _walk(folder, found) if p.name == "migrations" and p.is_dir())
    for package in packages:
        app = _app_label(folder, package.parent, found)
        for path in _files(package, found, root=folder):
            if path.is_dir() or path.name.startswith(("_", "~")):
                continue
            if path.suffix != ".py":
                found.ignored.append((_name(folder, path), "not a Python module"))
                continue
            name = f"{app}.{path.stem}"
            found.versions.add(name)
            tree = _parse(folder, path, found)
            classes = [n for n in getattr(tree, "body", []) if isinstance(n, ast.ClassDef)]
            migration = next((c for c in classes if c.name == "Migration"), None)
            replaced = _assignments(migration).get("replaces") if migration else None
            if isinstance(replaced, (list, tuple)) and replaced:
                found.replaces[name] = tuple(f"{a}.{n}" for a, n in replaced)
    return found


def _app_label(folder: Path, app: Path, found: Folder) -> str:
    config = app / "apps.py"
    content = _content(folder, config, found) if config.exists() else None
    label = _APP_LABEL.search(content.decode(errors="replace")) if content is not None else None
    return label.group(1) if label else app.name


READERS: dict[str, Callable[[Path, Folder], Folder]] = {
    "supabase": _matching(_SUPABASE, "<timestamp>_<name>.sql"),
    # Go code beside the scripts embeds them (golang-migrate's iofs source: //go:embed *.sql).
    "golang-migrate": _matching(_GOLANG, "<version>_<title>.up.sql or .down.sql", r".+\.go"),
    "flyway": _flyway,
    "prisma": _prisma,
    "alembic": _alembic,
    "django": _django,
}
