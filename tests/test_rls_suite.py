"""The rls suite on a real PostgreSQL with a Supabase-style bootstrap (the demo's schema: roles,
auth.users, auth.uid(), user-owned notes, organisations with members and documents, and the
public-by-design announcements): every rule and probe fires on a defect seeded here and nothing
fires on the clean schema."""

from __future__ import annotations

import gc
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.net.postgres import RuleResult, connect_readonly
from pytest_deploycheck.rls import evidence, probes, rules
from pytest_deploycheck.rls import writes as writes_module
from pytest_deploycheck.rls.identities import identities
from pytest_deploycheck.rls.reads import read_all, read_findings
from pytest_deploycheck.rls.settings import RlsSettings
from pytest_deploycheck.rls.writes import write_all
from tests.conftest import SignOffReader, database_state

SETTINGS = RlsSettings()


def results(supa: dict[str, Any], settings: RlsSettings = SETTINGS) -> dict[str, RuleResult]:
    """Every rule and probe of the suite, run on the database as the checking role."""
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        schemas, _ = rules.exposed_schemas(conn, settings)
        found = {name: rule(conn, settings, schemas) for name, rule in rules.STATIC_RULES.items()}
        tables = evidence.exposed_tables(conn, settings, schemas)
        found.update(rules.evidence_rules(tables, settings))
        who = identities(conn, settings)
        reads = read_all(conn, settings, tables, who)
        found["read_probes"] = read_findings(conn, settings, tables, who, reads)
        found["write_probes"] = write_all(conn, settings, tables, who, reads).result
        return found
    finally:
        conn.close()


def findings(
    supa: dict[str, Any], rule: str, settings: RlsSettings = SETTINGS
) -> list[tuple[str, str]]:
    return [(f.rule, f.object) for f in results(supa, settings)[rule].findings]


def test_clean_schema_has_no_findings(supa: dict[str, Any]) -> None:
    found = results(supa)
    assert len(found) == len(rules.STATIC_RULES) + len(rules.EVIDENCE_RULES) + 2  # all ran
    assert {name: r.findings for name, r in found.items() if r.findings} == {}


def test_exposed_schemas_from_the_authenticator(supa: dict[str, Any]) -> None:
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        assert rules.exposed_schemas(conn, SETTINGS) == (["public"], [])
    finally:
        conn.close()


def test_exposed_schemas_setting_missing_is_reported(supa: dict[str, Any]) -> None:
    supa["admin"].execute(
        sql.SQL("ALTER ROLE authenticator IN DATABASE {} RESET pgrst.db_schemas").format(
            sql.Identifier(supa["name"])
        )
    )
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        schemas, missing = rules.exposed_schemas(conn, SETTINGS)
    finally:
        conn.close()
    assert schemas == ["public"]
    assert [f.rule for f in missing] == ["exposed_schemas_unknown"]


