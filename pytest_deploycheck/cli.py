"""``deploycheck``: combine, read and follow up sign-offs outside pytest.

deploycheck merge A.json B.json ... [-o OUT]   the worst verdict wins; all evidence kept
deploycheck show PATH                          a sign-off, readably
deploycheck postmortem PATH [-o OUT]           the runbook's postmortem, prefilled
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import markdown_text as md
from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.signoff.document import SCHEMA_ID, read, write
from pytest_deploycheck.signoff.engine import Verdict


class CliError(Exception):
    """A bad input: one line on stderr, exit 2."""


def load(path: str) -> dict[str, Any]:
    """A sign-off file, checked to be one."""
    try:
        return read(path)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def merge(documents: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One sign-off from several runners' (CI shards, regions): the worst verdict wins, every
    check, gate and reason is kept, each marked with the sign-off it came from."""
    worst = max((Verdict(d["verdict"]) for _, d in documents), key=lambda v: v.rank)
    names = sorted({d["target"]["name"] for _, d in documents})
    first = documents[0][1]
    return {
        "schema": SCHEMA_ID,
        "verdict": worst.value,
        "exit_code": worst.exit_code,
        "reasons": [f"{r} (from {source})" for source, d in documents for r in d["reasons"]],
        "advisories": [f"{a} (from {source})" for source, d in documents for a in d["advisories"]],
        "target": {**first["target"], "name": ", ".join(names)},
        "phases": sorted(
            {p for _, d in documents for p in d["phases"]}, key=lambda p: Phase(p).rank
        ),
        "started_at": min(d["started_at"] for _, d in documents),
        "finished_at": max(d["finished_at"] for _, d in documents),
        "checks": [
            {**c, "nodeid": f"{source}::{c['nodeid']}"}
            for source, d in documents
            for c in d["checks"]
        ],
        "gates": [
            {**g, "name": f"{source}: {g['name']}"} for source, d in documents for g in d["gates"]
        ],
    }


def show(document: dict[str, Any]) -> str:
    """A sign-off as text: the verdict, its reasons, the checks that did not pass, the gates."""
    target = document["target"]
    lines = [
        f"VERDICT: {document['verdict']} (exit {document['exit_code']}) - target {target['name']}"
        + (f", version {target['version']}" if target.get("version") else ""),
        f"phases: {', '.join(document['phases']) or '-'};"
        f" {document['started_at']} to {document['finished_at']}",
    ]
    lines += [f"  {reason}" for reason in document["reasons"]]
    lines += [f"  [advisory] {advisory}" for advisory in document["advisories"]]
    counts: dict[str, int] = {}
    for check in document["checks"]:
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
    lines.append("checks: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())))
    lines += [
        f"  {c['outcome'].upper():<7} {c['id']} ({c['severity']}): {c['message']}"
        for c in document["checks"]
        if c["outcome"] in ("failed", "error")
    ]
    if document["gates"]:
        lines.append("gates:")
        lines += [
            f"  {g['status'].upper():<8} {g['name']} = {g['value']} (threshold {g['threshold']})"
            for g in document["gates"]
        ]
    return "\n".join(one_line(line) for line in lines)


def postmortem(document: dict[str, Any]) -> str:
    """The runbook's incident postmortem, prefilled from a sign-off (a ROLLBACK's, typically)."""
    started = datetime.fromisoformat(document["started_at"])
    finished = datetime.fromisoformat(document["finished_at"])
    minutes, seconds = divmod(int((finished - started).total_seconds()), 60)
    failed = [c for c in document["checks"] if c["outcome"] in ("failed", "error")]
    critical = any(c["severity"] == "critical" for c in failed)
    phases = ", ".join(document["phases"])
    timeline = [f"- {started:%H:%M} - Post-deployment validation started ({phases})"]
    timeline += [
        f"- {finished:%H:%M} - Sign-off: {document['verdict']}; {md(reason)}"
        for reason in document["reasons"][:5]
    ]
    timeline += [
        "- HH:MM - Root cause identified",
        "- HH:MM - Mitigation started",
        "- HH:MM - Issue resolved",
    ]
    causes = [f"- `{c['id']}` ({c['severity']}): {md(c['message'])}" for c in failed] or [
        "- (no failed check)"
    ]
    target = document["target"]
    return "\n".join(
        [
            "## Incident Postmortem",
            "",
            f"**Date:** {started:%Y-%m-%d}",
            f"**Duration:** {minutes // 60:02d}:{minutes % 60:02d} (validation run; {seconds} s)",
            f"**Severity:** {'Critical' if critical else 'High' if failed else 'Medium'}",
            f"**Target:** {md(target['name'])} {md(target.get('version') or '')}".rstrip(),
            f"**Verdict:** {document['verdict']}",
            "",
            "### Timeline",
            *timeline,
            "",
            "### Root Cause",
            "Candidates, from the checks that failed:",
            *causes,
            "",
            "### Impact",
            "- Users affected: [number]",
            "- Data loss: [Yes/No — to be confirmed by a person]",
            f"- Duration: {minutes} min {seconds} s of validation",
            "- Revenue impact: [if applicable]",
            "",
            "### Resolution",
            "[What did we do to fix it]",
            "",
            "### Action Items",
            "- [ ] Item 1",
            "- [ ] Item 2",
            "- [ ] Item 3",
            "",
            "### Prevention",
            "[How will we prevent this in the future]",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploycheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    merging = commands.add_parser("merge", help="combine sign-offs; the worst verdict wins")
    merging.add_argument("paths", nargs="+")
    merging.add_argument("-o", "--output", default="deploycheck-signoff.json")
    showing = commands.add_parser("show", help="print a sign-off readably")
    showing.add_argument("path")
    writing = commands.add_parser("postmortem", help="write the postmortem template, prefilled")
    writing.add_argument("path")
    writing.add_argument("-o", "--output", help="the Markdown file (default: print it)")
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            merged = merge([(Path(p).stem, load(p)) for p in args.paths])
            write(args.output, merged)
            print(show(merged))
            return int(merged["exit_code"])
        document = load(args.path)
        if args.command == "show":
            print(show(document))
            return int(document["exit_code"])
        text = postmortem(document)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    except CliError as exc:
        print(f"deploycheck: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
