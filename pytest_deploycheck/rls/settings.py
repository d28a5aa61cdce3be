"""Settings of the prebuilt rls suite (``[targets.NAME.suites.rls]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.core.settings_table import Ranged, number, parse_table

SENSITIVE = (
    "password",
    "passwd",
    "secret",
    "token",
    "ssn",
    "social_security",
    "credit_card",
    "card_number",
    "cvv",
    "iban",
    "api_key",
)
PRIVILEGED = ("is_admin", "is_superuser", "is_staff", "role", "roles", "permissions", "plan")
OWNER_NAMES = ("user_id", "owner_id", "owner", "created_by", "author_id", "profile_id")
IDENTITIES = ("anon", "user_a", "user_b", "stranger")  # who the probes act as


@dataclass(frozen=True)
class RlsSettings(Ranged):
    """Which schemas the API exposes, what is public by design, and who to act as."""

    exposed_schemas: tuple[str, ...] = ()  # default: read from the authenticator's pgrst.db_schemas
    authenticator: str = "authenticator"
    public_reads: tuple[str, ...] = ()  # reads opened to everyone by design (writes still checked)
    reviewed_functions: tuple[str, ...] = ()  # SECURITY DEFINER functions the API may call
    owner_columns: Mapping[str, str] = field(default_factory=dict)  # "schema.table" -> column
    user_a: str | None = None  # auth.users ids; default: two existing users
    user_b: str | None = None
    sensitive_columns: tuple[str, ...] = SENSITIVE
    privileged_columns: tuple[str, ...] = PRIVILEGED
    probe_timeout_ms: int = number(2000, 0, 600_000, above=True)
    claims: Mapping[str, Any] = field(default_factory=dict)  # added to every probe's token
    # added to one identity's token: anon, user_a, user_b, stranger
    identity_claims: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> RlsSettings:
        """Read the suite's table; raises ValueError naming the bad key. ``public_tables`` is
        the older name of ``public_reads``."""
        table = dict(table)
        if "public_tables" in table:
            older = table.pop("public_tables")
            table["public_reads"] = [*older, *table.get("public_reads", [])]
        special = {
            "owner_columns": _owner_columns,
            "claims": _claims,
            "identity_claims": _identity_claims,
        }
        return parse_table(cls, table, special)

    def reads_public(self, table: str) -> bool:
        """Whether reading ``schema.table`` is open to everyone by design (``public_reads``)."""
        return _listed(table, self.public_reads)

    def reviewed(self, function: str) -> bool:
        """Whether a SECURITY DEFINER function (``schema.name(args)``) was reviewed."""
        return _listed(function, self.reviewed_functions) or _listed(
            function.split("(", 1)[0], self.reviewed_functions
        )


def _listed(name: str, allowed: tuple[str, ...]) -> bool:
    """``schema.name`` is listed as itself or, unqualified, by its name."""
    return name in allowed or name.split(".", 1)[-1] in allowed


def _owner_columns(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError('owner_columns must be a table of "schema.table" = "column"')
    return dict(value)


def _claims(value: Any, key: str = "claims") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f'{key} must be a table of claim = value, e.g. {{ aal = "aal2" }}')
    return dict(value)


def _identity_claims(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or set(value) - set(IDENTITIES):
        raise ValueError(f"identity_claims must be tables named {', '.join(IDENTITIES)}")
    return {name: _claims(claims, f"identity_claims.{name}") for name, claims in value.items()}
