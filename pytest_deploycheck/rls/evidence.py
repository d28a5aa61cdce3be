"""What the schema says about each exposed table: who owns its rows (a user, a tenant, or nobody
in particular) and who its SELECT policies let read — the evidence every rls verdict starts from.

Policies are read the way real projects write them: ``auth.uid()`` bare or in splinter's initplan
form ``(select auth.uid())``, through functions that ask who the user is (``is_member(org_id)``),
through ``auth.jwt()`` claims. Read boundaries come from SELECT policies, write boundaries from
write policies.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.net.postgres import FIRST_NORMAL_OID, expression_calls, fetch
from pytest_deploycheck.rls.settings import OWNER_NAMES, RlsSettings

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

API_ROLES = ("anon", "authenticated")
COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")
_INITPLAN = re.compile(r"\(\s*SELECT\s+(auth\.\w+\(\))\s+AS\s+\w+\)")
_CAST = re.compile(r"::[\w. ]+")
_USER = r"(?:auth\.uid\(\)|\(auth\.jwt\(\) ->> 'sub'\))"  # the signed-in user's id
_OWNER = re.compile(rf"\(?(\w+)\)?\s*=\s*{_USER}|{_USER}\s*=\s*\(?(\w+)\)?")
_SIGNED_IN = re.compile(rf"{_USER} IS NOT NULL")  # asks whether, not who
_JWT_KEYS = re.compile(r"auth\.jwt\(\)\s*->>?\s*'(\w+)'")
_NOT_IDENTITY = {"role", "aal", "amr", "iss", "aud", "exp", "iat"}  # claims not naming a user
_CALLED = re.compile(r"([\w.]+)\(")
# What in a function's body may advance a sequence: nextval and setval, and writing rows (a
# serial or identity key's default calls nextval).
_ADVANCES = re.compile(r"(?i)\b(?:nextval|setval)\s*\(|\b(?:insert|merge|copy)\b")
# The commands a trigger fires on, by their bits in pg_trigger.tgtype.
TRIGGER_COMMANDS = {4: "INSERT", 8: "DELETE", 16: "UPDATE"}
_STRING = re.compile(r"'[^']*'")


@dataclass(frozen=True)
class Policy:
    """One policy of a table, as the catalog holds it."""

    name: str
    cmd: str  # SELECT, INSERT, UPDATE, DELETE or ALL
    roles: tuple[str, ...]
    permissive: bool
    using: str
    check: str
    tree: str  # the USING expression's node tree
    asks: bool = False  # its USING asks who the user is
    check_asks: bool = False  # its WITH CHECK (else its USING) asks who the user is
    tied: bool = False  # it compares the table's owner column with the user
    via_tenant: bool = False  # it lets users in through another column of the row (a tenant)
    shown_roles: tuple[str, ...] = ()  # the roles as SQL names (quote_ident), for messages
    said: tuple[str, str] = ("", "")  # USING and WITH CHECK as PostgreSQL deparsed them

    def applies(self, command: str, role: str) -> bool:
        """Whether the policy is one ``role`` meets for ``command``: named for them (or for
        everyone), and, where its condition tests the token's role (``auth.role() =
        'authenticated'``), for that role."""
        if self.cmd not in (command, "ALL") or not {role, "public"} & set(self.roles):
            return False
        return self.tested_roles is None or role in self.tested_roles

    @cached_property
    def tested_roles(self) -> frozenset[str] | None:
        """The roles the condition admits where it tests the token's role; None where not."""
        return _tested_roles(self.using or self.check)

    def grants(self, command: str) -> bool:
        """Whether the policy can let ``command`` through at all: reading, updating and
        deleting need a USING condition (without one PostgreSQL lets no row through), and
        ``false`` — ``using (false)``, ``with check (false)`` — switches a command off."""
        check = self.check or self.using
        if command == "INSERT":
            return check != "false"
        if command == "UPDATE" and check == "false":
            return False
        return self.using not in ("", "false")


