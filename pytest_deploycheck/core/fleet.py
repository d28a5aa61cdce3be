"""Which targets a fleet run checks: names, globs or ``all`` from the config, and the stable
share of them one shard (a CI matrix job, a Kubernetes Indexed Job's pod) takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

ALL = "all"
_GLOB = set("*?[")
# The variables a distributed engine gives each of its N jobs: (index, total, first index).
SHARD_VARIABLES = (
    ("JOB_COMPLETION_INDEX", "JOB_COMPLETIONS", 0),  # a Kubernetes Indexed Job's pod
    ("CI_NODE_INDEX", "CI_NODE_TOTAL", 1),  # a GitLab CI job with parallel: N
)


def is_fleet(spec: str) -> bool:
    """Whether a ``--deploy-target`` value names several targets (a list, a glob, ``all``)."""
    return "," in spec or spec.strip() == ALL or bool(_GLOB & set(spec))


def select(spec: str, names: Sequence[str]) -> tuple[str, ...]:
    """The targets ``spec`` names, sorted; raises ValueError for a name the config does not
    define or a glob that matches none of them."""
    chosen: set[str] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == ALL:
            matched = set(names)
        elif _GLOB & set(part):
            matched = {name for name in names if fnmatchcase(name, part)}
        else:
            matched = {part} & set(names)
        if not matched:
            known = ", ".join(sorted(names)) or "no targets"
            what = "matches no target" if _GLOB & set(part) or part == ALL else "is not a target"
            raise ValueError(f"--deploy-target {part!r} {what}; the config defines: {known}")
        chosen |= matched
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` with 1 <= K <= N; raises ValueError."""
        head, _, tail = text.strip().partition("/")
        try:
            index, count = int(head), int(tail)
        except ValueError:
            raise ValueError(f"--deploy-shard {text!r} is not K/N (for example 1/4)") from None
        if not 1 <= index <= count:
            raise ValueError(f"--deploy-shard {text!r}: K must be between 1 and N")
        return cls(index, count)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Shard | None:
        """The shard a distributed engine's variables describe, if any."""
        for index, total, first in SHARD_VARIABLES:
            if environ.get(index) and not environ.get(total):
                raise ValueError(f"{index} is set but {total} is not: set it to the job count")
            if environ.get(index):
                try:
                    return cls.parse(f"{int(environ[index]) - first + 1}/{environ[total]}")
                except ValueError as exc:
                    raise ValueError(f"{index}/{total}: {exc}") from None
        return None

    def share(self, names: Sequence[str]) -> tuple[str, ...]:
        """This shard's targets: every ``count``-th of the sorted names, from ``index``. Stable
        for the same names, and the N shards together take each target exactly once."""
        return tuple(sorted(names)[self.index - 1 :: self.count])
