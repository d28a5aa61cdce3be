"""A watch window's samples on disk: one JSON line each, appended and flushed as taken, so a
killed run loses nothing and a restarted one resumes its window — recording the time nobody
was watching as a gap line."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pytest_deploycheck.window.judge import Sample

FILE = "window-samples.jsonl"


class WindowState:
    """The header (what window this is, when it started) and the samples taken so far."""

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        samples: list[Sample],
        gaps: list[tuple[float, float]] | None = None,
    ) -> None:
        self.path = path
        self.header = header
        self.samples = samples
        self.gaps = gaps or []  # (from, to): unwatched, between a stop and its resumption

    @classmethod
    def open(cls, directory: Path, window: dict[str, Any]) -> WindowState:
        """Resume the window recorded in ``directory`` if it is the same one, else start anew
        (keeping the previous file as ``.previous``)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / FILE
        if path.exists():
            header, samples, gaps = _read(path)
            same = all(header.get(key) == value for key, value in window.items())
            if same and time.time() - header.get("started", 0) < window["window_s"]:
                state = cls(path, header, samples, gaps)
                state.resumed()
                return state
            path.replace(path.with_suffix(".previous"))
        header = {**window, "started": time.time()}
        path.write_text(json.dumps(header) + "\n")
        return cls(path, header, [])

    @property
    def started(self) -> float:
        return float(self.header["started"])

    @property
    def next_round(self) -> int:
        return max((s.round for s in self.samples), default=-1) + 1

    def resumed(self) -> None:
        """Record the gap from the last thing seen to now."""
        seen = max([self.started, *(s.t for s in self.samples), *(to for _, to in self.gaps)])
        gap = (seen, time.time())
        self._write([{"gap": list(gap)}])
        self.gaps.append(gap)

    def reload(self) -> None:
        """Take the samples from disk again: a stop (SIGTERM, Ctrl-C) may land between
        writing a round and keeping it in memory."""
        _, self.samples, self.gaps = _read(self.path)

    def append(self, samples: list[Sample]) -> None:
        """Write the samples and make sure they are on disk before going on."""
        self._write([asdict(sample) for sample in samples])
        self.samples.extend(samples)

    def _write(self, lines: list[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line) + "\n")
            out.flush()
            os.fsync(out.fileno())


def _read(path: Path) -> tuple[dict[str, Any], list[Sample], list[tuple[float, float]]]:
    """The header, samples and gaps of a samples file; a last line cut short by a kill is
    left out."""
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    header = lines[0] if lines else {}
    samples = [Sample(**line) for line in lines[1:] if "gap" not in line]
    gaps = [(float(line["gap"][0]), float(line["gap"][1])) for line in lines[1:] if "gap" in line]
    return header, samples, gaps