@dataclass(frozen=True)
class Table:
    """An exposed table and the evidence about it.

    ``kind``: ``user`` (rows belong to the user in ``owner``), ``tenant`` (to a tenant, keyed
    by ``tenant``) or ``shared`` (no evidence of ownership). A user-owned table may have a
    tenant key too: a membership row is its user's, and its account's."""

    name: str
    schema: str
    relation: str
    rls: bool
    kind: str = "shared"
    owner: str | None = None
    tenant: str | None = None
    writable: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role -> commands
    columns: tuple[str, ...] = ()
    policies: tuple[Policy, ...] = ()
    required: tuple[str, ...] = ()  # NOT NULL, no default: an INSERT must give them
    sequenced: tuple[str, ...] = ()  # filled from a sequence: a probe gives them, not nextval
    keys: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)  # column -> target
    # commands a probe must not run here, and why: a trigger or a generated column would
    # advance a sequence, which no rollback undoes
    unwritable: Mapping[str, str] = field(default_factory=dict)

    def identifier(self) -> sql.Identifier:
        from psycopg import sql

        return sql.Identifier(self.schema, self.relation)

    def owner_identifier(self) -> sql.Identifier:
        from psycopg import sql

        assert self.owner is not None
        return sql.Identifier(self.owner)

    @property
    def owned(self) -> bool:
        return self.kind != "shared"

    def permissive(self, command: str, role: str) -> list[Policy]:
        """The permissive policies that let ``role`` run ``command`` on some rows (a deny-all
        policy, ``using (false)``, lets it run on none)."""
        return [
            p
            for p in self.policies
            if p.permissive and p.applies(command, role) and p.grants(command)
        ]

    def reads(self, role: str) -> str:
        """What the SELECT policies let ``role`` read, whatever its grants: ``none``,
        ``scoped`` (each asks who the user is) or ``open`` (one does not: ``true``,
        ``is_published``, ``auth.role() = 'authenticated'``)."""
        permissive = self.permissive("SELECT", role)
        if not permissive:
            return "none"
        return "scoped" if all(p.asks for p in permissive) else "open"

    def boundary(self, command: str) -> str:
        """What keeps signed-in users apart for ``command``: ``user`` (each user's rows, by the
        owner column) or ``tenant`` (no owner column, or a policy lets users in through a
        membership: rows of a tenant A and B share are both users' to reach)."""
        tenant = any(p.via_tenant for p in self.permissive(command, "authenticated"))
        return "user" if self.owner and not tenant else "tenant"


