"""Everything that touches Allure; allure is imported only when ``--alluredir`` is given."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.core.catalogue import Category, Code
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import one_line
from pytest_deploycheck.report.ci import ci_of
from pytest_deploycheck.report.decision import decision, levels

_TYPES = {
    "text/plain": "TEXT",
    "application/json": "JSON",
    "text/csv": "CSV",
    "text/markdown": "TEXT",
    "text/html": "HTML",
}


def enabled(config: pytest.Config) -> bool:
    """Whether this run writes Allure results."""
    return bool(getattr(config.option, "allure_report_dir", None))


def attach(config: pytest.Config, name: str, text: str, content_type: str = "text/plain") -> None:
    """Attach evidence to the running test's current step, when Allure is on."""
    if not enabled(config):
        return
    import allure

    kind = getattr(allure.attachment_type, _TYPES.get(content_type, "TEXT"))
    allure.attach(text, name=name, attachment_type=kind)


def attach_file(config: pytest.Config, path: Path, content_type: str) -> None:
    """Attach a file (a screenshot, a Playwright trace), when Allure is on."""
    if not enabled(config):
        return
    import allure

    kinds = {"image/png": "PNG", "application/zip": "ZIP"}
    kind = getattr(allure.attachment_type, kinds.get(content_type, "TEXT"))
    allure.attach.file(str(path), name=path.name, attachment_type=kind)  # type: ignore[no-untyped-call]


_STATUS = {"GO": "passed", "HOLD": "broken", "ROLLBACK": "failed"}


def write_signoff_result(
    config: pytest.Config, document: dict[str, Any], files: list[tuple[Path, str]]
) -> Path | None:
    """The verdict as one more Allure result, written by the process that decides it, with
    the decision block (as the terminal shows it) for description and ``files`` (path, MIME
    type) attached."""
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory:
        return None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    uid = str(uuid.uuid4())
    attachments = []
    for path, mime in files:
        if path.exists():
            source = f"{uuid.uuid4()}-attachment{path.suffix}"
            shutil.copyfile(path, out / source)
            attachments.append({"name": path.name, "source": source, "type": mime})
    verdict = document["verdict"]
    target = document["target"]
    signoff = next((path.name for path, _ in files if path.suffix == ".json"), "the sign-off")
    block = "\n".join(decision(document, signoff))
    started = int(datetime.fromisoformat(document["started_at"]).timestamp() * 1000)
    result = {
        "uuid": uid,
        "name": f"Deployment sign-off: {verdict}",
        "fullName": "deploycheck.signoff",
        "historyId": hashlib.md5(f"signoff {target['name']}".encode()).hexdigest(),
        "status": _STATUS[verdict],
        "statusDetails": {
            "message": document["reasons"][0] if document["reasons"] else verdict,
            **({"trace": level_trace(verdict)} if verdict in LEVEL_CATEGORIES else {}),
        },
        "descriptionHtml": f"<pre>{escape(block)}</pre>",  # the terminal's decision block
        "attachments": attachments,
        "labels": [
            {"name": "suite", "value": "Deployment sign-off"},
            {"name": "severity", "value": "blocker"},
            {"name": "story", "value": "deploycheck.signoff"},
            {"name": "tag", "value": verdict},
            {"name": LEVEL_LABEL, "value": verdict},
        ],
        "titlePath": ["Deployment sign-off"],
        "start": started - 1,  # first, in a report ordered by time
        "stop": int(time.time() * 1000),
    }
    path = out / f"{uid}-result.json"
    path.write_text(json.dumps(result))
    return path


_SEVERITY = {"critical": "critical", "major": "normal", "minor": "minor"}


def label(
    identity: Mapping[str, str],
    nodeid: str,
    target: str,
    version: str | None,
    round: int | None = None,
) -> None:
    """Title the running test's result with its check id (the pytest node id is a label) and
    label it so QA reads the deployment by target, phase and suite; in a watch window each
    round is a result of its own (a parameter), not a retry."""
    import allure

    phase, severity = identity["phase"], identity["severity"]
    dynamic: Any = allure.dynamic  # allure-python is untyped
    dynamic.title(identity["id"])
    dynamic.label(NODEID_LABEL, nodeid)
    dynamic.parent_suite(target)
    dynamic.suite(f"{Phase(phase).rank}. {phase}")
    dynamic.sub_suite(identity["suite"])
    dynamic.epic(target)
    dynamic.feature(phase)
    dynamic.story(identity["id"])
    dynamic.severity(getattr(allure.severity_level, _SEVERITY[severity].upper()))
    dynamic.tag(phase, "advisory" if severity == "minor" else "gating")
    dynamic.label("target", target)
    dynamic.parameter("target", target)
    if version:
        dynamic.label("version", version)
        dynamic.parameter("version", version, excluded=True)
    if round is not None:
        dynamic.parameter("window round", round + 1)


