"""The rls suite's checks: Row Level Security rules (splinter's lint names where the rule is the
same) and the impersonation probes that prove users are kept apart."""

from __future__ import annotations

from pytest_deploycheck.core.catalogue import Catalogue, Category, Check, Code
from pytest_deploycheck.core.model import Severity
from pytest_deploycheck.core.phases import Phase

IMMEDIATE = (Phase.IMMEDIATE,)
SECURITY = Category.SECURITY
BREACH = (
    "Failure Scenarios: security vulnerability, ROLLBACK + PATCH + REDEPLOY (Security Incident: "
    "contain, investigate which data was reachable, remediate)."
)
REVIEW = "Pre-Deployment Checklist, Database: RLS policies reviewed and applied."

CATALOGUE = Catalogue(
    [
        Check(
            "rls.exposed_schemas",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "exposed_schemas_unknown",
                    SECURITY,
                    "ALTER ROLE authenticator SET pgrst.db_schemas = '...', or set exposed_schemas",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.rls_disabled_in_public",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "rls_disabled_in_public",
                    SECURITY,
                    "ALTER TABLE ... ENABLE ROW LEVEL SECURITY and add policies, or stop exposing"
                    " the schema",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.policy_exists_rls_disabled",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "policy_exists_rls_disabled",
                    SECURITY,
                    "ALTER TABLE ... ENABLE ROW LEVEL SECURITY: the policies exist but do nothing",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.rls_enabled_no_policy",
            IMMEDIATE,
            Severity.MINOR,
            (
                Code(
                    "rls_enabled_no_policy",
                    SECURITY,
                    "add the policies the API needs, or revoke the API roles' grants",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.security_definer_view",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "security_definer_view",
                    SECURITY,
                    "ALTER VIEW ... SET (security_invoker = true), or move the view out of the API",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.auth_users_exposed",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "auth_users_exposed",
                    SECURITY,
                    "revoke anon/authenticated access to the view, or drop its use of auth.users",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.function_search_path_mutable",
            IMMEDIATE,
            Severity.MINOR,
            (
                Code(
                    "function_search_path_mutable",
                    SECURITY,
                    "ALTER FUNCTION ... SET search_path = ''",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.anon_security_definer_function_executable",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "anon_security_definer_function_executable",
                    SECURITY,
                    "list it in reviewed_functions if it checks the caller itself; else REVOKE"
                    " EXECUTE ... FROM anon, or make it SECURITY INVOKER",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.authenticated_security_definer_function_executable",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "authenticated_security_definer_function_executable",
                    SECURITY,
                    "list it in reviewed_functions if it checks the caller itself; else REVOKE"
                    " EXECUTE ... FROM authenticated, or make it SECURITY INVOKER",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.rls_references_user_metadata",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "rls_references_user_metadata",
                    SECURITY,
                    "decide on app_metadata or a table users cannot write, never user_metadata",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.sensitive_columns_exposed",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "sensitive_columns_exposed",
                    SECURITY,
                    "enable RLS on the table, or move the columns out of the exposed schema",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.materialized_view_in_api",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "materialized_view_in_api",
                    SECURITY,
                    "revoke SELECT from anon and authenticated, or move it out of the API",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.rls_policy_always_true",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "rls_policy_always_true",
                    SECURITY,
                    "tie the condition to the row and the user (auth.uid())",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.multiple_permissive_policies",
            IMMEDIATE,
            Severity.MINOR,
            (
                Code(
                    "multiple_permissive_policies",
                    SECURITY,
                    "merge the policies into one per role and action",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.extension_in_public",
            IMMEDIATE,
            Severity.MINOR,
            (Code("extension_in_public", SECURITY, "ALTER EXTENSION ... SET SCHEMA extensions"),),
            REVIEW,
        ),
        Check(
            "rls.fkey_to_auth_unique",
            IMMEDIATE,
            Severity.MINOR,
            (Code("fkey_to_auth_unique", SECURITY, "reference auth.users (id), the primary key"),),
            REVIEW,
        ),
        Check(
            "rls.public_bucket_allows_listing",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "public_bucket_allows_listing",
                    SECURITY,
                    "drop the broad SELECT policy on storage.objects; public files need none",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.anon_policy_always_true",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "anon_policy_always_true",
                    SECURITY,
                    "list the table in public_reads if anyone may read it, else restrict the"
                    " policy to authenticated users and their own rows",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.signed_in_reads_all_rows",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "signed_in_reads_all_rows",
                    SECURITY,
                    "list the table in public_reads if every signed-in user may read it, else"
                    " tie the SELECT policy to the user (auth.uid()) or their tenant",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.write_check_not_tied_to_user",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "write_check_not_tied_to_user",
                    SECURITY,
                    "WITH CHECK (owner_column = auth.uid())",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.insert_open_shared_table",
            IMMEDIATE,
            Severity.MAJOR,
            (
                Code(
                    "insert_open_shared_table",
                    SECURITY,
                    "if anyone signed in may create one (a team, say), nothing to do but record"
                    " it with the severity override; else WITH CHECK on who may",
                ),
            ),
            REVIEW,
        ),
        Check(
            "rls.policy_ignores_row",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "policy_ignores_row",
                    SECURITY,
                    "correlate the subquery with the row, e.g. m.org_id = table.org_id",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.privileged_column_user_updatable",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "privileged_column_user_updatable",
                    SECURITY,
                    "REVOKE UPDATE (column) ... FROM authenticated",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.definer_writes_unchecked",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "definer_writes_unchecked",
                    SECURITY,
                    "check the caller first (IF NOT is_member(...) THEN RAISE, with a NULL-safe"
                    " test), revoke EXECUTE from the API roles, or, if it is open by design,"
                    " list it in reviewed_functions",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.api_role_privileges",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code("api_role_bypasses_rls", SECURITY, "ALTER ROLE ... NOBYPASSRLS NOSUPERUSER"),
                Code(
                    "table_owned_by_api_role",
                    SECURITY,
                    "ALTER TABLE ... OWNER TO a role the API does not use",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.read_probes",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "anon_reads_user_rows",
                    SECURITY,
                    "restrict the table's SELECT policies (or grants) for anon",
                ),
                Code("rls-no-users", Category.SETUP),
                Code(
                    "stranger_reads_rows",
                    SECURITY,
                    "restrict the table's SELECT policies to the user's own (or tenant's) rows",
                ),
                Code(
                    "cross_user_read",
                    SECURITY,
                    "restrict the table's SELECT policies to the user's own (or tenant's) rows",
                ),
                Code(
                    "cross-tenant-read",
                    SECURITY,
                    "make the SELECT policy ask whether the user belongs to the row's tenant,"
                    " not to some tenant",
                ),
                Code(
                    "probes-blind",
                    Category.SETUP,
                    "give the probes' tokens the claims the application's carry:"
                    " [suites.rls.claims] or identity_claims",
                ),
                Code(
                    "probe-failed",
                    Category.NOT_CHECKED,
                    "see the statement's error: a helper or trigger that fails for the probes'"
                    " identities may want a claim they lack",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.write_probes",
            IMMEDIATE,
            Severity.CRITICAL,
            (
                Code(
                    "writes-not-tried",
                    Category.NOT_CHECKED,
                    "every write would advance a sequence (a trigger, a generated column): the"
                    " static rules still judge the write policies",
                ),
                Code(
                    "cross_user_update_others",
                    SECURITY,
                    "restrict the UPDATE policy's USING to the user's own rows",
                ),
                Code(
                    "cross_user_delete_others",
                    SECURITY,
                    "restrict the DELETE policy's USING to the user's own rows",
                ),
                Code(
                    "cross_user_reassign_own",
                    SECURITY,
                    "add WITH CHECK (owner_column = auth.uid()) to the UPDATE policy",
                ),
                Code(
                    "cross_user_insert_as_other",
                    SECURITY,
                    "add WITH CHECK (owner_column = auth.uid()) to the INSERT policy",
                ),
                Code(
                    "cross_tenant_insert",
                    SECURITY,
                    "require a role in the row's tenant in the INSERT policy's WITH CHECK"
                    " (is_member(tenant_column)); memberships are made by a function that checks",
                ),
                Code(
                    "anon_writes_rows",
                    SECURITY,
                    "drop the write policies (or grants) that let anon write users' rows",
                ),
                Code(
                    "stranger_writes_rows",
                    SECURITY,
                    "tie the write policies' USING and WITH CHECK to the user (auth.uid())",
                ),
            ),
            BREACH,
        ),
        Check(
            "rls.access",
            IMMEDIATE,
            Severity.CRITICAL,
            (Code("access-widened", SECURITY),),
            BREACH + " Access widened since the baseline: if intended, the next GO becomes it.",
        ),
        Check(
            "rls.access_narrowed",
            IMMEDIATE,
            Severity.MINOR,
            (Code("access-narrowed", SECURITY),),
            "Narrowed access is safe; check that no feature lost the reads or writes it needs.",
        ),
    ]
)
