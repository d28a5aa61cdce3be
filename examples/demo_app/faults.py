"""Fault switches: each turns the demo into a broken deployment of a kind the runbook names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# name -> (takes a value, default value, what it breaks)
FAULTS = {
    "health-503": (False, None, "GET /api/health answers 503"),
    "error-rate": (True, "0.05", "this fraction of requests (all but /api/health) answer 500"),
    "slow": (True, "1.0", "every response is delayed by this many seconds"),
    "wrong-version": (True, "0.0.0-stale", "the app reports this version instead of its own"),
    "login-broken": (False, None, "valid credentials are refused"),
    "logout-broken": (False, None, "logout leaves the session valid"),
    "logout-500": (False, None, "logout answers 500 and leaves the session valid (a crash)"),
    "stateless-session": (
        False,
        None,
        "logout clears the browser's cookie but the server ends nothing, as with a signed-cookie"
        " session: a copy of the old cookie still signs in",
    ),
    "insecure-cookie": (False, None, "the session cookie lacks HttpOnly and SameSite"),
    "rate-limited": (False, None, "every sign-in answers 429: too many attempts"),
    "rls-disabled": (True, "notes", "this table loses Row Level Security"),
    "permissive-policy": (True, "notes", "this table gets a policy letting anyone read all rows"),
    "pending-migration": (False, None, "the newest migration is not applied"),
    "invalid-index": (False, None, "a failed CREATE INDEX CONCURRENTLY leaves an invalid index"),
    "lock-held": (False, None, "a long transaction holds a lock that blocks writers"),
    "drop-column": (
        True,
        "profiles.display_name",
        "make demo's deploy drops this column (after the pre-deploy snapshot): data loss",
    ),
}


class FaultError(ValueError):
    """A fault switch that does not exist or has a bad value."""


@dataclass(frozen=True)
class Faults:
    """The switched-on faults, by name, with their values."""

    active: dict[str, str | None]

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Faults:
        """Read ``name`` or ``name=value`` specs, comma-separated or repeated."""
        active: dict[str, str | None] = {}
        for spec in (part.strip() for text in specs for part in text.split(",")):
            if not spec:
                continue
            name, _, value = spec.partition("=")
            if name not in FAULTS:
                raise FaultError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            takes_value, default, _ = FAULTS[name]
            if value and not takes_value:
                raise FaultError(f"fault {name!r} takes no value")
            active[name] = (value or default) if takes_value else None
        faults = cls(active)
        if not 0 <= faults.number("error-rate", 0.0) <= 1:
            raise FaultError("error-rate must be a fraction between 0 and 1")
        if faults.number("slow", 0.0) < 0:
            raise FaultError("slow must be a number of seconds")
        return faults

    def __contains__(self, name: str) -> bool:
        return name in self.active

    def value(self, name: str) -> str | None:
        """The value of a switched-on fault, None when it is off."""
        return self.active.get(name)

    def number(self, name: str, off: float) -> float:
        """A numeric fault value, or ``off`` when the fault is off."""
        value = self.active.get(name)
        if value is None:
            return off
        try:
            return float(value)
        except ValueError:
            raise FaultError(f"{name} needs a number, not {value!r}") from None

    def describe(self) -> str:
        """The faults as ``name=value`` specs, or ``none``."""
        specs = [
            name if value is None else f"{name}={value}" for name, value in self.active.items()
        ]
        return ", ".join(specs) or "none"