def why_it_failed(
    identity: Mapping[str, str],
    message: str,
    could_not_check: bool,
    runbook: str = "",
    level: str | None = None,
) -> str:
    """What the failure means for the deployment and what the runbook says to do, as HTML:
    worded by the level the failure actually calls for (a gate's, when the check measured
    one; else its severity's), with the catalogue's remedy for the check when it has one."""
    if could_not_check:
        meaning, remedy = "could not check (HOLD)", _REMEDIES["error"]
    else:
        level = level or identity["severity"]
        meaning = _MEANING[level]
        remedy = runbook if runbook and level == "critical" else _REMEDIES[level]
        if runbook and level != "critical":
            remedy = f"{_REMEDIES[level]} The runbook: {runbook}"
    return (
        f"<h3>{escape(identity['id'])} ({escape(identity['severity'])},"
        f" {escape(identity['phase'])})</h3>\n<p>{escape(one_line(message))}</p>\n"
        f"<p><b>Means:</b> {escape(meaning)}</p>\n<p><b>Runbook:</b> {escape(remedy)}</p>\n"
    )


_MEANING = {
    "critical": "a rollback trigger (ROLLBACK)",
    "major": "the deployment is held for a person to decide (HOLD)",
    "minor": "advisory; it does not block the deployment",
}
_REMEDIES = {
    "critical": "roll back now (Rollback Procedures: the rollback workflow, or promote the "
    "previous deployment), then check the logs, find the root cause and start the incident "
    "postmortem (`deploycheck postmortem SIGNOFF`).",
    "major": "check the logs and the metrics before deciding; roll back if the cause is the "
    "deployment.",
    "minor": "plan a fix; nothing to do for this deployment.",
    "error": "the check could not reach the target or finish: verify connectivity, credentials "
    "and the environment variables (Troubleshooting: smoke tests failing), then run it again.",
}


def categories(codes: Iterable[Code]) -> list[dict[str, Any]]:
    """Allure's categories: every failure the sign-off found calls for a rollback in "Rollback
    triggers", every one that holds in "Holds" (by the level line its trace ends with, the
    verdict's own result too); then one category per kind of check failure, by the reason
    code its message starts with (a result is in the first category it matches: these hold
    the failures that do not gate, advisories); then whatever else broke (an error of the
    checker itself)."""
    by_kind: dict[str, list[str]] = {category.value: [] for category in Category}
    for code in codes:
        by_kind[code.category.value].append(code.name)
    statuses = ["failed", "broken"]
    levels = [
        {"name": name, "matchedStatuses": statuses, "traceRegex": _level_regex(level)}
        for level, name in LEVEL_CATEGORIES.items()
    ]
    kinds = [
        {"name": name, "matchedStatuses": statuses, "messageRegex": message_regex(names)}
        for name, names in by_kind.items()
        if names
    ]
    return [*levels, *kinds, {"name": "Checker errors", "matchedStatuses": ["broken"]}]


LEVEL_CATEGORIES = {"ROLLBACK": "Rollback triggers", "HOLD": "Holds"}


def level_trace(level: str) -> str:
    """The line a failed result's trace ends with: the level the sign-off found it calls for."""
    return f"deploycheck: this calls for {level}"


def _level_regex(level: str) -> str:
    """A trace holding ``level_trace(level)``: whole-string in Java, a search in JavaScript."""
    return r"[\s\S]*" + re.escape(level_trace(level)) + r"[\s\S]*"


def message_regex(codes: Iterable[str]) -> str:
    """A message that starts with one of ``codes`` in brackets, after the exception's name
    that allure-pytest puts first (``Failed: ``, ``...CouldNotCheck: ``); the same in Java
    (Allure 2) and JavaScript (Allure 3): no flags, ``[\\s\\S]`` for any character."""
    names = "|".join(re.escape(code) for code in codes)
    return r"^(?:[\w.]+: )?\[(" + names + r")\][\s\S]*"