DEFECTS = [
    (
        "rls_disabled_in_public",
        "ALTER TABLE notes DISABLE ROW LEVEL SECURITY",
        [("rls_disabled_in_public", "public.notes")],
    ),
    (
        "policy_exists_rls_disabled",
        "ALTER TABLE notes DISABLE ROW LEVEL SECURITY",
        [("policy_exists_rls_disabled", "public.notes")],
    ),
    (
        "rls_enabled_no_policy",
        "CREATE TABLE public.drafts (id int); ALTER TABLE public.drafts ENABLE ROW LEVEL SECURITY",
        [("rls_enabled_no_policy", "public.drafts")],
    ),
    (
        "security_definer_view",
        "CREATE VIEW public.all_notes AS SELECT * FROM notes",
        [("security_definer_view", "public.all_notes")],
    ),
    (
        "auth_users_exposed",
        "CREATE VIEW public.people WITH (security_invoker = true) AS SELECT id, email FROM"
        " auth.users;"
        " GRANT SELECT ON public.people TO authenticated",
        [("auth_users_exposed", "public.people")],
    ),
    (
        "function_search_path_mutable",
        "CREATE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
        [("function_search_path_mutable", "public.answer()")],
    ),
    (
        "anon_security_definer_function_executable",
        "CREATE FUNCTION public.wipe() RETURNS int LANGUAGE sql SECURITY DEFINER SET"
        " search_path = '' AS 'SELECT 1'",
        [("anon_security_definer_function_executable", "public.wipe()")],
    ),
    (
        "authenticated_security_definer_function_executable",
        "CREATE FUNCTION public.wipe() RETURNS int LANGUAGE sql SECURITY DEFINER SET"
        " search_path = '' AS 'SELECT 1';"
        " REVOKE EXECUTE ON FUNCTION public.wipe() FROM PUBLIC; GRANT EXECUTE ON FUNCTION"
        " public.wipe() TO authenticated",
        [("authenticated_security_definer_function_executable", "public.wipe()")],
    ),
    (
        "rls_references_user_metadata",
        "CREATE POLICY notes_admins ON notes FOR SELECT TO authenticated"
        " USING ((auth.jwt() -> 'user_metadata' ->> 'admin')::boolean)",
        [("rls_references_user_metadata", "public.notes.notes_admins")],
    ),
    (
        "sensitive_columns_exposed",
        "CREATE TABLE public.accounts (id int, password_hash text)",
        [("sensitive_columns_exposed", "public.accounts")],
    ),
    (
        "materialized_view_in_api",
        "CREATE MATERIALIZED VIEW public.note_counts AS SELECT count(*) FROM notes;"
        " GRANT SELECT ON public.note_counts TO anon",
        [("materialized_view_in_api", "public.note_counts")],
    ),
    (
        "rls_policy_always_true",
        "CREATE POLICY notes_delete_any ON notes FOR DELETE TO authenticated USING (true)",
        [("rls_policy_always_true", "public.notes.notes_delete_any")],
    ),
    (
        "multiple_permissive_policies",
        "CREATE POLICY notes_select_again ON notes FOR SELECT TO authenticated USING (owner_id"
        " = auth.uid())",
        [("multiple_permissive_policies", "public.notes")],
    ),
    (
        "extension_in_public",
        "CREATE EXTENSION amcheck SCHEMA public",
        [("extension_in_public", "amcheck")],
    ),
    (
        "fkey_to_auth_unique",
        "CREATE TABLE public.invites (email text REFERENCES auth.users (email));"
        " ALTER TABLE public.invites ENABLE ROW LEVEL SECURITY",
        [("fkey_to_auth_unique", "public.invites.invites_email_fkey")],
    ),
    (
        "public_bucket_allows_listing",
        "CREATE SCHEMA storage; CREATE TABLE storage.buckets (id text PRIMARY KEY, public boolean);"
        " CREATE TABLE storage.objects (bucket_id text, name text); ALTER TABLE"
        " storage.objects ENABLE ROW LEVEL SECURITY;"
        " CREATE POLICY list_all ON storage.objects FOR SELECT USING (bucket_id = 'avatars');"
        " INSERT INTO storage.buckets VALUES ('avatars', true)",
        [("public_bucket_allows_listing", "avatars")],
    ),
    (
        "anon_policy_always_true",
        "GRANT SELECT ON notes TO anon; CREATE POLICY notes_debug ON notes FOR SELECT USING (true)",
        [("anon_policy_always_true", "public.notes.notes_debug")],
    ),
    (
        "signed_in_reads_all_rows",
        "CREATE POLICY notes_team ON notes FOR SELECT TO authenticated"
        " USING ((select auth.role()) = 'authenticated')",
        [("signed_in_reads_all_rows", "public.notes.notes_team")],
    ),
    (
        "write_check_not_tied_to_user",
        "CREATE POLICY notes_insert_any ON notes FOR INSERT TO authenticated WITH CHECK"
        " (owner_id IS NOT NULL)",
        [("write_check_not_tied_to_user", "public.notes.notes_insert_any")],
    ),
    (
        "policy_ignores_row",
        "CREATE POLICY documents_any_member ON documents FOR SELECT TO authenticated"
        " USING (EXISTS (SELECT 1 FROM members m WHERE m.user_id = auth.uid()))",
        [("policy_ignores_row", "public.documents.documents_any_member")],
    ),
    (
        "privileged_column_user_updatable",
        "ALTER TABLE profiles ADD COLUMN is_admin boolean NOT NULL DEFAULT false;"
        " GRANT UPDATE (is_admin) ON profiles TO authenticated",
        [("privileged_column_user_updatable", "public.profiles.is_admin")],
    ),
    (
        "api_role_privileges",
        "CREATE TABLE public.scratch (id int); ALTER TABLE public.scratch OWNER TO authenticated",
        [("table_owned_by_api_role", "public.scratch")],
    ),
]


