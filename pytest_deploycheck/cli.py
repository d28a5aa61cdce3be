"""``deploycheck``: combine, read and follow up sign-offs outside pytest.

deploycheck merge [--label NAME=PATH]... [PATH]... [-o OUT]   the worst verdict wins; the
                                           sign-offs of a fleet's shards: the fleet's
deploycheck show PATH                      a sign-off, readably
deploycheck postmortem PATH [-o OUT] [--force]   the runbook's postmortem, prefilled
deploycheck init --base-url URL [--db-url DSN] [--prometheus-url URL] [--target NAME]
                 [-o FILE | --stdout | --check]   a commented deploycheck.toml, from what the
                                                  target answers read-only

merge and show exit with the sign-off's code (0 GO, 10 HOLD, 20 ROLLBACK), so that a pipeline
acts on it; postmortem exits 0, or 4 for a GO sign-off without --force; a file that is not a
(complete) sign-off exits 2, with one line saying why. init exits 0, 2 when the target cannot
be reached or the file exists (it never overwrites one), and with --check 1 when the target
has drifted from the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pytest_deploycheck.core.model import figure
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import markdown_text as md
from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.db.catalogue import DATA_LOSS_CHECK
from pytest_deploycheck.report.decision import decision, reason_level
from pytest_deploycheck.signoff.document import SCHEMA_ID, read_whole, write
from pytest_deploycheck.signoff.engine import Verdict
from pytest_deploycheck.signoff.fleet import combine

_T = TypeVar("_T")


class CliError(Exception):
    """A bad input: one line on stderr, exit 2."""


class Refused(CliError):
    """A request the command declines (a postmortem of a GO): one line on stderr, exit 4."""


def load(path: str) -> dict[str, Any]:
    """A sign-off file, checked to be one."""
    try:
        return read_whole(path)
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
        "reasons": sorted(reasons, key=lambda r: -reason_level(r).rank),
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
            f"- Data loss: {_data_loss(document['checks'])}",
            f"- Duration: {minutes} min {seconds} s of validation",
            "- Revenue impact: [if applicable]",
            *_TEMPLATE_END,
        ]
    )


def _data_loss(checks: list[dict[str, Any]]) -> str:
    """What the sign-off knows of data loss: the data-loss check's result, when it ran."""
    found = [c for c in checks if c["id"] == DATA_LOSS_CHECK and c["outcome"] != "skipped"]
    if not found:
        return "[Yes/No — to be confirmed by a person; db.data_loss did not run]"
    failed = [c for c in found if c["outcome"] == "failed"]
    if failed:
        return f"Yes — {md(failed[0]['message'])}"
    if any(c["outcome"] == "error" for c in found):
        return "[Unknown — db.data_loss could not check; to be confirmed by a person]"
    return "No — db.data_loss found no rows or sequences lost since the pre-deploy snapshot"


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
        mine = [r for r in reasons if reason_level(r) is level]
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
    starting = commands.add_parser(
        "init", help="write a commented deploycheck.toml from what the target answers"
    )
    starting.add_argument("--base-url", required=True, help="the deployed app")
    starting.add_argument("--db-url", help="its database (read-only; a password is not kept)")
    starting.add_argument("--prometheus-url", help="the Prometheus server that scrapes it")
    starting.add_argument("--target", default="app", help="the target's name in the file")
    starting.add_argument("-o", "--output", default="deploycheck.toml")
    starting.add_argument(
        "--timeout-s", type=float, default=10.0, help="how long one answer may take (10)"
    )
    given = starting.add_mutually_exclusive_group()
    given.add_argument("--stdout", action="store_true", help="print it instead of writing it")
    given.add_argument(
        "--check", action="store_true", help="report where the target drifted from the file"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            return initialise(args)
        return _run(args)
    except CliError as exc:
        print(f"deploycheck: {exc}", file=sys.stderr)
        return 4 if isinstance(exc, Refused) else 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "merge":
        named = [_labelled(text) for text in args.label]
        if not named and not args.paths:
            raise CliError("merge needs sign-offs: PATH... or --label NAME=PATH")
        sources = ", ".join([path for _, path in named] + args.paths)
        documents = [(label, load(path)) for label, path in named]
        bare = [(path, load(path)) for path in args.paths]
        documents += _read(sources, _by_target, bare, len(named))
        fleets = sum("targets" in document for _, document in documents)
        if fleets and fleets < len(documents):
            raise CliError("merge takes fleet sign-offs (shards) or single-target ones, not both")
        merged = _read(sources, _fleet if fleets else merge, documents)
        text = _read(sources, show, merged, args.output)
        write(args.output, merged)
        _say(f"{text}\nmerged sign-off written to {args.output}")
        return int(merged["exit_code"])
    document = load(args.path)
    if args.command == "show":
        _say(_read(args.path, show, document, args.path))
        return int(document["exit_code"])
    if document["verdict"] == "GO" and not args.force:
        raise Refused(f"{args.path} is a GO: no incident to write up (--force writes one)")
    text = _read(args.path, postmortem, document)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        _say(text)
    return 0


def initialise(args: argparse.Namespace) -> int:
    """``deploycheck init``: discover, then write, print or check the configuration."""
    from pytest_deploycheck.config import ConfigError, HttpSettings, read_toml
    from pytest_deploycheck.discover import database, render, web

    output = Path(args.output)
    table: dict[str, Any] = {}
    if args.check:
        try:
            table = read_toml(output).get("targets", {}).get(args.target, {})
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        if not table:
            raise CliError(f"{output} has no target {args.target!r} to check")
    elif output.exists() and not args.stdout:
        raise CliError(f"{output} exists: --check compares it with the target, -o writes another")
    suites = table.get("suites", {})
    health, login = suites.get("health", {}), suites.get("login", {})
    if not 0 < args.timeout_s <= 600:
        raise CliError("--timeout-s must be above 0 and at most 600")
    http = HttpSettings(  # a page bigger than 1 MiB is no page discovery needs: cut off
        connect_timeout_s=min(5.0, args.timeout_s), read_timeout_s=args.timeout_s, max_body_mb=1
    )
    found = web.discover(
        args.base_url,
        http,
        health=health.get("paths", []),
        version=[health["version_url"]] if "version_url" in health else [],
        login=[login["login_url"]] if "login_url" in login else [],
    )
    if not found.reachable:
        reason = next((a.error for a in found.tried if a.error), "no answer")
        raise CliError(f"{args.base_url} answered nothing ({reason}): is the URL right?")
    db_url = args.db_url or table.get("db_url")
    db = database.discover(db_url, output.parent.resolve()) if db_url else None
    if args.check:
        drifted = render.drift(table, found, db)
        for line in drifted:
            _say(f"drift: {line}")
        _say(f"{output}: {len(drifted)} drifted" if drifted else f"{output}: no drift")
        return 1 if drifted else 0
    series = (
        web.prometheus_series(args.prometheus_url, found, http) if args.prometheus_url else None
    )
    written = render.render(args.target, found, db, args.db_url, series)
    if args.stdout:
        _say(written.text.rstrip("\n"))
        return 0
    output.write_text(written.text, encoding="utf-8")
    _say(f"wrote {output}: suites {', '.join(written.suites) or 'none'}")
    for name in written.env:
        _say(f"  set {name}")
    for text in written.missing:
        _say(f"  not found: {text}")
    _say(
        f"then: pytest --deploy-target={args.target} --deploy-suites={','.join(written.suites)}"
        " --deploy-version=VERSION"
    )
    return 0


def _fleet(documents: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The shards' sign-offs as one: the same one a single run of the fleet writes."""
    try:
        return combine([document for _, document in documents])
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _by_target(
    documents: list[tuple[str, dict[str, Any]]], first: int
) -> list[tuple[str, dict[str, Any]]]:
    """Sign-offs given by path, each labelled by its target, or by target and position among
    the sources where several have the same target (shards of one target, same file names)."""
    names = [d["target"].get("name") or Path(path).stem for path, d in documents]
    return [
        (name if names.count(name) == 1 else f"{name}#{first + i + 1}", document)
        for i, (name, (_, document)) in enumerate(zip(names, documents, strict=True))
    ]


def _read(path: str, use: Callable[..., _T], *args: Any) -> _T:
    """``use(*args)`` on a sign-off's content: a part missing or of the wrong kind deep inside
    it is a bad input (exit 2), not a traceback."""
    try:
        return use(*args)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CliError(f"{path} is not a complete sign-off ({detail})") from None


def _say(text: str) -> None:
    """Print to stdout; a reader that has gone (``| head``) ends the output quietly."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own advice


def _labelled(text: str) -> tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise CliError(f"--label {text!r}: write it as NAME=PATH")
    return label, path


if __name__ == "__main__":
    sys.exit(main())