def write_run_files(
    config: pytest.Config,
    document: dict[str, Any],
    environ: Mapping[str, str],
    codes: Iterable[Code],
) -> None:
    """``environment.properties``, ``executor.json``, Allure 2's ``categories.json`` and Allure
    3's ``allurerc.json``: written once, by the process that decides the verdict."""
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory:
        return
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ci = ci_of(environ)
    name, kind, build_url, build, commit = ci.name, ci.kind, ci.run_url, ci.build, ci.commit
    target = document["target"]
    properties = {
        "target": target["name"],
        "base_url": target.get("base_url") or "",
        "version": target.get("version") or "",
        "phases": ",".join(document["phases"]),
        "commit": commit or "",
        "build": build or "",
        "verdict": document["verdict"],
    }
    (out / "environment.properties").write_text(
        "".join(f"{key}={_escape(value)}\n" for key, value in properties.items())
    )
    executor = {
        "name": name,
        "type": kind,
        "buildName": f"{target['name']} {build or ''}".strip(),
        "buildUrl": build_url,
        "reportName": f"Deployment sign-off: {document['verdict']} - {target['name']}",
    }
    (out / "executor.json").write_text(json.dumps({k: v for k, v in executor.items() if v}))
    rules = categories(codes)
    (out / "categories.json").write_text(json.dumps(rules, indent=2))  # Allure 2
    report_name = str(executor["reportName"])
    (out / ALLURE3_CONFIG).write_text(json.dumps(allure3_config(report_name, rules), indent=2))


ALLURE3_CONFIG = "allurerc.json"  # allure generate --config RESULTS/allurerc.json RESULTS
HISTORY = "deploycheck-allure-history.jsonl"  # in the directory the report is generated from


LEVEL_LABEL = "level"  # ROLLBACK or HOLD: what a failed check's result calls for
NODEID_LABEL = "nodeid"  # the pytest node id of a check's result, whose title is its check id


def complete_results(config: pytest.Config, document: Mapping[str, Any]) -> None:
    """What only the end of the run knows, added to the checks' results: the level the
    sign-off found each failure calls for, so that QA sees the rollback triggers within each
    category; and each check's whole duration — its probes run in fixtures, which Allure
    would not count — as the sign-off measured it."""
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory or not Path(directory).is_dir():
        return
    out = Path(directory)
    found = levels(document)
    took = {c["id"]: c["duration_s"] for c in document["checks"]}
    for path in out.glob("*-result.json"):
        result = json.loads(path.read_text())
        labels = result.get("labels", [])
        story = next((label["value"] for label in labels if label["name"] == "story"), None)
        if story is None:
            continue
        if result.get("status") in ("failed", "broken") and story in found:
            level = found[story]
            labels.append({"name": LEVEL_LABEL, "value": level})
            if level in LEVEL_CATEGORIES:
                details = result.setdefault("statusDetails", {})
                trace = details.get("trace", "")
                details["trace"] = f"{trace}\n{level_trace(level)}" if trace else level_trace(level)
        whole = int(took.get(story, 0.0) * 1000)
        if "stop" in result and whole > result["stop"] - result.get("start", result["stop"]):
            result["start"] = result["stop"] - whole
        path.write_text(json.dumps(result))


def allure3_config(report_name: str, rules: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Allure 3's configuration for the results: the report named with the verdict, the tree
    grouped target → phase → suite, the categories in Allure 3's own format (the same rules as
    Allure 2's ``categories.json``, each grouped by level), and the history kept between runs."""
    levels = set(LEVEL_CATEGORIES.values())  # grouped by check id; the others by level
    return {
        "name": report_name,
        "historyPath": HISTORY,
        "categories": {
            "rules": [
                {
                    "name": rule["name"],
                    "matchers": {
                        "statuses": rule["matchedStatuses"],
                        **({"message": rule["messageRegex"]} if "messageRegex" in rule else {}),
                        **({"trace": rule["traceRegex"]} if "traceRegex" in rule else {}),
                    },
                    "groupBy": [{"label": "story" if rule["name"] in levels else LEVEL_LABEL}],
                }
                for rule in rules
            ]
        },
        "plugins": {
            "awesome": {
                "options": {
                    "reportName": report_name,
                    "groupBy": ["parentSuite", "suite", "subSuite"],
                    "charts": CHARTS,
                }
            }
        },
    }


# Allure 3's charts: its own, but the status ring counts the failures (a ROLLBACK is not a
# mostly green ring) and the pass-rate charts are left out.
CHARTS = [
    {"type": "currentStatus", "title": "Failed checks", "metric": "failed"},
    {"type": "statusDynamics", "title": "Status dynamics"},
    {"type": "testResultSeverities", "title": "Checks by severity"},
    {"type": "statusTransitions", "title": "Status transitions"},
]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")
