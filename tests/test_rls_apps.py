"""The rls suite on schemas written the way real Supabase applications write theirs (our own
SQL, in ``tests/rls_apps``: a to-do list, user management with public profiles, a chat every
signed-in user reads, a subscription catalog, team accounts with SECURITY DEFINER functions),
each on the platform's defaults (the API roles hold every privilege, RLS alone decides) with
three users. Each correct variant ends GO, or HOLD for one item that one documented config
line turns into GO; each broken variant ends ROLLBACK naming the table and the role; no run
leaves a trace in any table or sequence."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from examples.demo_app.database import open_platform
from pytest_deploycheck.cli import main
from tests.conftest import Deploy, DeployRun, LoopbackServer, clone, database_state

APPS = Path(__file__).parent / "rls_apps"
MOVE_STOCK = """CREATE FUNCTION public.move_stock(from_org uuid, to_org uuid, item_name text)
  RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    UPDATE public.stock SET org_id = to_org WHERE org_id = from_org AND item = item_name
$$"""
# Only admins promote: unless the caller is in no organisation, and so has no role at all.
PROMOTE = """CREATE FUNCTION public.promote_member(org uuid, member uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE v_caller_role text;
BEGIN
  SELECT role INTO v_caller_role FROM public.org_members
  WHERE org_id = org AND user_id = (SELECT auth.uid());
  IF v_caller_role != 'admin' THEN
    RAISE EXCEPTION 'only admins promote members' USING ERRCODE = '42501';
  END IF;
  UPDATE public.org_members SET role = 'admin' WHERE org_id = org AND user_id = member;
END
$$"""
# Three users, A and B the two oldest (the ones the probes act as).
USERS = """INSERT INTO auth.users (email, encrypted_password, created_at) VALUES
  ('ada@example.com', 'x', '2026-01-01'), ('bob@example.com', 'x', '2026-01-02'),
  ('cyd@example.com', 'x', '2026-01-03')"""


@dataclass(frozen=True)
class App:
    """An application's schema, the config line its correct variant needs (if any) and the
    reason that HOLDs it without, its broken variant, and what the ROLLBACK must name."""

    config: str
    hold: tuple[str, ...]  # what each reason of the HOLD starts with
    broken: str
    rollback: str
    role: str


APPLICATIONS = {
    "tasks": App(
        "",
        (),
        # Splinter's initplan form, and no owner test: anyone signed in files tasks for anyone.
        'DROP POLICY "tasks: add own" ON public.tasks; CREATE POLICY "tasks: add own" ON'
        " public.tasks FOR INSERT TO authenticated WITH CHECK ((SELECT auth.uid()) IS NOT NULL)",
        "[critical-failure] rls.write_check_not_tied_to_user: [write_check_not_tied_to_user]"
        ' policy "tasks: add own" lets INSERT on public.tasks write rows for any user',
        "could make a row out as user B's on public.tasks",
    ),
    "profiles": App(
        'public_reads = ["public.profiles"]',
        (
            "[major-failure] rls.anon_policy_always_true: [anon_policy_always_true] policy"
            ' "profiles are public" lets anyone signed out read every row of public.profiles',
        ),
        # The edit policy for every role, and USING (true): anyone edits any profile.
        'DROP POLICY "users edit their profile" ON public.profiles; CREATE POLICY'
        ' "users edit their profile" ON public.profiles FOR UPDATE USING (true)',
        "[critical-failure] rls.write_probes: [cross_user_update_others] as authenticated user",
        "as anon (signed out), the API could update users' rows on public.profiles",
    ),
    "chat": App(
        'public_reads = ["public.channels", "public.messages"]',
        ("[major-failure] rls.signed_in_reads_all_rows: [signed_in_reads_all_rows] policy",),
        # The seeded write hole: the edit policy's check no longer ties the message to its
        # author, so a user gives their messages to someone else (initplan form).
        'DROP POLICY "users edit their messages" ON public.messages; CREATE POLICY'
        ' "users edit their messages" ON public.messages FOR UPDATE TO authenticated'
        " USING ((SELECT auth.uid()) = user_id) WITH CHECK (true)",
        "[critical-failure] rls.write_probes: [cross_user_reassign_own] as authenticated user",
        "give its own rows to user B on public.messages",
    ),
    "billing": App(
        "",
        (),
        "ALTER TABLE public.customers DISABLE ROW LEVEL SECURITY",
        "[critical-failure] rls.rls_disabled_in_public: [rls_disabled_in_public] table"
        " public.customers is exposed to the API without Row Level Security: the API roles may"
        " write to it",
        "as anon (signed out), the API reads 3 rows of public.customers",
    ),
    "accounts": App(
        'reviewed_functions = ["public.create_team_account", "public.invite_to_account",'
        ' "public.accept_invitation", "public.account_overview"]',
        (
            "[major-failure] rls.anon_security_definer_function_executable:",
            "[major-failure] rls.authenticated_security_definer_function_executable:",
        ),
        # Anyone may add their own membership: to any account.
        'CREATE POLICY "users join accounts" ON public.account_members FOR INSERT'
        " TO authenticated WITH CHECK (user_id = (SELECT auth.uid()))",
        "[critical-failure] rls.write_probes: [cross_tenant_insert] as authenticated user",
        "put a row in a tenant of user B's it cannot read (account_id",
    ),
    # A team-scoped table whose read policy asks only whether the user is in *some* team.
    "teams": App(
        "",
        (),
        'DROP POLICY "members read documents" ON public.documents; CREATE POLICY'
        ' "members read documents" ON public.documents FOR SELECT TO authenticated'
        " USING ((SELECT private.has_any_team()))",
        "[critical-failure] rls.read_probes: [cross-tenant-read] as authenticated user",
        "rows of public.documents of tenants (team_id) the user is not a member of",
    ),
    # Behind MFA: the probes' tokens must say aal2, or they see nothing.
    "mfa": App(
        'claims = { aal = "aal2" }',
        ("[could-not-check] rls.read_probes: [probes-blind] the probes are blind on 1 table",),
        # ... or anyone whose token says an address at the same domain: it asks, and leaks.
        'DROP POLICY "journal: read own" ON public.journal; CREATE POLICY "journal: read own"'
        " ON public.journal FOR SELECT TO authenticated USING ((SELECT auth.uid()) = owner OR"
        " ((SELECT auth.jwt()) ->> 'email') LIKE '%@example.com')",
        "[critical-failure] rls.read_probes: [cross_user_read] as authenticated user",
        "rows of public.journal that belong to user",
    ),
    # The organisation comes from a claim a token hook adds: the probes must be given it.
    "orgs": App(
        "identity_claims = { user_a = { app_metadata = { org_id ="
        ' "00000000-0000-4000-8000-00000000000a" } }, user_b = { app_metadata = { org_id ='
        ' "00000000-0000-4000-8000-00000000000b" } } }',
        ("[could-not-check] rls.read_probes: [probes-blind] the probes are blind on 2 table",),
        """DROP POLICY "invoices: read own org's" ON public.invoices; CREATE POLICY"""
        """ "invoices: read own org's" ON public.invoices FOR SELECT TO authenticated USING"""
        " ((((SELECT auth.jwt()) -> 'app_metadata') ->> 'org_id') IS NOT NULL)",
        "[critical-failure] rls.read_probes: [cross-tenant-read] as authenticated user",
        "rows of public.invoices of tenants (org_id) the user is not a member of",
    ),
    # A helper that refuses a token without a future expiry: the probes' tokens have one.
    "fresh": App(
        "",
        (),
        'DROP POLICY "bookmarks: read own" ON public.bookmarks; CREATE POLICY'
        ' "bookmarks: read own" ON public.bookmarks FOR SELECT TO authenticated'
        " USING ((SELECT private.session_user_id()) IS NOT NULL)",
        "[critical-failure] rls.read_probes: [cross_user_read] as authenticated user",
        "rows of public.bookmarks that belong to user",
    ),
    # The application's own guard refuses to change a post's author: a blocked write.
    "guarded": App(
        "",
        (),
        # The guard covers changes, not new posts: one made out as someone else's goes in.
        'DROP POLICY "posts: add own" ON public.posts; CREATE POLICY "posts: add own"'
        " ON public.posts FOR INSERT TO authenticated WITH CHECK (true)",
        "[critical-failure] rls.write_probes: [cross_user_insert_as_other] as authenticated",
        "make a row out as user B's on public.posts",
    ),
    # Stock moves through a definer function that checks the caller; the broken deploy adds
    # one that checks nobody, callable as anon (the platform's default grant).
    "inventory": App(
        'reviewed_functions = ["public.transfer_stock"]',
        ("[major-failure] rls.authenticated_security_definer_function_executable:",),
        MOVE_STOCK,
        "[critical-failure] rls.definer_writes_unchecked: [definer_writes_unchecked] SECURITY"
        " DEFINER function public.move_stock(from_org uuid, to_org uuid, item_name text)",
        "is callable by anon and authenticated and writes public.stock with its owner's rights,"
        " without asking who the caller is",
    ),
}


@pytest.fixture(scope="session")
def platform(pg_admin: str) -> Iterator[str]:
    """The Supabase-style bootstrap with the platform's default privileges, as a template."""
    database = open_platform(pg_admin)
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute((APPS / "platform.sql").read_text())
    yield database.name
    database.close()


@dataclass
class AppDatabase:
    admin: psycopg.Connection[Any]
    checker: str


@pytest.fixture
def app_database(pg_admin: str, platform: str) -> Iterator[Callable[[str], AppDatabase]]:
    """Makes an application's database: its schema, the three users, its seed data."""
    made: list[tuple[str, psycopg.Connection[Any]]] = []

    def make(app: str) -> AppDatabase:
        name = clone(pg_admin, platform)
        admin = psycopg.connect(psycopg.conninfo.make_conninfo(pg_admin, dbname=name))
        admin.autocommit = True
        made.append((name, admin))
        schema, seed = (APPS / f"{app}.sql").read_text().split("-- seed\n")
        admin.execute(schema)
        admin.execute(USERS)
        admin.execute(seed)
        admin.execute("ANALYZE")
        checker = psycopg.conninfo.make_conninfo(pg_admin, dbname=name, user="deploycheck")
        return AppDatabase(admin, checker)

    yield make
    with psycopg.connect(pg_admin, autocommit=True) as server:
        for name, admin in made:
            admin.close()
            server.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def check(
    deploy: Deploy, database: AppDatabase, config: str, *args: str, version: str = "1.4.2"
) -> DeployRun:
    """The rls suite on a target that is not production (the write probes run); the run
    must leave every table and sequence as it found them."""
    before = database_state(database.admin)
    run = deploy(
        "--deploy-target=t",
        "--deploy-suites=rls",
        f"--deploy-db-url={database.checker}",
        *args,
        config=f'[targets.t]\nversion = "{version}"\n[targets.t.suites.rls]\n{config}\n',
    )
    assert database_state(database.admin) == before
    return run


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_correct_application_is_go_or_holds_for_one_config_line(
    deploy: Deploy, app_database: Callable[[str], AppDatabase], name: str
) -> None:
    app, database = APPLICATIONS[name], app_database(name)
    if app.hold:
        held = check(deploy, database, "").signoff
        assert held["verdict"] == "HOLD", held["reasons"]
        reasons = held["reasons"]
        assert reasons
        assert all(r.startswith(app.hold) for r in reasons), reasons
        assert all(app.config.split(" = ")[0] in r for r in reasons)  # each names the line
    go = check(deploy, database, app.config).signoff
    assert (go["verdict"], go["reasons"]) == ("GO", [])
    outcomes = {c["id"]: c["outcome"] for c in go["checks"]}
    assert "skipped" not in outcomes.values()  # no check switched off, the probes included


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_broken_application_is_rollback_naming_table_and_role(
    deploy: Deploy, app_database: Callable[[str], AppDatabase], name: str
) -> None:
    app, database = APPLICATIONS[name], app_database(name)
    database.admin.execute(app.broken)
    document = check(deploy, database, app.config).signoff
    assert document["verdict"] == "ROLLBACK", document["reasons"]
    assert [r for r in document["reasons"] if r.startswith(app.rollback)], document["reasons"]
    messages = [f["message"] for c in document["checks"] for f in c["findings"]]
    assert [m for m in messages if app.role in m], messages


def test_access_widened_since_the_last_go_is_rollback_and_named(
    deploy: Deploy, app_database: Callable[[str], AppDatabase], pytester: pytest.Pytester
) -> None:
    database = app_database("tasks")
    first = check(deploy, database, "")
    assert first.signoff["verdict"] == "GO"
    (pytester.path / "baseline.json").write_bytes(
        (pytester.path / "deploycheck-signoff.json").read_bytes()
    )
    # The next deploy's migration lets anyone signed out read every task.
    database.admin.execute(
        'CREATE POLICY "tasks: browse" ON public.tasks FOR SELECT TO anon USING (true)'
    )
    document = check(deploy, database, "", "--deploy-baseline=baseline.json", version="1.5.0")
    assert document.signoff["verdict"] == "ROLLBACK"
    assert document.signoff["reasons"][0].startswith(
        "[critical-failure] rls.access: [access-widened] anon can now select public.tasks"
        " (none -> open) since 1.4.2"
    )
    # Without a baseline the same schema is a HOLD: opened on purpose or not, a person decides.
    unanchored = check(deploy, database, "", version="1.5.0").signoff
    assert unanchored["verdict"] == "HOLD", unanchored["reasons"]
    # A baseline edited to hide the widening (anon could always read tasks, it now says) is
    # refused, and so is a HOLD sign-off taken for the last GO: exit 4, one line, no verdict.
    edited = json.loads((pytester.path / "baseline.json").read_text())
    [access] = [c for c in edited["checks"] if c["id"] == "rls.access"]
    access["data"]["access"]["public.tasks"]["anon"]["select"] = "open"
    (pytester.path / "baseline.json").write_text(json.dumps(edited))
    (pytester.path / "held.json").write_bytes(
        (pytester.path / "deploycheck-signoff.json").read_bytes()
    )
    for baseline, why in [
        ("baseline.json", "its content does not match its digest (it was edited)"),
        ("held.json", "its verdict is HOLD: only a GO sign-off is a baseline"),
    ]:
        result = pytester.runpytest_subprocess(
            "--deploy-target=t",
            "--deploy-suites=rls",
            f"--deploy-db-url={database.checker}",
            f"--deploy-baseline={baseline}",
        )
        assert result.ret == 4
        errors = [line for line in result.stderr.lines if line.strip()]
        assert len(errors) == 1, errors
        assert why in errors[0]


def test_access_narrowed_since_the_last_go_is_reported_not_failed(
    deploy: Deploy, app_database: Callable[[str], AppDatabase], pytester: pytest.Pytester
) -> None:
    database = app_database("tasks")
    assert check(deploy, database, "", "--deploy-state=state").signoff["verdict"] == "GO"
    assert (pytester.path / "state" / "last-go-signoff.json").exists()
    database.admin.execute('DROP POLICY "tasks: remove own" ON public.tasks')
    document = check(deploy, database, "", "--deploy-state=state", version="1.5.0").signoff
    assert (document["verdict"], document["reasons"]) == ("GO", [])
    assert [a for a in document["advisories"] if "[access-narrowed]" in a] == [
        "rls.access_narrowed: [access-narrowed] authenticated can no longer delete public.tasks"
        " (scoped -> none) since 1.4.2"
    ]


def test_a_team_leak_is_rollback_against_the_last_go_too(
    deploy: Deploy, app_database: Callable[[str], AppDatabase], pytester: pytest.Pytester
) -> None:
    database = app_database("teams")
    assert check(deploy, database, "", "--deploy-state=state").signoff["verdict"] == "GO"
    database.admin.execute(APPLICATIONS["teams"].broken)  # the next deploy's migration
    document = check(deploy, database, "", "--deploy-state=state", version="1.5.0").signoff
    assert document["verdict"] == "ROLLBACK"
    widened = [r for r in document["reasons"] if "[access-widened]" in r]
    assert widened == [
        "[critical-failure] rls.access: [access-widened] user A now reads 4 rows of"
        " public.documents outside its own rows and tenants (none before) since 1.4.2"
        " (and 1 more)"
    ]
    [matrix] = [c["data"]["access"] for c in document["checks"] if c["id"] == "rls.access"]
    assert matrix["public.documents"]["outside_read"] == {"user_a": 4, "user_b": 4}
    assert matrix["public.documents"]["own_read"] == {"user_a": 2, "user_b": 2}
    assert matrix["public.documents"]["blind"] is False


def test_a_caller_check_a_null_defeats_is_critical(
    deploy: Deploy, app_database: Callable[[str], AppDatabase]
) -> None:
    database = app_database("inventory")
    database.admin.execute(PROMOTE)
    # The hole is real: as anon, in a transaction rolled back, a member of another
    # organisation is made its admin.
    admin = database.admin
    with admin.transaction(force_rollback=True):
        admin.execute("UPDATE public.org_members SET role = 'member'")
        [(org, member)] = admin.execute("SELECT org_id, user_id FROM public.org_members LIMIT 1")
        admin.execute("SET LOCAL ROLE anon")
        admin.execute("SELECT public.promote_member(%s, %s)", (org, member))
        admin.execute("RESET ROLE")
        promoted = admin.execute(
            "SELECT role FROM public.org_members WHERE org_id = %s AND user_id = %s", (org, member)
        ).fetchone()
    assert promoted == ("admin",)
    document = check(deploy, database, APPLICATIONS["inventory"].config).signoff
    assert document["verdict"] == "ROLLBACK", document["reasons"]
    [finding] = [
        f
        for c in document["checks"]
        if c["id"] == "rls.definer_writes_unchecked"
        for f in c["findings"]
    ]
    assert finding["object"] == "public.promote_member(org uuid, member uuid)"
    assert (
        "its only check of the caller (IF v_caller_role != 'admin' THEN RAISE)"
        in (finding["message"])
    )


@pytest.mark.parametrize("name", ["tasks", "profiles"])
def test_init_writes_a_file_whose_first_run_agrees_with_the_hand_written_one(
    deploy: Deploy,
    app_database: Callable[[str], AppDatabase],
    server: LoopbackServer,
    pytester: pytest.Pytester,
    name: str,
) -> None:
    """``deploycheck init`` on the application's database finds a Supabase project (its API
    roles, its exposed schemas) and configures the rls suite; its run gives the verdict and
    reasons the hand-written configuration gives, GO or the HOLD one config line settles."""
    database = app_database(name)
    hand = check(deploy, database, "").signoff
    config = pytester.path / "init" / "deploycheck.toml"  # beside the hand-written one
    config.parent.mkdir()
    args = ["init", "--base-url", server.url, "--db-url", database.checker, "-o", str(config)]
    assert main(args) == 0
    assert "[targets.app.suites.rls]" in config.read_text()
    before = database_state(database.admin)
    written = deploy(f"--deploy-config={config}", "--deploy-suites=rls").signoff
    assert database_state(database.admin) == before
    assert (written["verdict"], written["reasons"]) == (hand["verdict"], hand["reasons"])
