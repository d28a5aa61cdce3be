"""Reading a prebuilt suite's settings table into its dataclass, with one clear error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")
Converter = Callable[[Any], Any]


def parse_table(cls: type[T], table: Mapping[str, Any], special: Mapping[str, Converter]) -> T:
    """Build ``cls`` from ``table``: each value is checked against its field's default type,
    or converted by ``special[key]``. Raises ValueError naming the key."""
    defaults = {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in defaults:
            raise ValueError(f"unknown key {key!r} (known: {', '.join(defaults)})")
        convert = special.get(key)
        values[key] = convert(value) if convert else _scalar(key, defaults[key], value)
    return cls(**values)


def _scalar(key: str, default: Any, value: Any) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        kind = "true or false"
    elif isinstance(default, float):
        if number:
            return float(value)
        kind = "a number"
    elif isinstance(default, int):
        if number and float(value).is_integer():
            return int(value)
        kind = "a whole number"
    elif isinstance(default, tuple):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        kind = "a list of strings"
    else:  # strings, and optional strings (default None)
        assert default is MISSING or default is None or isinstance(default, str)
        if isinstance(value, str):
            return value
        kind = "a string"
    raise ValueError(f"{key} must be {kind}")


def optional_bool(key: str) -> Converter:
    """A converter for a setting that is true, false, or left out."""

    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value

    return convert
