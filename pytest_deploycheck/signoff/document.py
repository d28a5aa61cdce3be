"""The sign-off document (schema version 1) and its atomic, redacted JSON file."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_deploycheck.core.model import CheckResult, Gate
from pytest_deploycheck.core.phases import Phase
from pytest_deploycheck.core.redact import Redactor
from pytest_deploycheck.signoff.engine import Decision, Verdict

SCHEMA_ID = "https://pytest-deploycheck.dev/schema/signoff-v1.json"
SCHEMA_PATH = Path(__file__).parent.parent / "signoff.schema.json"


@dataclass(frozen=True)
class SignOff:
    """One run's verdict with the evidence behind it."""

    decision: Decision
    target_name: str
    base_url: str | None
    version: str | None
    phases: Sequence[Phase]
    started_at: datetime
    finished_at: datetime
    checks: Sequence[CheckResult]
    gates: Sequence[Gate]
    window: dict[str, Any] | None = None  # a watch window's start, end, rounds, samples file

    def to_dict(self, redact: Redactor) -> dict[str, Any]:
        """The JSON document, every string passed through ``redact``."""
        document = {
            "schema": SCHEMA_ID,
            "verdict": self.decision.verdict.value,
            "exit_code": self.decision.verdict.exit_code,
            "reasons": [reason.text for reason in self.decision.reasons],
            "advisories": list(self.decision.advisories),
            "target": {
                "name": self.target_name,
                "base_url": self.base_url,
                "version": self.version,
            },
            "phases": [phase.value for phase in self.phases],
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "checks": [_check(c, self.decision.levels.get(c.nodeid)) for c in self.checks],
            "gates": [asdict(gate) for gate in self.gates],
        }
        if self.window is not None:
            document["window"] = self.window
        redacted: dict[str, Any] = redact.deep(document)
        return redacted


def _check(check: CheckResult, level: Verdict | None) -> dict[str, Any]:
    return {
        "id": check.id,
        "nodeid": check.nodeid,
        "suite": check.suite,
        "phase": check.phase.value,
        "outcome": check.outcome.value,
        "severity": check.severity.value,
        "duration_s": check.duration_s,
        "message": check.message,
        "findings": [asdict(finding) for finding in check.findings],
        "evidence": [asdict(item) for item in check.evidence],
        "flaky": check.flaky,
        "severity_source": check.severity_source,
        **({"data": dict(check.data)} if check.data else {}),
        **({"level": level.value} if level else {}),
    }


def read(path: str | Path) -> dict[str, Any]:
    """A sign-off file; ValueError when it cannot be read or is not one."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_ID:
        raise ValueError(f"{path} is not a pytest-deploycheck sign-off")
    return document


def read_whole(path: str | Path) -> dict[str, Any]:
    """A sign-off file with every key the schema requires (what is shown or merged whole);
    ValueError naming the missing ones."""
    document = read(path)
    missing = [key for key in _required() if key not in document]
    if missing:
        raise ValueError(f"{path} is an incomplete sign-off: no {', '.join(missing)}")
    return document


@functools.cache
def _required() -> tuple[str, ...]:
    """The keys the schema requires of a sign-off."""
    return tuple(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["required"])


def digest(document: Mapping[str, Any]) -> str:
    """The SHA-256 of a sign-off's content, all of it but its digest: ``sha256:<hex>``. It
    shows an edit, not who made it: whoever may write the file may compute it again."""
    content = {key: value for key, value in document.items() if key != "digest"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Baseline:
    """What an earlier sign-off measured: its gates' figures by name, each check's data by
    check id, and the version and base URL it checked."""

    figures: Mapping[str, float] = field(default_factory=dict)
    data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    version: str | None = None
    base_url: str | None = None

    @classmethod
    def read(cls, path: str | Path, target: str, trust: bool = False, go: bool = True) -> Baseline:
        """The baseline in a sign-off file of ``target``: a GO (unless not ``go``) whose content
        matches its digest (unless ``trust``); ValueError saying why a file is none."""
        try:
            document = read(path)
        except ValueError as exc:
            raise ValueError(f"baseline: {exc}") from None
        problem = _not_a_baseline(document, target, trust, go)
        if problem:
            raise ValueError(f"baseline {path}: {problem}")
        figures = {
            gate["name"]: float(gate["value"])
            for gate in document.get("gates", [])
            if isinstance(gate.get("value"), int | float)
        }
        checks = document.get("checks", [])
        data = {check["id"]: check["data"] for check in checks if check.get("data")}
        checked = document.get("target", {})
        return cls(figures, data, checked.get("version"), checked.get("base_url"))


def _not_a_baseline(document: Mapping[str, Any], target: str, trust: bool, go: bool) -> str:
    """Why a sign-off may not serve as ``target``'s baseline; empty when it may."""
    checked = document.get("target", {}).get("name")
    if checked != target:
        return f"it is a sign-off of target {checked!r}, not of {target!r}"
    if go and document.get("verdict") != "GO":
        return f"its verdict is {document.get('verdict')}: only a GO sign-off is a baseline"
    if trust:
        return ""
    if "digest" not in document:
        return "it carries no digest: pass --deploy-baseline-trust to accept it as it is"
    if digest(document) != document["digest"]:
        return (
            "its content does not match its digest (it was edited): pass"
            " --deploy-baseline-trust to accept it as it is"
        )
    return ""


def write(path: str | Path, document: dict[str, Any]) -> Path:
    """Write ``document``, sealed with its digest, so that readers see the old file or the new
    one, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({**document, "digest": digest(document)}, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
