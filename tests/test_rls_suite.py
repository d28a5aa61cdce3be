"""The rls suite on a real PostgreSQL with a Supabase-style bootstrap (the demo's schema: roles,
auth.users, auth.uid(), user-owned notes, organisations with members and documents, and the
public-by-design announcements): every rule and probe fires on a defect seeded here and nothing
fires on the clean schema."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck.config import DbSettings
from pytest_deploycheck.net.postgres import connect_readonly
from pytest_deploycheck.rls import probes, rules
from pytest_deploycheck.rls.settings import RlsSettings
from tests.conftest import SignOffReader

SETTINGS = RlsSettings(public_tables=("public.announcements",))


def findings(
    supa: dict[str, Any], rule: Any, settings: RlsSettings = SETTINGS
) -> list[tuple[str, str]]:
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        schemas, _ = rules.exposed_schemas(conn, settings)
        return [(f.rule, f.object) for f in rule(conn, settings, schemas).findings]
    finally:
        conn.close()


ALL = {**rules.STATIC_RULES, "read_probes": probes.read_probes, "write_probes": probes.write_probes}


def test_clean_schema_has_no_findings(supa: dict[str, Any]) -> None:
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        schemas, missing = rules.exposed_schemas(conn, SETTINGS)
        assert (schemas, missing) == (["public"], [])
        found = {name: rule(conn, SETTINGS, schemas).findings for name, rule in ALL.items()}
    finally:
        conn.close()
    assert len(found) == len(rules.STATIC_RULES) + 2  # every rule and both probes ran
    assert {name: findings for name, findings in found.items() if findings} == {}


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
        "CREATE POLICY notes_debug ON notes FOR SELECT USING (true)",
        [("anon_policy_always_true", "public.notes.notes_debug")],
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
    assert findings(supa, rules.STATIC_RULES[rule]) == expected


def test_api_role_that_bypasses_rls(supa: dict[str, Any]) -> None:
    # Roles belong to the whole server: the change is seen inside one transaction only.
    with psycopg.connect(supa["checker"].replace("user=deploycheck", "user=postgres")) as conn:
        conn.execute("ALTER ROLE authenticated BYPASSRLS")
        result = rules.api_role_privileges(conn, SETTINGS, ["public"])
        conn.rollback()
    assert [(f.rule, f.object) for f in result.findings] == [
        ("api_role_bypasses_rls", "authenticated")
    ]


def test_allow_list_keeps_public_tables_quiet(supa: dict[str, Any]) -> None:
    supa["admin"].execute(
        "ALTER TABLE announcements ADD COLUMN author_id uuid REFERENCES auth.users (id);"
        "CREATE POLICY announcements_anon ON announcements FOR SELECT TO anon USING (true)"
    )
    assert findings(supa, rules.anon_policy_always_true) == []
    strict = RlsSettings()
    assert findings(supa, rules.anon_policy_always_true, strict) == [
        ("anon_policy_always_true", "public.announcements.announcements_anon"),
        ("anon_policy_always_true", "public.announcements.announcements_read_all"),
    ]


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        (
            "ALTER TABLE notes DISABLE ROW LEVEL SECURITY; GRANT SELECT ON notes TO anon",
            {("anon_reads_user_rows", "public.notes"), ("cross_user_read", "public.notes")},
        ),
        (
            "CREATE POLICY notes_debug ON notes FOR SELECT USING (true)",
            {("cross_user_read", "public.notes")},
        ),
        (
            "CREATE POLICY documents_any ON documents FOR SELECT TO authenticated USING (true)",
            {("cross_user_read", "public.documents")},
        ),
    ],
    ids=["rls-disabled", "permissive-owned", "permissive-tenant"],
)
def test_read_probes_fire(
    supa: dict[str, Any], defect: str, expected: set[tuple[str, str]]
) -> None:
    supa["admin"].execute(defect)
    assert set(findings(supa, probes.read_probes)) == expected


def test_read_probe_findings_say_how_to_reproduce(supa: dict[str, Any]) -> None:
    supa["admin"].execute("CREATE POLICY notes_debug ON notes FOR SELECT USING (true)")
    conn = connect_readonly(supa["checker"], DbSettings())
    try:
        [finding] = probes.read_probes(conn, SETTINGS, ["public"]).findings
    finally:
        conn.close()
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
            {("cross_user_delete_others", "public.notes")},
        ),
        (
            "CREATE POLICY notes_insert_any ON notes FOR INSERT TO authenticated WITH CHECK (true)",
            {("cross_user_insert_as_other", "public.notes")},
        ),
    ],
    ids=["all-any", "give-away", "delete-any", "insert-any"],
)
def test_write_probes_fire_and_change_nothing(
    supa: dict[str, Any], policy: str, expected: set[tuple[str, str]]
) -> None:
    supa["admin"].execute(policy)
    before = supa["admin"].execute("SELECT id, owner_id FROM notes ORDER BY id").fetchall()
    assert set(findings(supa, probes.write_probes)) == expected
    assert supa["admin"].execute("SELECT id, owner_id FROM notes ORDER BY id").fetchall() == before


def test_suite_on_the_clean_schema_is_go(
    pytester: pytest.Pytester, supa: dict[str, Any], read_signoff: SignOffReader
) -> None:
    pytester.makefile(
        ".toml",
        deploycheck="[targets.t]\nproduction = true\n[targets.t.suites.rls]\npublic_tables ="
        ' ["public.announcements"]\n',
    )
    result = pytester.runpytest(
        "--deploy-target=t", "--deploy-suites=rls", f"--deploy-db-url={supa['checker']}"
    )
    document = read_signoff(pytester.path / "deploycheck-signoff.json")
    assert result.ret == 0, document["reasons"]
    outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
    assert outcomes.pop("rls.write_probes") == "skipped"  # production: only when allowed
    assert set(outcomes.values()) == {"passed"}
    assert len(outcomes) == len(rules.STATIC_RULES) + 2
