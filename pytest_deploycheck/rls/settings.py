"""Settings of the prebuilt rls suite (``[targets.NAME.suites.rls]``), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.core.settings_table import parse_table

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


@dataclass(frozen=True)
class RlsSettings:
    """Which schemas the API exposes, what is public by design, and who to act as."""

    exposed_schemas: tuple[str, ...] = ()  # default: read from the authenticator's pgrst.db_schemas
    authenticator: str = "authenticator"
    public_tables: tuple[str, ...] = ()  # allow-list: readable by anyone by design
    owner_columns: Mapping[str, str] = field(default_factory=dict)  # "schema.table" -> column
    user_a: str | None = None  # auth.users ids; default: two existing users
    user_b: str | None = None
    sensitive_columns: tuple[str, ...] = SENSITIVE
    privileged_columns: tuple[str, ...] = PRIVILEGED
    probe_timeout_ms: int = 2000

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> RlsSettings:
        """Read the suite's table; raises ValueError naming the bad key."""
        return parse_table(cls, table, {"owner_columns": _owner_columns})

    def is_public(self, table: str) -> bool:
        """Whether ``schema.table`` is public by design (``public_tables``)."""
        return table in self.public_tables or table.split(".", 1)[-1] in self.public_tables


def _owner_columns(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError('owner_columns must be a table of "schema.table" = "column"')
    return dict(value)
