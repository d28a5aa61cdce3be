"""Row Level Security's rules. Static rules: one query over the catalog each (splinter's lint
names where the rule is the same), judged row by row. Evidence rules: judged over what the
schema says about each exposed table (``evidence``). Objects named as PostgreSQL quotes them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import Finding
from pytest_deploycheck.net.postgres import Row, RuleResult, fetch
from pytest_deploycheck.rls.evidence import (
    API_ROLES,
    ASKING_FUNCTIONS,
    Table,
    asking_functions,
    ignores_row,
    level,
    normalized,
    open_policies,
)
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from pytest_deploycheck.net.postgres import Connection

Rule = Callable[["Connection", RlsSettings, list[str]], RuleResult]


def exposed_schemas(conn: Connection, settings: RlsSettings) -> tuple[list[str], list[Finding]]:
    """The schemas the API exposes: the config's, else the authenticator's pgrst.db_schemas
    as PostgREST reads it. A missing setting is a finding, and ``public`` is assumed."""
    if settings.exposed_schemas:
        return list(settings.exposed_schemas), []
    query = """SELECT unnest(s.setconfig) AS setting
FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
WHERE r.rolname = %s
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
ORDER BY s.setdatabase DESC"""
    for row in fetch(conn, query, (settings.authenticator,)):
        name, _, value = str(row["setting"]).partition("=")
        if name == "pgrst.db_schemas":
            return [s.strip() for s in value.split(",") if s.strip()], []
    missing = Finding(
        "exposed_schemas_unknown",
        settings.authenticator,
        f"role {settings.authenticator} has no pgrst.db_schemas setting; assuming public",
    )
    return ["public"], [missing]


Judge = Callable[[Row, RlsSettings], Finding | None]


def _rule(rule: str, query: str, judge: Judge, params: Mapping[str, Any] | None = None) -> Rule:
    """A catalog rule: one query (``%(schemas)s`` = the exposed schemas, and ``params``), a
    judgement per row."""

    def check(conn: Connection, settings: RlsSettings, schemas: list[str]) -> RuleResult:
        rows = fetch(conn, query, {"schemas": schemas, **(params or {})})
        findings = [f for f in (judge(row, settings) for row in rows) if f is not None]
        return RuleResult(rule, findings, query, rows)

    return check


def _each(rule: str, message: str, exempt_public: bool = False) -> Judge:
    """Every row is a finding on its ``object`` (``message`` formats the row); with
    ``exempt_public``, not when reading the object is open by design (``public_reads``)."""

    def judge(row: Row, settings: RlsSettings) -> Finding | None:
        if exempt_public and settings.reads_public(str(row["object"])):
            return None
        return Finding(rule, str(row["object"]), message.format(**row))

    return judge


rls_disabled_in_public = _rule(
    "rls_disabled_in_public",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object,
  has_table_privilege('anon', c.oid, 'INSERT, UPDATE, DELETE')
    OR has_table_privilege('authenticated', c.oid, 'INSERT, UPDATE, DELETE') AS writable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND NOT c.relrowsecurity
ORDER BY 1""",
    # Reads may be open by design; writes through the API never are without RLS.
    lambda row, s: (
        Finding(
            "rls_disabled_in_public",
            row["object"],
            f"table {row['object']} is exposed to the API without Row Level Security"
            + (": the API roles may write to it" if row["writable"] else ""),
        )
        if row["writable"] or not s.reads_public(row["object"])
        else None
    ),
)

policy_exists_rls_disabled = _rule(
    "policy_exists_rls_disabled",
    """SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT c.relrowsecurity
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1""",
    _each(
        "policy_exists_rls_disabled",
        "table {object} has policies but RLS is disabled, so none applies",
    ),
)

rls_enabled_no_policy = _rule(
    "rls_enabled_no_policy",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND c.relrowsecurity
  AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
ORDER BY 1""",
    _each(
        "rls_enabled_no_policy",
        "table {object} has RLS enabled and no policy: the API can read nothing",
    ),
)

USER_METADATA = ("user_metadata", "raw_user_meta_data")


security_definer_view = _rule(
    "security_definer_view",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname = ANY(%(schemas)s)
  AND NOT coalesce('security_invoker=true' = ANY(c.reloptions) OR 'security_invoker=on' =
  ANY(c.reloptions), false)
ORDER BY 1""",
    _each(
        "security_definer_view",
        "view {object} runs with its owner's rights, bypassing RLS (set security_invoker)",
    ),
)

