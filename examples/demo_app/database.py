"""The demo's PostgreSQL: an embedded server or a given one, a fresh database, the platform
bootstrap, versioned migrations, seed data, and the database-level faults."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from examples.demo_app.faults import Faults

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
BOOTSTRAP_LOCK = 7_354_001  # serialises role creation when demos share a server
USERS = {
    "alice@example.com": ("Alice", "Acme"),
    "bob@example.com": ("Bob", "Globex"),
}


@dataclass
class DemoDatabase:
    """Where the demo's database is, as each role sees it, and how to remove it."""

    admin_url: str
    app_url: str
    checker_url: str
    name: str
    _cleanups: list[Callable[[], None]] = field(default_factory=list)
    _holder: threading.Event | None = None

    def close(self) -> None:
        """Release held locks, drop the database, stop an embedded server: newest first."""
        if self._holder is not None:
            self._holder.set()
        while self._cleanups:
            self._cleanups.pop()()


def migration_files() -> list[Path]:
    """The migrations in version order; the file name's prefix before ``_`` is the version."""
    return sorted(MIGRATIONS.glob("*.sql"))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt, stored as ``scrypt$salt$hash``."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored scrypt hash."""
    _, salt, _ = stored.split("$")
    return hash_password(password, bytes.fromhex(salt)) == stored


def open_database(database_url: str | None, password: str, faults: Faults) -> DemoDatabase:
    """Create and populate the demo database; the caller must ``close()`` it."""
    database = open_platform(database_url)
    try:
        _populate(database, password, faults)
    except BaseException:
        database.close()
        raise
    return database


def open_platform(database_url: str | None) -> DemoDatabase:
    """A fresh database with the platform's bootstrap only (roles, ``auth``), the API exposing
    ``public``; the caller must ``close()`` it."""
    cleanups: list[Callable[[], None]] = []
    try:
        server_url = database_url or _embedded_server(cleanups)
        name = f"deploycheck_demo_{uuid.uuid4().hex[:10]}"
        database = DemoDatabase(
            admin_url=make_conninfo(server_url, dbname=name),
            app_url=_as_role(server_url, name, "authenticator"),
            checker_url=_as_role(server_url, name, "deploycheck"),
            name=name,
            _cleanups=cleanups,
        )
        with psycopg.connect(server_url, autocommit=True) as server:
            server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            cleanups.append(lambda: _drop_database(server_url, name))
            # Roles belong to the whole server: demos sharing one create them one at a time.
            # Advisory locks are per database, so the lock is taken in the server's own.
            server.execute("SELECT pg_advisory_lock(%s)", (BOOTSTRAP_LOCK,))
            try:
                with psycopg.connect(database.admin_url, autocommit=True) as conn:
                    conn.execute((HERE / "bootstrap.sql").read_text())
            finally:
                server.execute("SELECT pg_advisory_unlock(%s)", (BOOTSTRAP_LOCK,))
            server.execute(
                sql.SQL(
                    "ALTER ROLE authenticator IN DATABASE {} SET pgrst.db_schemas = 'public'"
                ).format(sql.Identifier(name))
            )
        return database
    except BaseException:
        while cleanups:
            cleanups.pop()()
        raise


def _embedded_server(cleanups: list[Callable[[], None]]) -> str:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    workdir = Path(tempfile.mkdtemp(prefix="deploycheck-demo-pg-"))
    cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    server = pgserver.get_server(workdir, cleanup_mode="stop")
    cleanups.append(server.cleanup)
    return str(server.get_uri())


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _as_role(server_url: str, dbname: str, role: str) -> str:
    params = conninfo_to_dict(server_url)
    params.pop("password", None)
    params.update(dbname=dbname, user=role)
    return make_conninfo("", **params)


def _populate(database: DemoDatabase, password: str, faults: Faults) -> None:
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        files = migration_files()
        for path in files[:-1] if "pending-migration" in faults else files:
            apply_migration(conn, path)
        _seed(conn, password)
        _break(conn, faults)
    if "lock-held" in faults:
        database._holder = _hold_lock(database.admin_url)


def apply_migration(conn: psycopg.Connection[tuple[object, ...]], path: Path) -> None:
    """Run one migration file in a transaction and record it as the Supabase CLI does."""
    version, _, name = path.stem.partition("_")
    statements = path.read_text()
    with conn.transaction():
        conn.execute(statements)
        conn.execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, statements, name)"
            " VALUES (%s, %s, %s)",
            (version, [statements], name),
        )


def _seed(conn: psycopg.Connection[tuple[object, ...]], password: str) -> None:
    with conn.transaction():
        for email, (display, org) in USERS.items():
            (user_id,) = conn.execute(
                "INSERT INTO auth.users (email, encrypted_password) VALUES (%s, %s) RETURNING id",
                (email, hash_password(password)),
            ).fetchone() or (None,)
            conn.execute("INSERT INTO public.profiles VALUES (%s, %s)", (user_id, display))
            for n in (1, 2):
                conn.execute(
                    "INSERT INTO public.notes (owner_id, title, body) VALUES (%s, %s, %s)",
                    (user_id, f"{display}'s note {n}", f"private to {display}"),
                )
            (org_id,) = conn.execute(
                "INSERT INTO public.organisations (name) VALUES (%s) RETURNING id", (org,)
            ).fetchone() or (None,)
            conn.execute("INSERT INTO public.members VALUES (%s, %s, 'owner')", (org_id, user_id))
            conn.execute(
                "INSERT INTO public.documents (org_id, title) VALUES (%s, %s)",
                (org_id, f"{org} roadmap"),
            )
        conn.execute("INSERT INTO public.announcements (message) VALUES ('Welcome to the demo')")


def _break(conn: psycopg.Connection[tuple[object, ...]], faults: Faults) -> None:
    if table := faults.value("rls-disabled"):
        conn.execute(
            sql.SQL("ALTER TABLE public.{} DISABLE ROW LEVEL SECURITY").format(
                sql.Identifier(table)
            )
        )
        conn.execute(sql.SQL("GRANT SELECT ON public.{} TO anon").format(sql.Identifier(table)))
    if table := faults.value("permissive-policy"):
        conn.execute(
            sql.SQL("CREATE POLICY {} ON public.{} FOR SELECT USING (true)").format(
                sql.Identifier(f"{table}_debug_read_all"), sql.Identifier(table)
            )
        )
    if "invalid-index" in faults:
        # A unique index built concurrently over duplicate titles fails and stays INVALID.
        conn.execute(
            "INSERT INTO public.notes (owner_id, title)"
            " SELECT owner_id, 'dup' FROM public.notes LIMIT 2"
        )
        with suppress(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY notes_title_key ON public.notes (title)")


def _hold_lock(admin_url: str) -> threading.Event:
    """A transaction that locks notes against writers and a writer stuck behind it."""
    release = threading.Event()
    ready = threading.Barrier(3)

    def holder() -> None:
        with psycopg.connect(admin_url, application_name="demo-long-transaction") as conn:
            conn.execute("LOCK TABLE public.notes IN EXCLUSIVE MODE")
            ready.wait()
            release.wait()

    def waiter() -> None:
        # The database may go away while it waits (the demo stopping): that ends it quietly.
        with (
            suppress(psycopg.OperationalError),
            psycopg.connect(admin_url, application_name="demo-blocked-writer") as conn,
        ):
            ready.wait()
            conn.execute("UPDATE public.notes SET body = body WHERE id = 1")

    for target in (holder, waiter):
        threading.Thread(target=target, daemon=True).start()
    ready.wait()
    return release
