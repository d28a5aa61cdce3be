"""``deploycheck``: combine, read and follow up sign-offs outside pytest.

deploycheck merge [--label NAME=PATH]... [PATH]... [-o OUT]   the worst verdict wins
deploycheck show PATH                      a sign-off, readably
deploycheck postmortem PATH [-o OUT] [--force]   the runbook's postmortem, prefilled

merge and show exit with the sign-off's code (0 GO, 10 HOLD, 20 ROLLBACK), so that a pipeline
acts on it; postmortem exits 0, or 4 for a GO sign-off without --force; a file that is not a
sign-off exits 2.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_deploycheck.core.model import figure, reason_code
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import markdown_text as md
from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.report.decision import decision
from pytest_deploycheck.signoff.document import SCHEMA_ID, read, write
from pytest_deploycheck.signoff.engine import SIGNOFF_CODES, Verdict


class CliError(Exception):
    """A bad input: one line on stderr, exit 2."""


def load(path: str) -> dict[str, Any]:
    """A sign-off file, checked to be one."""
    try:
        return read(path)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def merge(documents: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One sign-off from several runners (CI shards, regions), each named by its label: the
    worst verdict wins, every check, gate and reason is kept and marked with its source, the
    reasons worst first; each source's target and version are kept in ``sources``."""
    worst = max((Verdict(d["verdict"]) for _, d in documents), key=lambda v: v.rank)
    names = list(dict.fromkeys(d["target"]["name"] for _, d in documents))
    versions = list(dict.fromkeys(d["target"]["version"] for _, d in documents))
    bases = list(dict.fromkeys(d["target"]["base_url"] for _, d in documents))
    reasons = [f"{r} (from {label})" for label, d in documents for r in d["reasons"]]
    return {
        "schema": SCHEMA_ID,
        "verdict": worst.value,
        "exit_code": worst.exit_code,
        "reasons": sorted(reasons, key=lambda r: -_level(r).rank),
        "advisories": [f"{a} (from {label})" for label, d in documents for a in d["advisories"]],
        "target": {
            "name": ", ".join(names),
            "base_url": bases[0] if len(bases) == 1 else None,
            "version": ", ".join(str(v) for v in versions) if any(versions) else None,
        },
        "sources": [
            {"label": label, "verdict": d["verdict"], "target": d["target"]}
            for label, d in documents
        ],
        "phases": sorted(
            {p for _, d in documents for p in d["phases"]}, key=lambda p: Phase(p).rank
        ),
        "started_at": min(d["started_at"] for _, d in documents),
        "finished_at": max(d["finished_at"] for _, d in documents),
        "checks": [
            {**c, "nodeid": f"{label}::{c['nodeid']}"}
            for label, d in documents
            for c in d["checks"]
        ],
        "gates": [
            {**g, "name": f"{label}: {g['name']}"} for label, d in documents for g in d["gates"]
        ],
    }


def _level(reason: str) -> Verdict:
    """The verdict a reason calls for (an override's: HOLD at least)."""
    return SIGNOFF_CODES.get(reason_code(reason) or "") or Verdict.HOLD


def show(document: dict[str, Any], path: str = "deploycheck-signoff.json") -> str:
    """A sign-off as text: the decision block, then every check that did not pass."""
    lines = decision(document, path)
    sources = [f"{s['label']} {s['verdict']}" for s in document.get("sources", [])]
    lines += [f"sources: {', '.join(sources)}"] if sources else []
    lines.append(f"{document['started_at']} to {document['finished_at']}")
    lines += [
        f"  {c['outcome'].upper():<7} {c['id']} ({c['severity']}): {c['message']}"
        for c in document["checks"]
        if c["outcome"] in ("failed", "error")
    ]
    return "\n".join(one_line(line) for line in lines)