@pytest.mark.parametrize(("rule", "defect", "expected"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_static_rule_fires(
    supa: dict[str, Any], rule: str, defect: str, expected: list[tuple[str, str]]
) -> None:
    supa["admin"].execute(defect)
    assert findings(supa, rule) == expected


def test_api_role_that_bypasses_rls(supa: dict[str, Any]) -> None:
    # Roles belong to the whole server: the change is seen inside one transaction only.
    with psycopg.connect(supa["checker"].replace("user=deploycheck", "user=postgres")) as conn:
        conn.execute("ALTER ROLE authenticated BYPASSRLS")
        result = rules.api_role_privileges(conn, SETTINGS, ["public"])
        conn.rollback()
    assert [(f.rule, f.object) for f in result.findings] == [
        ("api_role_bypasses_rls", "authenticated")
    ]


def test_public_reads_acknowledges_reads_and_never_writes(supa: dict[str, Any]) -> None:
    supa["admin"].execute(
        "ALTER TABLE announcements ADD COLUMN author_id uuid REFERENCES auth.users (id);"
        "CREATE POLICY announcements_anon ON announcements FOR SELECT TO anon USING (true)"
    )
    assert findings(supa, "anon_policy_always_true") == [
        ("anon_policy_always_true", "public.announcements.announcements_anon"),
        ("anon_policy_always_true", "public.announcements.announcements_read_all"),
    ]
    listed = RlsSettings(public_reads=("public.announcements",))
    older = RlsSettings.parse({"public_tables": ["announcements"]})  # the older name
    for settings in (listed, older):
        assert findings(supa, "anon_policy_always_true", settings) == []
    # A read allow-list never switches off the write checks.
    supa["admin"].execute(
        "GRANT INSERT ON announcements TO authenticated; CREATE POLICY announcements_post ON"
        " announcements FOR INSERT TO authenticated WITH CHECK (true)"
    )
    found = results(supa, listed)
    assert {name: [f.object for f in r.findings] for name, r in found.items() if r.findings} == {
        "rls_policy_always_true": ["public.announcements.announcements_post"],
        "write_check_not_tied_to_user": ["public.announcements.announcements_post"],
        "multiple_permissive_policies": ["public.announcements"],
        "write_probes": ["public.announcements"],  # user A makes a row out as B's
    }


# Own notes, or any note once a member of any organisation: asks who the user is, yet leaks.
OWN_OR_ANY_MEMBER = (
    "CREATE POLICY notes_or_member ON notes FOR SELECT TO authenticated USING (owner_id ="
    " (select auth.uid()) OR EXISTS (SELECT 1 FROM members m WHERE m.user_id = auth.uid()))"
)
# Operator precedence: "... AND m.user_id = auth.uid() OR m.role = 'owner'" lets anyone in
# to an organisation that has an owner.
OWNER_PRECEDENCE = (
    "CREATE OR REPLACE FUNCTION private.is_member(org bigint) RETURNS boolean LANGUAGE sql"
    " STABLE SECURITY DEFINER SET search_path = '' AS $$ SELECT EXISTS (SELECT 1 FROM"
    " public.members m WHERE m.org_id = org AND m.user_id = auth.uid() OR m.role = 'owner') $$"
)


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        (
            "ALTER TABLE notes DISABLE ROW LEVEL SECURITY; GRANT SELECT ON notes TO anon",
            {
                ("anon_reads_user_rows", "public.notes"),
                ("cross_user_read", "public.notes"),
                ("stranger_reads_rows", "public.notes"),
            },
        ),
        (OWN_OR_ANY_MEMBER, {("cross_user_read", "public.notes")}),
        (
            OWNER_PRECEDENCE,
            {
                ("stranger_reads_rows", "public.documents"),
                ("stranger_reads_rows", "public.members"),
                ("stranger_reads_rows", "public.organisations"),
                # and the members read organisations they do not belong to, by the data
                ("cross-tenant-read", "public.documents"),
                ("cross-tenant-read", "public.members"),
                ("cross-tenant-read", "public.organisations"),
            },
        ),
    ],
    ids=["rls-disabled", "own-or-any-member", "owner-precedence"],
)
def test_read_probes_fire(
    supa: dict[str, Any], defect: str, expected: set[tuple[str, str]]
) -> None:
    supa["admin"].execute(defect)
    assert set(findings(supa, "read_probes")) == expected


