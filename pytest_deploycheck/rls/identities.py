"""Who the probes act as: anon, users A and B, and a signed-in stranger, each with the token
Supabase Auth would issue them — every standard claim, filled from ``auth.users`` where it has
the value — so that policies and helpers that read ``aal``, ``exp``, ``email`` or an org claim
in ``app_metadata`` see what they see in production. ``[suites.rls.claims]`` adds or replaces
claims for every identity, ``[suites.rls.identity_claims.NAME]`` for one."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import CouldNotCheck
from pytest_deploycheck.net.postgres import fetch
from pytest_deploycheck.rls.settings import RlsSettings

if TYPE_CHECKING:
    from psycopg import sql

    from pytest_deploycheck.net.postgres import Connection

ISSUER = "supabase"
LIFETIME_S = 3600
# A user's columns in auth.users, by the claim each fills (as GoTrue fills them).
USER_CLAIMS = {
    "email": "email",
    "phone": "phone",
    "app_metadata": "raw_app_meta_data",
    "user_metadata": "raw_user_meta_data",
    "is_anonymous": "is_anonymous",
}
USERS = """SELECT id::text AS id, to_jsonb(u) - 'encrypted_password' AS row FROM auth.users u
WHERE cardinality(%(ids)s::text[]) = 0 OR id::text = ANY(%(ids)s::text[])
ORDER BY created_at, id LIMIT 2"""


@dataclass(frozen=True)
class Identity:
    """Who a probe acts as: an API role and, signed in, the user id in the token, with every
    claim of that token."""

    name: str  # anon, user_a, user_b, stranger
    role: str
    user: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        """Who, as a finding names them: the API role first."""
        if self.name == "anon":
            return "anon (signed out)"
        if self.name == "stranger":
            return "authenticated, a signed-in stranger with no rows or memberships"
        return f"authenticated user {self.user}"

    def impersonation(self) -> sql.Composed:
        """What PostgREST does for a request: ``SET LOCAL ROLE`` and the token's claims, as the
        ``set_config(..., true)`` calls it makes (composed once: every probe starts with it)."""
        return self._impersonation

    @cached_property
    def _impersonation(self) -> sql.Composed:
        from psycopg import sql

        return sql.SQL(
            "SELECT set_config('role', {}, true), set_config('request.jwt.claims', {}, true)"
        ).format(sql.Literal(self.role), sql.Literal(json.dumps(self.claims, sort_keys=True)))


def identities(conn: Connection, settings: RlsSettings) -> dict[str, Identity]:
    """Anon, users A and B (from the config, else the two oldest of ``auth.users``), and a
    signed-in stranger: a user id no row and no membership names."""
    wanted = [settings.user_a, settings.user_b] if settings.user_a and settings.user_b else []
    rows = fetch(conn, USERS, {"ids": wanted})
    if len(rows) < 2:
        message = "[rls-no-users] need two users: set user_a and user_b in suites.rls"
        raise CouldNotCheck(message)
    if wanted:
        rows.sort(key=lambda row: wanted.index(row["id"]))
    now = int(time.time())
    stranger = {"id": str(uuid.uuid4()), "row": {"email": "stranger@example.invalid"}}
    users = {"user_a": rows[0], "user_b": rows[1], "stranger": stranger}
    found = {"anon": Identity("anon", "anon", None, _made("anon", None, {}, now, settings))}
    for name, user in users.items():
        claims = _made(name, user["id"], user["row"] or {}, now, settings)
        found[name] = Identity(name, "authenticated", user["id"], claims)
    return found


def _made(
    name: str, user: str | None, row: Mapping[str, Any], now: int, settings: RlsSettings
) -> dict[str, Any]:
    """The token of one identity: Supabase's standard claims, then the configured ones."""
    token: dict[str, Any] = {"iss": ISSUER, "iat": now, "exp": now + LIFETIME_S}
    if user is None:
        token["role"] = "anon"
    else:
        token |= {
            "aud": "authenticated",
            "role": "authenticated",
            "sub": user,
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": str(uuid.uuid4()),
            "email": "",
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "is_anonymous": False,
        }
        token |= {claim: row[column] for claim, column in USER_CLAIMS.items() if row.get(column)}
    return _merged(_merged(token, settings.claims), settings.identity_claims.get(name, {}))


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, tables merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        old = merged.get(key)
        both = isinstance(old, Mapping) and isinstance(value, Mapping)
        merged[key] = _merged(old, value) if both else value  # type: ignore[arg-type]
    return merged