def postmortem(document: dict[str, Any]) -> str:
    """The runbook's incident postmortem, prefilled from a sign-off (a ROLLBACK's, typically)."""
    started = datetime.fromisoformat(document["started_at"])
    finished = datetime.fromisoformat(document["finished_at"])
    minutes, seconds = divmod(int((finished - started).total_seconds()), 60)
    failed = [c for c in document["checks"] if c["outcome"] in ("failed", "error")]
    critical = any(c["severity"] == "critical" for c in failed)
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
            *_timeline(document, started, finished),
            "",
            "### What the sign-off found",
            *_found(document["reasons"]),
            "",
            "### Root Cause",
            "Candidates, from the checks that failed:",
            *causes,
            "",
            "### Impact",
            *_impact(document["gates"]),
            "- Users affected: [number]",
            "- Data loss: [Yes/No — to be confirmed by a person]",
            f"- Duration: {minutes} min {seconds} s of validation",
            "- Revenue impact: [if applicable]",
            *_TEMPLATE_END,
        ]
    )


def _timeline(document: dict[str, Any], started: datetime, finished: datetime) -> list[str]:
    phases = ", ".join(document["phases"])
    return [
        f"- {started:%H:%M} - Post-deployment validation started ({phases})",
        f"- {finished:%H:%M} - Sign-off: {document['verdict']}, {len(document['reasons'])}"
        " reasons (below)",
        "- HH:MM - Root cause identified",
        "- HH:MM - Mitigation started",
        "- HH:MM - Issue resolved",
    ]


def _found(reasons: list[str]) -> list[str]:
    """Every reason, by the level it calls for."""
    found: list[str] = []
    for level in (Verdict.ROLLBACK, Verdict.HOLD):
        mine = [r for r in reasons if _level(r) is level]
        if mine:
            found += ["", f"#### {_HEADINGS[level]}", *(f"- {md(r)}" for r in mine)]
    return found


def _impact(gates: list[dict[str, Any]]) -> list[str]:
    """The gates that did not pass, with their figures: what was measured of the impact."""
    impact = [
        f"- {md(g['name'])}: {figure(g.get('value'), g.get('unit', ''))}"
        f" (limit {figure(g.get('threshold'), g.get('unit', ''))}"
        + (f", {g['samples']} samples" if g.get("samples") else "")
        + f"): {g['status']}"
        for g in gates
        if g["status"] != "pass"
    ]
    return impact or ["- No measured gate failed"]


_TEMPLATE_END = [
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


_HEADINGS = {
    Verdict.ROLLBACK: "Rollback triggers",
    Verdict.HOLD: "Holds and checks that could not check",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploycheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    merging = commands.add_parser("merge", help="combine sign-offs; the worst verdict wins")
    merging.add_argument("paths", nargs="*", help="sign-offs, each labelled by its file name")
    merging.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a sign-off and the label its checks and reasons carry (a shard, a region)",
    )
    merging.add_argument("-o", "--output", default="deploycheck-signoff.json")
    showing = commands.add_parser(
        "show", help="print a sign-off readably; exits with its code (0 GO, 10 HOLD, 20 ROLLBACK)"
    )
    showing.add_argument("path")
    writing = commands.add_parser("postmortem", help="write the postmortem template, prefilled")
    writing.add_argument("path")
    writing.add_argument("-o", "--output", help="the Markdown file (default: print it)")
    writing.add_argument("--force", action="store_true", help="write one for a GO sign-off too")
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            sources = [_labelled(text) for text in args.label]
            sources += [(Path(p).stem, p) for p in args.paths]
            if not sources:
                raise CliError("merge needs sign-offs: PATH... or --label NAME=PATH")
            merged = merge([(label, load(path)) for label, path in sources])
            write(args.output, merged)
            print(show(merged))
            return int(merged["exit_code"])
        document = load(args.path)
        if args.command == "show":
            print(show(document, args.path))
            return int(document["exit_code"])
        if document["verdict"] == "GO" and not args.force:
            print(
                f"deploycheck: {args.path} is a GO: no incident to write up (--force writes one)",
                file=sys.stderr,
            )
            return 4
        text = postmortem(document)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    except CliError as exc:
        print(f"deploycheck: {exc}", file=sys.stderr)
        return 2


def _labelled(text: str) -> tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise CliError(f"--label {text!r}: write it as NAME=PATH")
    return label, path


if __name__ == "__main__":
    sys.exit(main())