@pytest.mark.parametrize(
    ("policy", "rule"),
    [
        ("USING (true)", "signed_in_reads_all_rows"),
        ("USING ((select auth.uid()) IS NOT NULL)", "signed_in_reads_all_rows"),
        ("USING (auth.role() = 'authenticated')", "signed_in_reads_all_rows"),
        ("USING (length(title) > 0 OR owner_id = auth.uid())", "signed_in_reads_all_rows"),
    ],
    ids=["true", "signed-in", "role", "or-branch"],
)
def test_reads_opened_to_every_signed_in_user_are_major_not_probed(
    supa: dict[str, Any], policy: str, rule: str
) -> None:
    supa["admin"].execute(
        "DROP POLICY notes_select_own ON notes;"
        f" CREATE POLICY notes_open ON notes FOR SELECT TO authenticated {policy}"
    )
    found = results(supa)
    assert [(f.rule, f.object) for f in found[rule].findings] == [(rule, "public.notes.notes_open")]
    assert found["read_probes"].findings == []  # opened on purpose or not: a person decides
    allowed = results(supa, RlsSettings(public_reads=("public.notes",)))
    assert {name: r.findings for name, r in allowed.items() if r.findings} == {}


def test_read_probe_findings_say_how_to_reproduce(supa: dict[str, Any]) -> None:
    supa["admin"].execute(OWN_OR_ANY_MEMBER)
    [finding] = results(supa)["read_probes"].findings
    steps = finding.message.split("Reproduce: ", 1)[1]
    assert steps.startswith("BEGIN; SELECT set_config('role', 'authenticated', true),")
    assert """; SELECT * FROM "public"."notes" WHERE "owner_id" = '""" in steps
    # Pasted into a session of the checking role, the steps show the other user's rows.
    with psycopg.connect(supa["checker"], autocommit=True) as session:
        cursor = session.execute(steps.removesuffix(" ROLLBACK;"))  # psql-like: every statement
        while cursor.nextset():
            pass  # to the last statement's rows
        assert len(cursor.fetchall()) == 2
        session.execute("ROLLBACK")


# A write through the API needs the row to be readable too (PostgreSQL applies the SELECT
# policies to the rows a filtered UPDATE or DELETE reads, and to an updated row): each hole
# below is a real one only with a policy that lets users see others' rows.
SEE_ALL = "CREATE POLICY notes_see_all ON notes FOR SELECT TO authenticated USING (true);"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "CREATE POLICY notes_rw_any ON notes FOR ALL TO authenticated USING (true) WITH"
            " CHECK (true)",
            {
                ("cross_user_update_others", "public.notes"),
                ("cross_user_delete_others", "public.notes"),
                ("cross_user_reassign_own", "public.notes"),
                ("cross_user_insert_as_other", "public.notes"),
            },
        ),
        (
            SEE_ALL + "CREATE POLICY notes_give_away ON notes FOR UPDATE TO authenticated"
            " USING (owner_id = auth.uid()) WITH CHECK (true)",
            {("cross_user_reassign_own", "public.notes")},
        ),
        (
            SEE_ALL
            + "CREATE POLICY notes_delete_any ON notes FOR DELETE TO authenticated USING (true)",
            {
                ("cross_user_delete_others", "public.notes"),
            },
        ),
        (
            "CREATE POLICY notes_insert_any ON notes FOR INSERT TO authenticated WITH CHECK (true)",
            {
                ("cross_user_insert_as_other", "public.notes"),
            },
        ),
        (
            # Anyone may add their own membership: to any organisation.
            "GRANT INSERT ON members TO authenticated; CREATE POLICY members_join ON members"
            " FOR INSERT TO authenticated WITH CHECK (user_id = (select auth.uid()))",
            {("cross_tenant_insert", "public.members")},
        ),
    ],
    ids=["all-any", "give-away", "delete-any", "insert-any", "join-any-tenant"],
)
def test_write_probes_fire_and_change_nothing(
    supa: dict[str, Any], policy: str, expected: set[tuple[str, str]]
) -> None:
    supa["admin"].execute(policy)
    before = database_state(supa["admin"])
    assert set(findings(supa, "write_probes")) == expected
    assert database_state(supa["admin"]) == before


