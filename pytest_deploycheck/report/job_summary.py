"""The sign-off as a Markdown job summary, for pipelines that show one (GitHub Actions reads
the file named by ``GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import markdown_text as md

OUTCOMES = ("passed", "failed", "error", "skipped")


def markdown(document: dict[str, Any], files: Sequence[Path] = ()) -> str:
    """Verdict, reasons, a per-phase/suite table and where the evidence is."""
    target = document["target"]
    version = f" {md(target['version'])}" if target.get("version") else ""
    lines = [
        f"## Deployment sign-off: {document['verdict']}",
        "",
        f"Target **{md(target['name'])}**{version}, phases {', '.join(document['phases']) or '-'},"
        f" exit code {document['exit_code']}.",
        "",
    ]
    lines += [f"- {md(reason)}" for reason in document["reasons"]] or [
        "- Everything selected ran and passed."
    ]
    lines += [f"- advisory: {md(advisory)}" for advisory in document["advisories"]]
    counts: Counter[tuple[str, str, str]] = Counter(
        (c["phase"], c["suite"], c["outcome"]) for c in document["checks"]
    )
    rows = sorted({(p, s) for p, s, _ in counts}, key=lambda row: (Phase(row[0]).rank, row[1]))
    if rows:
        lines += [
            "",
            "| phase | suite | " + " | ".join(OUTCOMES) + " |",
            "|---|---|" + "---:|" * len(OUTCOMES),
        ]
        lines += [
            f"| {phase} | {md(suite)} | "
            + " | ".join(str(counts[(phase, suite, o)]) for o in OUTCOMES)
            + " |"
            for phase, suite in rows
        ]
    if files:
        lines += ["", "Evidence: " + ", ".join(f"`{path}`" for path in files)]
    return "\n".join(lines) + "\n"


def append(path: str, text: str) -> None:
    """Add to the summary file (a job may have several steps writing to it)."""
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(text)
