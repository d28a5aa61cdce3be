"""Names from the target are data, never SQL: a Supabase-shaped database whose tables, columns,
constraints, policies, functions, schemas and roles carry quotes, semicolons, comments,
backslashes, dollar quotes, newlines, mixed case, non-ASCII and 63-byte names — some of them
statements that would run a shell command or advance a sequence if they ever reached SQL text.
Every db and rls check of every phase runs on it, as a superuser (the worst case): the seeded
defects are reported under their exact names, the correct tables pass, nothing embedded runs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.net.postgres import run
from tests.conftest import SignOffReader

MARK = uuid.uuid4().hex[:8]
PWNED = f"pw_{MARK}"  # created in the server's data directory if the payload ever runs
# The payload of the report (a legal quoted identifier), with a file name of this run.
PAYLOAD = f"a;RESET ROLE;COPY(SELECT 1)TO PROGRAM'touch {PWNED}';--"
BUMP = "x');SELECT nextval('dc_marker');--"  # advances dc_marker if it runs, rolled back or not
SCHEMA = 'Tenant "Q" /* x */'
OWNED = "Ünïcödé $$ \\ notes"  # user-owned table in SCHEMA, correct policies
OWNER = 'owner"; DROP TABLE x; --'  # its owner column
BODY = "body\n-- x"  # a required column with a newline
LONG = "é" * 31 + "x"  # 63 bytes
ROLE = f'r"; RESET ROLE; --{MARK}'
OPEN = "Mixed Case;DROP TABLE notes;--"
FUNCTION = "f'; SELECT pg_sleep(5); --"
PARENT = "parent' OR '1'='1"
CHILD = "orphans; --"
KEY = "fk $$;--"

I = sql.Identifier  # noqa: E741


def _statements() -> list[sql.Composable]:
    own = sql.SQL("(SELECT auth.uid()) = {}")  # the initplan form real projects use
    payload, owned, long = I("public", PAYLOAD), I(SCHEMA, OWNED), I("public", LONG)
    statements: list[sql.Composable] = [
        sql.SQL("CREATE SEQUENCE public.dc_marker"),
        sql.SQL("CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA extensions"),
        sql.SQL("CREATE ROLE {} NOLOGIN").format(I(ROLE)),
        # Correct, user-owned, in public: the payload as a table name.
        sql.SQL(
            "CREATE TABLE {t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " user_id uuid NOT NULL REFERENCES auth.users (id), {body} text NOT NULL,"
            " CONSTRAINT {check} CHECK (length({body}) < 1000))"
        ).format(t=payload, body=I(BODY), check=I(BUMP)),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(payload),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO authenticated").format(payload),
        sql.SQL("INSERT INTO {} (user_id, {}) SELECT id, 'hello' FROM auth.users").format(
            payload, I(BODY)
        ),
        # Correct, user-owned, in a second exposed schema.
        sql.SQL("CREATE SCHEMA {}").format(I(SCHEMA)),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO anon, authenticated").format(I(SCHEMA)),
        sql.SQL(
            "CREATE TABLE {t} ({o} uuid NOT NULL REFERENCES auth.users (id), {body} text NOT NULL)"
        ).format(t=owned, o=I(OWNER), body=I(BODY)),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(owned),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO authenticated").format(owned),
        sql.SQL("INSERT INTO {} ({}, {}) SELECT id, 'x' FROM auth.users").format(
            owned, I(OWNER), I(BODY)
        ),
        # Defects, each to be reported under its exact name.
        sql.SQL("CREATE TABLE {} (id int)").format(I("public", OPEN)),
        sql.SQL("CREATE FUNCTION {}(integer) RETURNS integer LANGUAGE sql AS 'SELECT 1'").format(
            I("public", FUNCTION)
        ),
        sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, pages int)").format(long),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(long),
        sql.SQL("INSERT INTO {} VALUES (1, -5)").format(long),
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (pages >= 0) NOT VALID").format(
            long, I(BUMP)
        ),
        sql.SQL("CREATE POLICY {} ON {} FOR DELETE TO authenticated USING (true)").format(
            I(FUNCTION), long
        ),
        sql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING (true)").format(
            I(PAYLOAD), long, I(ROLE)
        ),
        sql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING (false)").format(
            I(OPEN), long, I(ROLE)
        ),
        sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(I("public", PARENT)),
        sql.SQL("CREATE TABLE {} ({} int CONSTRAINT {} REFERENCES {})").format(
            I(SCHEMA, CHILD), I(BODY), I(KEY), I("public", PARENT)
        ),
        sql.SQL("SET session_replication_role = replica"),
        sql.SQL("INSERT INTO {} VALUES (42), (2), (2)").format(I(SCHEMA, CHILD)),
        sql.SQL("RESET session_replication_role"),
        sql.SQL("CREATE SEQUENCE {} AS smallint").format(I(SCHEMA, PAYLOAD)),
        sql.SQL("SELECT setval({}, 32000)").format(sql.Literal(quoted_name(SCHEMA, PAYLOAD))),
        sql.SQL(
            "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SET search_path = ''"
            " AS $$BEGIN RETURN NEW; END$$"
        ).format(I(SCHEMA, "touch")),
        sql.SQL("CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()").format(
            I(PAYLOAD), I(SCHEMA, CHILD), I(SCHEMA, "touch")
        ),
        sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(I(SCHEMA, CHILD), I(PAYLOAD)),
    ]
    clauses = {
        "SELECT": "USING ({c})",
        "INSERT": "WITH CHECK ({c})",
        "UPDATE": "USING ({c}) WITH CHECK ({c})",
        "DELETE": "USING ({c})",
    }
    for command, clause in clauses.items():
        for table, owner in ((payload, "user_id"), (owned, OWNER)):
            create = sql.SQL("CREATE POLICY {} ON {} FOR {} TO authenticated ").format(
                I(f'{command} own"; SET ROLE postgres; --'), table, sql.SQL(command)
            )
            statements.append(create + sql.SQL(clause).format(c=own.format(I(owner))))
    return statements


@pytest.fixture
def hostile(supa: dict[str, Any], pg_admin: str) -> Any:
    """The demo's Supabase-style database with the hostile objects added."""
    admin = supa["admin"]
    admin.execute("CREATE SCHEMA IF NOT EXISTS extensions")
    for statement in _statements():
        admin.execute(statement)
    # A unique index built concurrently over duplicates stays behind, INVALID.
    with pytest.raises(psycopg.errors.UniqueViolation):
        admin.execute(
            sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON {} ({})").format(
                I(BUMP), I(SCHEMA, CHILD), I(BODY)
            )
        )
    yield supa
    admin.execute(sql.SQL("DROP OWNED BY {}").format(I(ROLE)))  # its policies
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(I(ROLE)))