TABLES = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
  n.nspname AS schema, c.relname AS relation, c.relrowsecurity AS rls,
  ARRAY(SELECT a.attname::text FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
    AS columns,
  ARRAY(SELECT a.attnum::int FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 ORDER BY a.attnum) AS numbers,
  ARRAY(SELECT a.attname::text FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 ORDER BY a.attnum) AS numbered,
  ARRAY(SELECT a.attname::text FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
          AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
        ORDER BY a.attnum) AS required,
  ARRAY(SELECT a.attname::text FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> ''
        ORDER BY a.attnum) AS identities,
  (SELECT json_agg(json_build_array(a.attname, d.adbin::text, a.attgenerated <> ''))
   FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
   WHERE d.adrelid = c.oid AND NOT a.attisdropped) AS defaults,
  (SELECT json_agg(json_build_array(t.tgname, t.tgfoid::bigint, t.tgtype))
   FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D')
    AS triggers,
  (SELECT a.attname::text FROM pg_constraint f
   JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = f.conkey[1]
   WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid = to_regclass('auth.users')
   LIMIT 1) AS user_key,
  (SELECT json_agg(json_build_object('column', a.attname,
            'table', quote_ident(rn.nspname) || '.' || quote_ident(r.relname),
            'references', ARRAY[rn.nspname::text, r.relname::text, ra.attname::text]))
   FROM pg_constraint f JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = f.conkey[1]
   JOIN pg_attribute ra ON ra.attrelid = f.confrelid AND ra.attnum = f.confkey[1]
   JOIN pg_class r ON r.oid = f.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
   WHERE f.conrelid = c.oid AND f.contype = 'f') AS foreign_keys,
  (SELECT json_agg(json_build_object('name', quote_ident(p.polname),
            'cmd', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                     WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
            'roles', ARRAY(SELECT CASE r WHEN 0 THEN 'public' ELSE pg_get_userbyid(r) END
                           FROM unnest(p.polroles) r),
            'shown_roles', ARRAY(SELECT quote_ident(CASE r WHEN 0 THEN 'public'
                                 ELSE pg_get_userbyid(r) END) FROM unnest(p.polroles) r),
            'permissive', p.polpermissive,
            'using', coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
            'check', coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')) ORDER BY p.polname)
   FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
  ARRAY(SELECT coalesce(p.polqual::text, '') FROM pg_policy p WHERE p.polrelid = c.oid
        ORDER BY p.polname) AS trees,  -- beside the policies, in their order: no JSON to parse
  ARRAY[has_table_privilege('anon', c.oid, 'SELECT'),  -- API_ROLES by COMMANDS, in order
        has_table_privilege('anon', c.oid, 'INSERT'),
        has_table_privilege('anon', c.oid, 'UPDATE'),
        has_table_privilege('anon', c.oid, 'DELETE'),
        has_table_privilege('authenticated', c.oid, 'SELECT'),
        has_table_privilege('authenticated', c.oid, 'INSERT'),
        has_table_privilege('authenticated', c.oid, 'UPDATE'),
        has_table_privilege('authenticated', c.oid, 'DELETE')] AS grants
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) ORDER BY 1"""

ASKING_FUNCTIONS = """SELECT p.proname AS name, n.nspname AS schema, p.prosrc AS body
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosrc ~ 'auth\\.(uid|jwt)\\(\\)'"""


FUNCTIONS = """SELECT p.oid::bigint AS oid, p.proname AS name, n.nspname AS schema,
  p.prosrc AS body, p.oid < %(first_normal)s AS builtin
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE (p.oid < %(first_normal)s AND n.nspname = 'pg_catalog' AND p.proname IN ('nextval', 'setval'))
   OR (p.oid >= %(first_normal)s AND l.lanname NOT IN ('c', 'internal'))"""


def exposed_tables(conn: Connection, settings: RlsSettings, schemas: list[str]) -> list[Table]:
    """Every exposed table with the evidence about who owns its rows and who may read them."""
    asking = asking_functions(fetch(conn, ASKING_FUNCTIONS))
    advancing = advancing_functions(fetch(conn, FUNCTIONS, {"first_normal": FIRST_NORMAL_OID}))
    with _collector_paused():
        rows = fetch(conn, TABLES, {"schemas": schemas})
        tables = {row["name"]: classify(row, settings, asking, advancing) for row in rows}
        return [
            _through_keys(table, row, tables)
            for table, row in zip(tables.values(), rows, strict=True)
        ]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the evidence is read and classified: the read makes
    tens of objects per policy and no cycles, and the collections it would set off scan every
    object of the process (a sixth of the read at 3,000 tables, and growth past linear;
    bench/README.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def asking_functions(rows: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Functions whose body asks who the user is, by name and by schema-qualified name:
    ``is_member(org)`` does, ``auth.role()`` (the token's role claim) does not."""
    return frozenset(
        name
        for row in rows
        if asks_user(normalized(row["body"]), frozenset())
        for name in (row["name"], f"{row['schema']}.{row['name']}")
    )


def advancing_functions(rows: Iterable[Mapping[str, Any]]) -> frozenset[int]:
    """The functions that may advance a sequence: ``nextval`` and ``setval``, and the target's
    own whose body calls them, writes rows, or calls (by name) one that does, found until
    nothing more is (the target's C functions are an extension's, and left out)."""
    rows = list(rows)
    found = {r["oid"] for r in rows if r["builtin"] or _ADVANCES.search(r["body"] or "")}
    while True:
        names = _called_names(rows, found)
        callers = {
            r["oid"]
            for r in rows
            if r["oid"] not in found and names & set(_CALLED.findall(r["body"] or ""))
        }
        if not callers:
            return frozenset(found)
        found |= callers


def _called_names(rows: list[Mapping[str, Any]], found: set[int]) -> set[str]:
    """The names a body may call the ``found`` functions by: bare and schema-qualified."""
    return {
        name
        for r in rows
        if r["oid"] in found
        for name in (r["name"], f"{r['schema']}.{r['name']}")
    }


def _unwritable(
    row: Mapping[str, Any], advancing: frozenset[int]
) -> tuple[list[str], dict[str, str]]:
    """The columns whose default may advance a sequence (a probe gives them a value), and the
    commands a probe must not run: a trigger fires whatever values are given, and a generated
    column's expression runs on every INSERT and UPDATE."""
    sequenced, unwritable = list(row["identities"]), {}
    for column, tree, generated in row["defaults"] or []:
        if not expression_calls(tree)[0] & advancing:
            continue
        if not generated:
            sequenced.append(column)
            continue
        for command in ("INSERT", "UPDATE"):
            unwritable[command] = f"generated column {column} may advance a sequence"
    for name, function, kind in row["triggers"] or []:
        for bit, command in TRIGGER_COMMANDS.items():
            if kind & bit and function in advancing:
                unwritable.setdefault(command, f"trigger {name} may advance a sequence")
    return sequenced, unwritable


def classify(
    row: Mapping[str, Any],
    settings: RlsSettings,
    asking: frozenset[str],
    advancing: frozenset[int] = frozenset(),
) -> Table:
    """A table's evidence from its catalog row (the query ``TABLES``)."""
    raw = list(zip(row["policies"] or [], row["trees"], strict=True))
    texts = [(normalized(p["using"]), normalized(p["check"])) for p, _ in raw]
    numbers = dict(zip(row["numbers"], row["numbered"], strict=True))
    owner = settings.owner_columns.get(row["name"]) or _owner(texts, row)
    policies = tuple(
        _policy(p, tree, *text, owner, row, asking)
        for (p, tree), text in zip(raw, texts, strict=True)
    )
    tenant = _tenant(policies, numbers, owner)
    kind = "user" if owner else "tenant" if tenant else "shared"
    flags = iter(row["grants"])
    grants = {role: {command: next(flags) for command in COMMANDS} for role in API_ROLES}
    sequenced, unwritable = _unwritable(row, advancing)
    return Table(
        row["name"],
        row["schema"],
        row["relation"],
        row["rls"],
        kind,
        owner,
        tenant,
        {role: tuple(c for c in COMMANDS if grants[role][c]) for role in API_ROLES},
        tuple(row["columns"]),
        policies,
        tuple(row["required"]),
        tuple(sequenced),
        {key["column"]: tuple(key["references"]) for key in row["foreign_keys"] or []},
        unwritable,
    )


def _through_keys(table: Table, row: Mapping[str, Any], tables: Mapping[str, Table]) -> Table:
    """A table with no evidence of its own that keys to an owned table is owned through it."""
    if table.owned:
        return table
    for key in row["foreign_keys"] or []:
        target = tables.get(key["table"])
        if target is not None and target.owned:
            return replace(table, kind="tenant", tenant=key["column"])
    return table


def _policy(
    raw: Mapping[str, Any],
    tree: str,
    using: str,
    check: str,
    owner: str | None,
    row: Mapping[str, Any],
    asking: frozenset[str],
) -> Policy:
    return Policy(
        raw["name"],
        raw["cmd"],
        tuple(raw["roles"]),
        raw["permissive"],
        using,
        check,
        tree,
        asks_user(using, asking),
        asks_user(check or using, asking),  # PostgreSQL reuses USING when there is no CHECK
        tied=owner in _compared(using, check),
        via_tenant=_via_tenant(using, check, owner, row, asking),
        shown_roles=tuple(raw["shown_roles"]),
        said=(raw["using"], raw["check"]),
    )


@lru_cache(maxsize=4096)  # the shapes of policies repeat (as for _branches)
def normalized(expression: str) -> str:
    """A deparsed expression with splinter's initplan wrappers and casts taken off, and its
    subqueries opened as ``(SELECT``: ``(( SELECT auth.uid() AS uid) = user_id)`` reads as
    ``(auth.uid() = user_id)``."""
    return _CAST.sub("", _INITPLAN.sub(r"\1", expression)).replace("( SELECT ", "(SELECT ")


_ROLE_TEST = re.compile(r"(?:auth\.role\(\)|\(auth\.jwt\(\) ->> 'role'\)) = '(\w+)'")


@lru_cache(maxsize=4096)
def _tested_roles(expression: str) -> frozenset[str] | None:
    """The roles a condition admits when every top-level ``OR`` branch tests the token's role
    (``auth.role() = 'authenticated'``); None when it does not."""
    branches = [set(_ROLE_TEST.findall(branch)) for branch in _branches(expression)]
    if not expression or not all(branches):
        return None
    return frozenset().union(*branches)


@lru_cache(maxsize=4096)
def asks_user(expression: str, asking: frozenset[str]) -> bool:
    """Whether an expression asks who the user is — ``auth.uid()``, an identifying claim of
    ``auth.jwt()``, or a function that does — in each of its top-level ``OR`` branches:
    ``is_public OR user_id = auth.uid()`` lets everyone read the public rows, and
    ``auth.uid() IS NOT NULL`` asks only whether someone signed in."""
    return bool(expression) and all(_asks(e, asking) for e in _branches(expression))


@lru_cache(maxsize=4096)
def _asks(expression: str, asking: frozenset[str]) -> bool:
    expression = _SIGNED_IN.sub("true", expression)
    if "auth.uid()" in expression:
        return True
    keys = set(_JWT_KEYS.findall(expression))
    if "auth.jwt()" in expression and (not keys or keys - _NOT_IDENTITY):
        return True
    return bool(set(_CALLED.findall(expression)) & asking)


@lru_cache(maxsize=1024)  # tables' policies repeat a few shapes; split each once
def _branches(expression: str) -> tuple[str, ...]:
    """The top-level ``OR`` branches of a deparsed expression."""
    text = expression.strip()
    while text.startswith("(") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    branches, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(" OR ", i):
            branches.append(text[start:i])
            start = i + 4
    return (*branches, text[start:])


def _closing(text: str, start: int) -> int:
    """Where the bracket opened at ``start`` closes."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return len(text)


def _owner(texts: Sequence[tuple[str, str]], row: Mapping[str, Any]) -> str | None:
    """The owner column: a column of the row compared with the user's id in a policy (its
    USING and CHECK texts), else the key to ``auth.users``, else a column named as owners are
    (``user_id``, ...)."""
    for using, check in texts:
        for column in _compared(using, check):
            if column in row["columns"]:
                return column
    named = [c for c in row["columns"] if c in OWNER_NAMES]
    return row["user_key"] or (named[0] if named else None)


def _compared(using: str, check: str) -> tuple[str, ...]:
    """The columns a policy compares with the user's id, outside its subqueries (which
    compare other tables' columns)."""
    return (*_compared_in(using), *_compared_in(check))


@lru_cache(maxsize=4096)
def _compared_in(expression: str) -> tuple[str, ...]:
    return tuple(
        match.group(1) or match.group(2)
        for match in _OWNER.finditer(_without_subqueries(expression))
    )


def _via_tenant(
    using: str, check: str, owner: str | None, row: Mapping[str, Any], asking: frozenset[str]
) -> bool:
    """Whether some ``OR`` branch of the policy asks who the user is about a column of the row
    other than the owner column — ``is_member(org_id)``, ``team_id IN (SELECT ...)``, an
    EXISTS correlated with the row — and not about the owner column."""
    others = tuple(c for c in row["columns"] if c != owner)
    correlated = f"{row['relation']}."
    for expression in (using, check):
        for branch in _branches(expression):
            if not _asks(branch, asking) or (owner and owner in _compared_in(branch)):
                continue
            if _names_any(branch, others) or any(correlated + c in branch for c in others):
                return True
    return False


@lru_cache(maxsize=4096)
def _names_any(branch: str, columns: tuple[str, ...]) -> bool:
    """Whether a condition names any of ``columns`` outside its subqueries and strings."""
    outside = _STRING.sub("''", _without_subqueries(branch))
    return any(re.search(rf"\b{re.escape(c)}\b", outside) for c in columns)


def _without_subqueries(expression: str) -> str:
    """A deparsed expression with every ``(SELECT ...)`` cut out (initplan wrappers are already
    gone: see ``normalized``)."""
    return _cut(expression, "(SELECT ", "()")


def _cut(text: str, marker: str, brackets: str) -> str:
    """``text`` without every span that starts at ``marker`` and ends where the bracket the
    marker opens is closed."""
    opening, closing = brackets[0], brackets[1]
    out, i = [], 0
    while (start := text.find(marker, i)) >= 0:
        out.append(text[i:start])
        depth, j = 1, start + marker.index(opening) + 1
        while j < len(text) and depth:
            depth += {opening: 1, closing: -1}.get(text[j], 0)
            j += 1
        i = j
    return "".join(out) + text[i:]


def _tenant(
    policies: Sequence[Policy], numbers: Mapping[int, str], owner: str | None
) -> str | None:
    """The tenant key: a column of the row, not the owner's, that a policy letting users in
    through a membership looks at (``is_member(org_id)``, ``team_id IN (SELECT ...)``)."""
    for policy in (p for p in policies if p.via_tenant):
        columns = [numbers.get(n) for n in row_columns(policy.tree)]
        for column in columns:
            if column and column != owner:
                return column
    return None


LEVELS = ("none", "scoped", "open")  # from narrowest to widest


def level(table: Table, role: str, command: str) -> str:
    """How far ``role`` may go with ``command`` on ``table`` by its grants and policies: not
    at all, only where a policy asks who the user is, or open."""
    if command not in table.writable[role]:
        return "none"
    if not table.rls:
        return "open"
    permissive = table.permissive(command, role)
    if not permissive:
        return "none"
    if command == "INSERT":
        asks = all(p.check_asks for p in permissive)
    elif command == "UPDATE":
        asks = all(p.asks and p.check_asks for p in permissive)
    else:
        asks = all(p.asks for p in permissive)
    return "scoped" if asks else "open"


def open_policies(table: Table, role: str) -> list[str]:
    """The permissive SELECT policies of ``table`` for ``role`` that do not ask who the user is."""
    return [p.name for p in table.permissive("SELECT", role) if not p.asks]


# -- reading node trees ------------------------------------------------------------------------

_SUBSELECT = ":subselect {"
_TREE_TOKENS = re.compile(
    r"\{VAR :varno 1 :varattno (?P<attno>\d+) [^}]*:varlevelsup (?P<up>\d+) [^}]*\}"
    r"|:subselect \{|[{}]"
)


def row_columns(tree: str) -> list[int]:
    """The attribute numbers of the guarded row's columns a condition refers to: outside
    subqueries, and inside them where a subquery refers back to the row (a correlated
    ``EXISTS``, or the wrapper ``(SELECT is_member(team_id))``)."""
    found: list[int] = []
    starts: list[int] = []  # the brace depth each open subquery began at
    depth = 0
    for match in _TREE_TOKENS.finditer(tree):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            while starts and depth <= starts[-1]:
                starts.pop()
        elif token == _SUBSELECT:
            starts.append(depth)
            depth += 1
        elif int(match.group("up")) == len(starts):  # a VAR of the guarded row
            found.append(int(match.group("attno")))
    return found


def ignores_row(tree: str) -> bool:
    """A condition with a subquery over a table that refers to no column of the row it guards:
    every row passes alike. A bare ``(select auth.uid())`` reads no table and does not count."""
    if ":rtable ({" not in tree:
        return False
    return not row_columns(tree) and ":varlevelsup 1" not in tree