auth_users_exposed = _rule(
    "auth_users_exposed",
    """SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(v.relname) AS object
FROM pg_depend d
JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class v ON v.oid = rw.ev_class
JOIN pg_namespace n ON n.oid = v.relnamespace
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass('auth.users')
  AND d.classid = 'pg_rewrite'::regclass AND v.relkind IN ('v', 'm') AND n.nspname =
  ANY(%(schemas)s)
  AND (has_table_privilege('anon', v.oid, 'SELECT') OR has_table_privilege('authenticated',
  v.oid, 'SELECT'))
ORDER BY 1""",
    _each("auth_users_exposed", "{object} exposes auth.users to the API"),
)

materialized_view_in_api = _rule(
    "materialized_view_in_api",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND n.nspname = ANY(%(schemas)s)
  AND (has_table_privilege('anon', c.oid, 'SELECT') OR has_table_privilege('authenticated',
  c.oid, 'SELECT'))
ORDER BY 1""",
    _each(
        "materialized_view_in_api",
        "materialized view {object} is readable through the API and has no RLS",
        exempt_public=True,
    ),
)

function_search_path_mutable = _rule(
    "function_search_path_mutable",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
  || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS object
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'auth', 'extensions')
  AND n.nspname !~ '^pg_' AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  AND NOT coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%'),
  false)
ORDER BY 1""",
    _each("function_search_path_mutable", "function {object} has no fixed search_path"),
)


def _definer(rule: str, role: str) -> Rule:
    return _rule(
        rule,
        """SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
  || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS object
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND n.nspname = ANY(%(schemas)s)
  AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
  AND has_function_privilege(%(role)s, p.oid, 'EXECUTE')
ORDER BY 1""",
        lambda row, s: (
            None
            if s.reviewed(row["object"])
            else Finding(
                rule,
                row["object"],
                f"SECURITY DEFINER function {row['object']} is callable by {role} through the"
                " API; list it in reviewed_functions once it checks access itself",
            )
        ),
        {"role": role},
    )


anon_security_definer_function_executable = _definer(
    "anon_security_definer_function_executable", "anon"
)
authenticated_security_definer_function_executable = _definer(
    "authenticated_security_definer_function_executable", "authenticated"
)

extension_in_public = _rule(
    "extension_in_public",
    "SELECT quote_ident(e.extname) AS object FROM pg_extension e"
    " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = 'public' ORDER BY 1",
    _each("extension_in_public", "extension {object} is installed in public"),
)