def quoted_name(*parts: str) -> str:
    """``parts`` joined with dots, each quoted as PostgreSQL's quote_ident quotes a name that
    needs it (every hostile name here does; the plain ones need none)."""
    plain = {"public", "touch"}
    return ".".join(p if p in plain else '"' + p.replace('"', '""') + '"' for p in parts)


def test_every_db_and_rls_check_treats_names_as_data(
    pytester: pytest.Pytester, hostile: dict[str, Any], read_signoff: SignOffReader
) -> None:
    admin = hostile["admin"]
    count = "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})"
    rows = sql.SQL(count).format(I("public", PAYLOAD), I(SCHEMA, OWNED))
    before = admin.execute(rows).fetchone()
    pytester.makefile(
        ".toml",
        deploycheck=(
            "[targets.t.suites.rls]\n"
            f"exposed_schemas = {json.dumps(['public', SCHEMA])}\n"
            'public_tables = ["public.announcements"]\n'
            "[targets.t.suites.db]\n"
        ),
    )
    pytester.runpytest(
        "--deploy-target=t", "--deploy-suites=db,rls", f"--deploy-db-url={hostile['admin_url']}"
    )
    document = read_signoff(pytester.path / "deploycheck-signoff.json")

    assert {c["id"]: c["message"] for c in document["checks"] if c["outcome"] == "error"} == {}
    assert document["phases"] == [phase.value for phase in Phase]
    findings = [f for c in document["checks"] for f in c["findings"]]
    found = {(f["rule"], f["object"]) for f in findings}
    q = quoted_name
    long = q("public", LONG)
    assert found >= {
        ("rls_disabled_in_public", q("public", OPEN)),
        ("function_search_path_mutable", f"{q('public', FUNCTION)}(integer)"),
        ("rls_policy_always_true", f"{long}.{q(FUNCTION)}"),
        ("multiple_permissive_policies", long),
        ("not_valid_constraint", f"{long}.{q(BUMP)}"),
        ("check_violation", f"{long}.{q(BUMP)}"),
        ("fk_orphan", f"{q(SCHEMA, CHILD)}.{q(KEY)}"),
        ("disabled_trigger", f"{q(SCHEMA, CHILD)}.{q(PAYLOAD)}"),
        ("invalid_index", q(SCHEMA, BUMP)),
        ("sequence_exhaustion", q(SCHEMA, PAYLOAD)),
    }, sorted(found)
    # The role the duplicated policies are for, exactly.
    assert any(q(ROLE) in f["message"] for f in findings if f["object"] == long)
    # The correct tables pass every rule and probe.
    correct = (q("public", PAYLOAD), q(SCHEMA, OWNED))
    assert [f for f in found if f[1].startswith(correct)] == []
    # Nothing embedded in a name ran: no file, no sequence step, no row changed.
    assert admin.execute("SELECT pg_stat_file(%s, true)", (PWNED,)).fetchone() == (None,)
    assert admin.execute("SELECT is_called FROM public.dc_marker").fetchone() == (False,)
    assert admin.execute(rows).fetchone() == before


def test_one_call_runs_one_statement(supa: dict[str, Any]) -> None:
    # The guarantee the probes rest on: a second statement in the text is refused, not run.
    with psycopg.connect(supa["admin_url"]) as conn:
        conn.execute("CREATE SEQUENCE public.dc_marker")
        conn.commit()
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            run(conn, "SELECT 1; SELECT nextval('public.dc_marker')")
        conn.rollback()
        assert conn.execute("SELECT is_called FROM public.dc_marker").fetchone() == (False,)
