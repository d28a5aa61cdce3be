"""Reading a prebuilt suite's settings table into its dataclass, with one clear error; and the
range every number in a settings dataclass must lie in, declared on its field."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")
Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Range:
    """Where a number setting may lie: finite always, from ``low`` (excluded when ``above``)
    to ``high``."""

    low: float | None = None
    high: float | None = None
    above: bool = False

    def __str__(self) -> str:
        low = "" if self.low is None else f"{'above' if self.above else 'at least'} {_n(self.low)}"
        high = "" if self.high is None else f"at most {_n(self.high)}"
        return ", ".join(part for part in (low, high) if part) or "any finite number"

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def number(
    default: Any, low: float | None = None, high: float | None = None, *, above: bool = False
) -> Any:
    """A dataclass field holding a number in ``Range(low, high, above)``."""
    return field(default=default, metadata={"range": Range(low, high, above)})


def ranged(cls: type[Any]) -> Iterator[tuple[Field[Any], Range]]:
    """The fields of a settings dataclass that declare a range, with it."""
    for item in fields(cls):
        if "range" in item.metadata:
            yield item, item.metadata["range"]


class Ranged:
    """A settings dataclass whose numbers are checked against their ranges when it is made:
    ValueError names the first one outside its range."""

    def __post_init__(self) -> None:
        for item, allowed in ranged(type(self)):
            value = getattr(self, item.name)
            if value is not None and not allowed.holds(value):
                raise ValueError(f"{item.name} must be {allowed} (got {value!r})")


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
