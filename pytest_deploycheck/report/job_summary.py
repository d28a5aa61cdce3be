"""The sign-off as a Markdown job summary, for pipelines that show one (GitHub Actions reads
the file named by ``GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import markdown_text as md
from pytest_deploycheck.report.ci import ci_of
from pytest_deploycheck.report.decision import TARGET_COLUMNS, decision, target_rows

OUTCOMES = ("passed", "failed", "error", "skipped")


def markdown(
    document: dict[str, Any], files: Sequence[Path] = (), environ: Mapping[str, str] | None = None
) -> str:
    """The decision block, a per-phase/suite table, the run and where its evidence is kept."""
    block = [line.replace("```", "'''") for line in decision(document, _signoff_name(files))]
    lines = [f"## Deployment sign-off: {document['verdict']}", "", "```text", *block, "```"]
    if "targets" in document:
        lines += ["", "| " + " | ".join(TARGET_COLUMNS) + " |", "|---|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in target_rows(document)]
        return "\n".join([*lines, "", _where(files, environ or {})]) + "\n"
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
    lines += ["", _where(files, environ or {})]
    return "\n".join(lines) + "\n"


def _signoff_name(files: Sequence[Path]) -> str:
    return files[0].name if files else "deploycheck-signoff.json"


def _where(files: Sequence[Path], environ: Mapping[str, str]) -> str:
    """The run and the artifact that keep the evidence, as a reader of the summary finds
    them: a path on the runner's disk is gone when the job ends."""
    names = ", ".join(f"`{md(path.name)}`" for path in files) or "the sign-off"
    artifact = environ.get("DEPLOYCHECK_ARTIFACT")
    kept = f"in the artifact `{md(artifact)}`" if artifact else "in this run's artifacts"
    ci = ci_of(environ)
    run = f" of [run {md(ci.build or '')}]({ci.run_url})" if ci.run_url else ""
    return f"Evidence: {names}, {kept}{run}."


def append(path: str, text: str) -> None:
    """Add to the summary file (a job may have several steps writing to it)."""
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(text)