def test_suite_on_the_clean_schema_is_go(
    pytester: pytest.Pytester, supa: dict[str, Any], read_signoff: SignOffReader
) -> None:
    pytester.makefile(".toml", deploycheck="[targets.t]\nproduction = true\n")
    result = pytester.runpytest(
        "--deploy-target=t", "--deploy-suites=rls", f"--deploy-db-url={supa['checker']}"
    )
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert result.ret == 0, document["reasons"]
    outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
    assert outcomes.pop("rls.write_probes") == "skipped"  # production: only when allowed
    assert set(outcomes.values()) == {"passed"}
    assert len(outcomes) == len(rules.STATIC_RULES) + len(rules.EVIDENCE_RULES) + 4


def test_a_full_run_leaves_no_trace(supa: dict[str, Any]) -> None:
    """Every probe, writes included, leaves every table's content and every sequence as found."""
    supa["admin"].execute(SEE_ALL)  # so that the write probes reach the other user's rows
    before = database_state(supa["admin"])
    assert results(supa)["write_probes"].findings == []
    assert database_state(supa["admin"]) == before


def test_a_probe_whose_statement_fails_could_not_check(supa: dict[str, Any]) -> None:
    # A policy that fails for everyone who reads: nothing is learnt, and nothing passes.
    supa["admin"].execute(
        "CREATE POLICY notes_broken ON notes FOR SELECT TO authenticated USING (1 / 0 = 1)"
    )
    result = results(supa)["read_probes"]
    assert result.findings == []
    code, message = result.undecided or ("", "")
    assert code == "probe-failed"
    assert message.startswith("read probes failed, so they show nothing: public.notes as user_b:")
    assert "22012: division by zero" in message
    assert result.result(20).undecided == result.undecided  # could not check, not a pass


# Real-world shapes that grant nothing, or nothing critical: each must leave the critical rules
# silent (and say what it does say).
GRANTS_NOTHING = [
    (  # a deny-all policy switches INSERT off
        "CREATE POLICY notes_no_insert ON notes FOR INSERT TO authenticated WITH CHECK (false)",
        {"multiple_permissive_policies": [("multiple_permissive_policies", "public.notes")]},
    ),
    (  # an UPDATE policy without USING lets no row through, whatever its check
        "CREATE POLICY notes_check_only ON notes FOR UPDATE TO authenticated WITH CHECK (true)",
        {
            "rls_policy_always_true": [("rls_policy_always_true", "public.notes.notes_check_only")],
            "multiple_permissive_policies": [("multiple_permissive_policies", "public.notes")],
        },
    ),
    (  # anyone signed in may create an organisation: a row that belongs to nobody yet
        "GRANT INSERT ON organisations TO authenticated; CREATE POLICY organisations_create"
        " ON organisations FOR INSERT TO authenticated WITH CHECK (true)",
        {
            "rls_policy_always_true": [
                ("rls_policy_always_true", "public.organisations.organisations_create")
            ],
            "insert_open_shared_table": [
                ("insert_open_shared_table", "public.organisations.organisations_create")
            ],
        },
    ),
    (  # a role column no one may update: its UPDATE policy is USING (false)
        "CREATE TABLE public.staff (user_id uuid PRIMARY KEY REFERENCES auth.users (id),"
        " role text NOT NULL DEFAULT 'member'); ALTER TABLE public.staff ENABLE ROW LEVEL"
        " SECURITY; GRANT SELECT, UPDATE ON public.staff TO authenticated; CREATE POLICY"
        " staff_read ON public.staff FOR SELECT TO authenticated USING (user_id = auth.uid());"
        " CREATE POLICY staff_no_update ON public.staff FOR UPDATE TO authenticated"
        " USING (false)",
        {},
    ),
    (  # a public bucket whose objects each user lists in their own folder only
        "CREATE SCHEMA storage; CREATE TABLE storage.buckets (id text PRIMARY KEY, public boolean);"
        " CREATE TABLE storage.objects (bucket_id text, name text, owner uuid); ALTER TABLE"
        " storage.objects ENABLE ROW LEVEL SECURITY; CREATE POLICY own_files ON"
        " storage.objects FOR SELECT TO authenticated USING (bucket_id = 'avatars' AND"
        " owner = (select auth.uid())); INSERT INTO storage.buckets VALUES ('avatars', true)",
        {},
    ),
]