fkey_to_auth_unique = _rule(
    "fkey_to_auth_unique",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.'
  || quote_ident(con.conname) AS object
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = con.conindid
WHERE con.contype = 'f' AND con.confrelid = to_regclass('auth.users') AND NOT i.indisprimary
  ORDER BY 1""",
    _each(
        "fkey_to_auth_unique",
        "foreign key {object} references a unique key of auth.users other than its primary key",
    ),
)

# As splinter judges it: a public bucket and a broad SELECT policy on storage.objects — one
# without a condition, or whose condition is true or names the bucket and nothing else (an
# owner's or a folder's condition lets clients list only their own files).
public_bucket_allows_listing = _rule(
    "public_bucket_allows_listing",
    """SELECT b.id::text AS object, string_agg(quote_ident(p.policyname), ', '
  ORDER BY p.policyname) AS policies
FROM storage.buckets b JOIN pg_policies p ON p.schemaname = 'storage'
  AND p.tablename = 'objects' AND p.cmd IN ('SELECT', 'ALL') AND p.permissive = 'PERMISSIVE'
  AND p.roles && ARRAY['public', 'anon', 'authenticated']::name[]
WHERE b.public AND (p.qual IS NULL
  OR regexp_replace(regexp_replace(lower(p.qual), '::[a-z_. ]+', '', 'g'), '[[:space:]()]', '',
                    'g') IN ('true', '1=1', 'bucket_id=' || quote_literal(lower(b.id))))
GROUP BY 1 ORDER BY 1""",
    _each(
        "public_bucket_allows_listing",
        "public bucket {object} lets clients list every file (broad SELECT policies on"
        " storage.objects: {policies})",
    ),
)


def storage_rules(conn: Connection, settings: RlsSettings, schemas: list[str]) -> RuleResult:
    """``public_bucket_allows_listing``, where the storage schema exists."""
    [row] = fetch(conn, "SELECT to_regclass('storage.buckets') IS NOT NULL AS present")
    if not row["present"]:
        return RuleResult("public_bucket_allows_listing", note="no storage schema")
    return public_bucket_allows_listing(conn, settings, schemas)


sensitive_columns_exposed = _rule(
    "sensitive_columns_exposed",
    """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object,
  array_agg(a.attname::text ORDER BY a.attnum) AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND NOT c.relrowsecurity
GROUP BY 1 ORDER BY 1""",
    lambda row, s: (
        Finding(
            "sensitive_columns_exposed",
            row["object"],
            f"table {row['object']} exposes {', '.join(hits)} without RLS",
        )
        if (hits := [c for c in row["columns"] if any(w in c.lower() for w in s.sensitive_columns)])
        else None
    ),
)

# -- rules of our own ------------------------------------------------------------------------


def privileged_column_user_updatable(
    conn: Connection, settings: RlsSettings, schemas: list[str]
) -> RuleResult:
    """A column like ``is_admin`` or ``role`` that users may update on their own row — a row
    that stands for the user (a profile, a membership: its key to ``auth.users`` is unique,
    alone or with a tenant's), not one of many a user writes (a chat message's ``role`` is
    its author, ``user`` or ``assistant``)."""
    query = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table_name,
  quote_ident(a.attname) AS column_name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND a.attnum > 0
  AND NOT a.attisdropped AND a.attname = ANY(%(privileged)s)
  AND has_column_privilege('authenticated', c.oid, a.attname, 'UPDATE')
  AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polcmd IN ('w', '*')
              AND p.polpermissive AND pg_get_expr(p.polqual, p.polrelid) <> 'false')
  AND NOT EXISTS (  -- keys to users, none of them unique: many rows per user
    SELECT 1 FROM pg_constraint f WHERE f.conrelid = c.oid AND f.contype = 'f'
      AND f.confrelid = to_regclass('auth.users')
    HAVING bool_and(NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid
                                AND i.indisunique AND f.conkey[1] = ANY(i.indkey::int2[]))))
ORDER BY 1, 2"""
    params = {"schemas": schemas, "privileged": list(settings.privileged_columns)}
    rows = fetch(conn, query, params)
    findings = [
        Finding(
            "privileged_column_user_updatable",
            f"{row['table_name']}.{row['column_name']}",
            f"users may set {row['column_name']} on their own rows of {row['table_name']}",
        )
        for row in rows
    ]
    return RuleResult("privileged_column_user_updatable", findings, query, rows)


def api_role_privileges(conn: Connection, settings: RlsSettings, schemas: list[str]) -> RuleResult:
    """API roles that bypass RLS or are superusers, and exposed tables an API role owns."""
    query = """SELECT 'role' AS kind, quote_ident(rolname) AS name FROM pg_roles
WHERE rolname = ANY(%(roles)s) AND (rolbypassrls OR rolsuper)
UNION ALL
SELECT 'table', quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY(%(schemas)s)
  AND pg_get_userbyid(c.relowner) = ANY(%(roles)s)"""
    roles = [*API_ROLES, settings.authenticator]
    rows = fetch(conn, query, {"roles": roles, "schemas": schemas})
    findings = [
        Finding(
            "api_role_bypasses_rls",
            row["name"],
            f"API role {row['name']} bypasses RLS or is a superuser",
        )
        if row["kind"] == "role"
        else Finding(
            "table_owned_by_api_role",
            row["name"],
            f"{row['name']} is owned by an API role, so RLS does not bind it",
        )
        for row in rows
    ]
    return RuleResult("api_role_privileges", findings, query, rows)


DEFINERS = """SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
  || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS object, p.prosrc AS body,
  ARRAY(SELECT r FROM unnest(ARRAY['anon', 'authenticated']) r
        WHERE has_function_privilege(r, p.oid, 'EXECUTE')) AS callers
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND n.nspname = ANY(%(schemas)s)
  AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
  AND (has_function_privilege('anon', p.oid, 'EXECUTE')
       OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))
ORDER BY 1"""
PROTECTED = """SELECT n.nspname AS schema, c.relname AS relation FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity"""
# What a function's body writes, and the conditions it refuses on (IF ... THEN RAISE).
_WRITES = re.compile(
    r"(?is)(?:\binsert\s+into|(?<!for )(?<!do )\bupdate(?!\s+set\b)|\bdelete\s+from)\s+"
    r"((?:\w+|\"[^\"]+\")(?:\.(?:\w+|\"[^\"]+\"))?)"
)
_GUARDS = re.compile(r"(?is)\bif\s+(.+?)\s+then\s+raise\b")
_NULL_SAFE = re.compile(r"(?i)\bis\s+(?:not\s+)?(?:null|distinct|true|false)\b|\bcoalesce\s*\(")
_NULL_DEFEATED = re.compile(r"(?i)!=|<>|\bnot\s+in\b")


def definer_writes_unchecked(
    conn: Connection, settings: RlsSettings, schemas: list[str]
) -> RuleResult:
    """SECURITY DEFINER functions the API may call that write tables Row Level Security guards,
    without asking who the caller is — or asking in a way a NULL defeats (``IF v_role !=
    'admin' THEN RAISE``, where a caller with no role has ``v_role`` NULL): anyone may change
    anyone's rows through them, as through a table without RLS. ``reviewed_functions``
    acknowledges one that is open by design."""
    asking = asking_functions(fetch(conn, ASKING_FUNCTIONS))
    protected = {(r["schema"], r["relation"]) for r in fetch(conn, PROTECTED)}
    rows = fetch(conn, DEFINERS, {"schemas": schemas})
    findings = []
    for row in rows:
        written = _written(row["body"] or "", protected)
        why = _unchecked(row["body"] or "", asking) if written else None
        if why is None or settings.reviewed(row["object"]):
            continue
        message = (
            f"SECURITY DEFINER function {row['object']} is callable by"
            f" {' and '.join(row['callers'])} and writes {', '.join(written)} with its owner's"
            f" rights, {why}: anyone may change anyone's rows through it"
        )
        findings.append(Finding("definer_writes_unchecked", row["object"], message))
    return RuleResult("definer_writes_unchecked", findings, DEFINERS, rows)


def _written(body: str, protected: set[tuple[str, str]]) -> list[str]:
    """The tables Row Level Security guards that a function's body writes."""
    found = []
    for name in _WRITES.findall(body):
        parts = [p.strip('"') for p in name.split(".")]
        hits = [
            f"{s}.{r}" for s, r in sorted(protected) if r == parts[-1] and parts[:-1] in ([], [s])
        ]
        found += [hit for hit in hits if hit not in found]
    return found


def _unchecked(body: str, asking: frozenset[str]) -> str | None:
    """Why a function's body does not check its caller; None when it does."""
    text = normalized(body)
    asks = (
        "auth.uid()" in text
        or "auth.jwt()" in text
        or bool(set(re.findall(r"([\w.]+)\(", text)) & asking)
    )
    if not asks:
        return "without asking who the caller is (no auth.uid(), auth.jwt() or helper that does)"
    guards = [" ".join(g.split()) for g in _GUARDS.findall(body)]
    defeated = [g for g in guards if _NULL_DEFEATED.search(g) and not _NULL_SAFE.search(g)]
    if guards and len(defeated) == len(guards):
        return (
            f"and its only check of the caller (IF {defeated[0]} THEN RAISE) lets a caller a NULL"
            " stands for through (NULL != 'x' is NULL, not true)"
        )
    return None


STATIC_RULES: dict[str, Rule] = {
    "rls_disabled_in_public": rls_disabled_in_public,
    "policy_exists_rls_disabled": policy_exists_rls_disabled,
    "rls_enabled_no_policy": rls_enabled_no_policy,
    "security_definer_view": security_definer_view,
    "auth_users_exposed": auth_users_exposed,
    "function_search_path_mutable": function_search_path_mutable,
    "anon_security_definer_function_executable": anon_security_definer_function_executable,
    "authenticated_security_definer_function_executable": (
        authenticated_security_definer_function_executable
    ),
    "sensitive_columns_exposed": sensitive_columns_exposed,
    "materialized_view_in_api": materialized_view_in_api,
    "extension_in_public": extension_in_public,
    "fkey_to_auth_unique": fkey_to_auth_unique,
    "public_bucket_allows_listing": storage_rules,
    "privileged_column_user_updatable": privileged_column_user_updatable,
    "api_role_privileges": api_role_privileges,
    "definer_writes_unchecked": definer_writes_unchecked,
}


# -- rules over the evidence -------------------------------------------------------------------


# Reads opened on an owned table, by the API role they are opened to.
OPEN_READ_CODES = {"anon": "anon_policy_always_true", "authenticated": "signed_in_reads_all_rows"}
UNTIED_WRITE_CODES = {"owned": "write_check_not_tied_to_user", "shared": "insert_open_shared_table"}
# Rules on each policy of an exposed table, judged from the evidence's one read of them
# (splinter's lint names, and one of our own).
POLICY_RULES = (
    "rls_policy_always_true",
    "rls_references_user_metadata",
    "multiple_permissive_policies",
    "policy_ignores_row",
)
EVIDENCE_RULES = (*OPEN_READ_CODES.values(), *UNTIED_WRITE_CODES.values(), *POLICY_RULES)


def evidence_rules(tables: list[Table], settings: RlsSettings) -> dict[str, RuleResult]:
    """The rules that judge the evidence about each owned table: reads opened to everyone or
    to every signed-in user (deliberate or not, a person decides, and ``public_reads`` records
    the decision), and write policies whose check never asks who the user is."""
    found = {rule: RuleResult(rule) for rule in EVIDENCE_RULES}
    for table in tables:
        judged = _on_policies(table, settings)
        if table.owned:
            opened = [] if settings.reads_public(table.name) else _opened(table)
            judged += [*_untied_writes(table), *opened]
        for finding in judged:
            found[finding.rule].findings.append(finding)
    return found


def _on_policies(table: Table, settings: RlsSettings) -> list[Finding]:
    """What each policy of ``table`` says on its own: a write allowed by a condition that is
    always true, trust in user metadata users can edit, a subquery that asks about the user
    but not the row; and several permissive policies for one role and command."""
    found = []
    for policy in table.policies:
        using, check = policy.said
        named, on = f"{table.name}.{policy.name}", f"policy {policy.name} on {table.name}"
        if policy.cmd in ("UPDATE", "DELETE", "INSERT", "ALL") and "true" in policy.said:
            found.append(
                Finding(
                    "rls_policy_always_true",
                    named,
                    f"{on} allows {policy.cmd} with a condition that is always true",
                )
            )
        if any(word in using + check for word in USER_METADATA):
            message = f"{on} trusts user_metadata, which users can edit"
            found.append(Finding("rls_references_user_metadata", named, message))
        public = policy.cmd == "SELECT" and settings.reads_public(table.name)
        if ignores_row(policy.tree) and not public:
            message = f"{on} asks about the user but not about the row: {using}"
            found.append(Finding("policy_ignores_row", named, message))
    permissive: dict[tuple[str, str], list[str]] = {}
    for policy in (p for p in table.policies if p.permissive):
        for role in policy.shown_roles:
            permissive.setdefault((role, policy.cmd), []).append(policy.name)
    for (role, cmd), names in sorted(permissive.items()):
        if len(names) > 1:
            message = (
                f"{table.name} has {len(names)} permissive {cmd} policies for {role}: "
                + ", ".join(names)
            )
            found.append(Finding("multiple_permissive_policies", table.name, message))
    return found


def _opened(table: Table) -> list[Finding]:
    """The policies that open reading ``table`` to anon, else to every signed-in user."""
    for role, rule in OPEN_READ_CODES.items():
        if table.rls and level(table, role, "SELECT") == "open":
            who = "anyone signed out" if role == "anon" else "every signed-in user"
            return [
                Finding(
                    rule,
                    f"{table.name}.{policy}",
                    f"policy {policy} lets {who} read every row of {table.name}, which is"
                    f" {table.kind}-owned; list it in public_reads if intended",
                )
                for policy in open_policies(table, role)
            ]
    return []  # not readable, or RLS off: rls_disabled_in_public's business


def _untied_writes(table: Table) -> list[Finding]:
    """Write policies for signed-in users whose check never asks who the user is (directly or
    through a function): a user may create rows as someone else, or give their rows away. A
    policy that lets only INSERT through on a table without an owner column creates a row
    that belongs to nobody yet (a new team): open, but no one else's rows are at stake."""
    found = []
    for policy in table.policies:
        commands = [
            command
            for command in ("INSERT", "UPDATE")
            if policy.permissive  # a restrictive policy only narrows what the others let in
            and policy.applies(command, "authenticated")
            and policy.grants(command)
        ]
        if not commands or policy.check_asks:
            continue
        shared = commands == ["INSERT"] and table.owner is None
        found.append(
            Finding(
                UNTIED_WRITE_CODES["shared" if shared else "owned"],
                f"{table.name}.{policy.name}",
                f"policy {policy.name} lets {' and '.join(commands)} on {table.name} write rows"
                f" for any user: its check ({policy.check or policy.using}) never asks who the"
                " user is" + ("; the table has no owner column" if shared else ""),
            )
        )
    return found
