"""The deploycheck command: merge, show and postmortem, on sign-offs real runs wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.cli import main
from tests.conftest import SignOffReader


@pytest.fixture
def signoffs(pytester: pytest.Pytester) -> dict[str, Path]:
    """A GO sign-off and a ROLLBACK one, from real runs."""
    pytester.makepyfile(test_good="def test_ok(): pass\n")
    pytester.runpytest("test_good.py", "--deploy-target=eu", "--deploy-signoff=eu.json")
    pytester.makepyfile(
        test_bad="def test_login():\n    assert False, '[login-failed] no dashboard'\n"
    )
    pytester.runpytest("test_bad.py", "--deploy-target=us", "--deploy-signoff=us.json")
    return {"eu": pytester.path / "eu.json", "us": pytester.path / "us.json"}


def test_merge_keeps_the_worst_verdict_and_all_evidence(
    signoffs: dict[str, Path],
    tmp_path: Path,
    read_signoff: SignOffReader,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "merged.json"
    assert (
        main(["merge", str(signoffs["eu"]), f"--label=us={signoffs['us']}", "-o", str(out)]) == 20
    )
    merged = read_signoff(out)
    assert merged["verdict"] == "ROLLBACK"
    assert merged["target"]["name"] == "us, eu"  # labelled sources first
    assert sorted(c["nodeid"] for c in merged["checks"]) == [
        "eu::test_good.py::test_ok",
        "us::test_bad.py::test_login",
    ]
    assert [(s["label"], s["verdict"], s["target"]["name"]) for s in merged["sources"]] == [
        ("us", "ROLLBACK", "us"),
        ("eu", "GO", "eu"),
    ]
    assert merged["reasons"] == [
        "[critical-failure] bad.login: [login-failed] no dashboard (from us)"
    ]
    assert capsys.readouterr().out.startswith("VERDICT: ROLLBACK (exit 20) - target us, eu")


def test_show(signoffs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(signoffs["us"])]) == 20
    text = capsys.readouterr().out
    assert text.startswith("VERDICT: ROLLBACK (exit 20) - target us\nnext: roll back now")
    assert "  ROLLBACK bad.login: [login-failed] no dashboard\n" in text
    assert "  FAILED  bad.login (critical): [login-failed] no dashboard" in text


def test_postmortem_from_a_rollback(signoffs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "postmortem.md"
    assert main(["postmortem", str(signoffs["us"]), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("## Incident Postmortem\n\n**Date:** ")
    assert "**Severity:** Critical" in text
    assert "- `bad.login` (critical): [login-failed] no dashboard" in text
    assert "- Data loss: [Yes/No — to be confirmed by a person; db.data_loss did not run]" in text
    assert (
        "#### Rollback triggers\n- [critical-failure] bad.login: [login-failed] no dashboard"
        in text
    )
    assert "- No measured gate failed" in text
    for heading in (
        "### Timeline",
        "### Root Cause",
        "### Impact",
        "### Resolution",
        "### Action Items",
        "### Prevention",
    ):
        assert heading in text


@pytest.mark.parametrize("content", ["not json", json.dumps({"verdict": "GO"})])
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any
) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploycheck: ")
    assert err.count("\n") == 1


def test_postmortem_of_a_go_is_refused_unless_forced(
    signoffs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "postmortem.md"
    assert main(["postmortem", str(signoffs["eu"]), "-o", str(out)]) == 4
    assert capsys.readouterr().err == (
        f"deploycheck: {signoffs['eu']} is a GO: no incident to write up (--force writes one)\n"
    )
    assert not out.exists()
    assert main(["postmortem", str(signoffs["eu"]), "-o", str(out), "--force"]) == 0


def test_postmortem_keeps_every_reason_and_the_measured_impact(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    checks = "".join(
        f"def test_{n}():\n    assert False, '[broken-{n}] failure number {n}'\n" for n in range(8)
    )
    gate = (
        "def test_rate(deploy_record):\n"
        "    gate = deploy_record.error_rate('error_rate', 30, 100)\n"
        "    assert gate.status == 'pass', '[error-rate] too many'\n"
    )
    pytester.makepyfile(test_many=checks + gate)
    pytester.runpytest("test_many.py", "--deploy-target=t")
    out = tmp_path / "postmortem.md"
    assert (
        main(["postmortem", str(pytester.path / "deploycheck-signoff.json"), "-o", str(out)]) == 0
    )
    text = out.read_text()
    assert all(f"failure number {n}" in text for n in range(8))  # none dropped after the fifth
    assert "- error_rate: 30.00% (limit 10.00%, 100 samples): rollback" in text


def test_merge_needs_something_to_merge(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["merge"]) == 2
    assert main(["merge", "--label", "nolabel"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "deploycheck: --label 'nolabel': write it as NAME=PATH"
    )


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda d: d.pop("checks"), "is an incomplete sign-off: no checks"),
        (lambda d: d["checks"][0].pop("outcome"), "is not a complete sign-off (no 'outcome')"),
    ],
    ids=["a key the schema requires", "a part of a check"],
)
def test_a_partial_signoff_is_one_line_and_exit_2(
    signoffs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Any,
    said: str,
) -> None:
    document = json.loads(signoffs["us"].read_text())
    damage(document)
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(document))
    for command in (["show"], ["postmortem"], ["merge", "-o", str(tmp_path / "m.json")]):
        assert main([*command, str(path)]) == 2
        assert capsys.readouterr().err == f"deploycheck: {path} {said}\n"


def test_show_into_a_closed_pipe_ends_quietly(signoffs: dict[str, Path], tmp_path: Path) -> None:
    document = json.loads(signoffs["us"].read_text())
    document["checks"] *= 3000  # more than a pipe holds: the writer meets the closed end
    path = tmp_path / "long.json"
    path.write_text(json.dumps(document))
    command = f"{sys.executable} -m pytest_deploycheck.cli show {path} | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "VERDICT: ROLLBACK (exit 20) - target us\n"
    assert done.stderr == ""  # no BrokenPipeError traceback
    assert done.returncode == 20  # the sign-off's code, not a crash's


def test_merge_says_where_it_wrote_and_labels_shards_by_target_or_position(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_good="def test_ok(): pass\n")
    for shard, target in (("a", "eu"), ("b", "eu"), ("c", "us")):  # same file name in each
        signoff = f"--deploy-signoff={shard}/deploycheck-signoff.json"
        pytester.runpytest("test_good.py", f"--deploy-target={target}", signoff)
    shards = [str(pytester.path / s / "deploycheck-signoff.json") for s in "abc"]
    out = pytester.path / "cli" / "merged.json"
    capsys.readouterr()
    assert main(["merge", *shards, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.endswith(f"merged sign-off written to {out}\n")
    assert "deploycheck-signoff.json" not in printed  # it names the file it wrote
    merged = json.loads(out.read_text())
    assert [s["label"] for s in merged["sources"]] == ["eu#1", "eu#2", "us"]


def test_the_postmortem_says_what_the_data_loss_check_found(
    signoffs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(signoffs["us"].read_text())
    check = {**document["checks"][0], "id": "db.data_loss", "suite": "db"}
    cases = [
        ("failed", "[data-loss] public.orders lost 12 rows", "- Data loss: Yes — [data-loss]"),
        ("passed", "", "- Data loss: No — db.data_loss found no rows or sequences lost"),
        ("error", "[db-timeout] x", "- Data loss: [Unknown — db.data_loss could not check"),
    ]
    for outcome, message, said in cases:
        document["checks"] = [{**check, "outcome": outcome, "message": message}]
        path = tmp_path / f"{outcome}.json"
        path.write_text(json.dumps(document))
        assert main(["postmortem", str(path)]) == 0
        assert said in capsys.readouterr().out
    assert main(["postmortem", str(signoffs["us"])]) == 0  # the db suite did not run
    assert "- Data loss: [Yes/No — to be confirmed by a person;" in capsys.readouterr().out