@pytest.mark.parametrize(("defect", "expected"), GRANTS_NOTHING)
def test_what_grants_nothing_is_no_critical_finding(
    supa: dict[str, Any], defect: str, expected: dict[str, list[tuple[str, str]]]
) -> None:
    supa["admin"].execute(defect)
    found = {
        name: [(f.rule, f.object) for f in result.findings]
        for name, result in results(supa).items()
        if result.findings
    }
    assert found == expected


def test_a_role_test_in_a_policy_for_everyone_opens_nothing_to_anon(
    supa: dict[str, Any],
) -> None:
    supa["admin"].execute(
        "GRANT SELECT ON notes TO anon; CREATE POLICY notes_signed_in ON notes FOR SELECT"
        " USING ((select auth.role()) = 'authenticated')"
    )
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        tables = evidence.exposed_tables(conn, SETTINGS, ["public"])
    finally:
        conn.close()
    [notes] = [t for t in tables if t.name == "public.notes"]
    assert evidence.level(notes, "anon", "SELECT") == "none"  # the anon probe reads 0: right
    assert evidence.level(notes, "authenticated", "SELECT") == "open"


def test_the_evidence_read_leaves_the_cycle_collector_as_it_found_it(
    supa: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector is paused for the evidence's bulk read (bench/README.md), never left off:
    a gate watching a window for hours would keep every cycle it made."""
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        assert gc.isenabled()
        assert evidence.exposed_tables(conn, SETTINGS, ["public"])
        assert gc.isenabled()
        gc.disable()
        try:
            evidence.exposed_tables(conn, SETTINGS, ["public"])
            assert not gc.isenabled()  # whoever turned it off turns it on
        finally:
            gc.enable()

        def broken(*args: Any) -> None:
            raise RuntimeError("mid-read")

        monkeypatch.setattr(evidence, "classify", broken)
        with pytest.raises(RuntimeError):
            evidence.exposed_tables(conn, SETTINGS, ["public"])
        assert gc.isenabled()
    finally:
        conn.close()


def test_writes_that_name_no_row_are_not_sent(
    supa: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where user B has no rows, A's update and delete of B's rows, and the strangers' of
    anyone's, change nothing by construction: decided from the reads, never sent; what can
    change a row (inserts made out as B's) still is."""
    supa["admin"].execute("DELETE FROM public.notes")
    sent: list[str] = []

    def probe_writes(conn: Any, probes: Any, settings: Any) -> Any:  # the real one, watched
        sent.extend(statement.as_string(conn) for _, statement in probes)
        return probe_writes_really(conn, probes, settings)

    probe_writes_really = writes_module.probe_writes
    monkeypatch.setattr(writes_module, "probe_writes", probe_writes)
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        schemas, _ = rules.exposed_schemas(conn, SETTINGS)
        tables = [
            t for t in evidence.exposed_tables(conn, SETTINGS, schemas) if t.relation == "notes"
        ]
        who = identities(conn, SETTINGS)
        reads = read_all(conn, SETTINGS, tables, who)
        writes = write_all(conn, SETTINGS, tables, who, reads)
    finally:
        conn.close()
    assert not writes.result.findings
    assert writes.result.undecided is None
    done = writes.done["public.notes"]
    assert done["user_a update user B's rows"] == done["user_a delete user B's rows"] == 0
    assert not [s for s in sent if s.startswith(("UPDATE", "DELETE"))], sent
    assert [s for s in sent if s.startswith("INSERT")]  # made out as B's: may change a row


def test_reads_in_one_transaction_hold_no_lock_past_their_statement(supa: dict[str, Any]) -> None:
    """An identity's reads share a transaction; each releases the locks it took (a rollback to
    a savepoint), or a schema of thousands of tables would fill the server's lock table."""
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        who = identities(conn, SETTINGS)["user_a"]
        held = sql.SQL(
            "SELECT count(*) AS n FROM pg_locks WHERE pid = pg_backend_pid()"
            " AND relation = ANY(ARRAY['public.notes'::regclass, 'public.profiles'::regclass])"
        )
        reads = [sql.SQL("SELECT count(*) FROM public.notes"), held]
        first, locks = probes.read_many(conn, who, reads, SETTINGS) or [[], []]
    finally:
        conn.close()
    assert first  # the read ran, as user A
    assert locks == [{"n": 0}]
