"""A fleet in one verdict: several targets per run, each within its own caps; globs; shards
that are stable, complete and merge into what one run says; the fleet's policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from pytest_deploycheck.cli import main
from pytest_deploycheck.core.fleet import Shard, is_fleet, select
from pytest_deploycheck.signoff.engine import Verdict
from pytest_deploycheck.signoff.fleet import FleetPolicy, judge
from tests.conftest import Deploy, LoopbackServer, Route, SignOffReader

QUICK = {"burst_requests": 40, "max_rps": 1000, "latency_samples": 2, "retry_backoff_s": 0.01}
NO_BROWSER = ("-p", "no:playwright")


def health_config(servers: dict[str, LoopbackServer], fleet: str = "", **health: Any) -> str:
    """A config of one target per server, each with the health suite's quick settings."""
    table = {**QUICK, **health}
    settings = "\n".join(f"{key} = {json.dumps(value)}" for key, value in table.items())
    targets = "".join(
        f'[targets.{name}]\nbase_url = "{srv.url}"\nversion = "1.0.0"\n'
        f"[targets.{name}.suites.health]\n{settings}\n"
        for name, srv in servers.items()
    )
    return targets + (f"[fleet]\n{fleet}\n" if fleet else "")


@pytest.fixture
def servers() -> Iterator[dict[str, LoopbackServer]]:
    made: dict[str, LoopbackServer] = {}

    def start(name: str) -> LoopbackServer:
        made[name] = LoopbackServer()
        made[name].health()
        return made[name]

    yield _Servers(start, made)
    for srv in made.values():
        srv.close()


class _Servers(dict[str, LoopbackServer]):
    def __init__(self, start: Any, made: dict[str, LoopbackServer]) -> None:
        super().__init__()
        self._start, self._made = start, made

    def __missing__(self, name: str) -> LoopbackServer:
        self[name] = self._start(name)
        return self[name]


def table(document: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(t["name"], t["verdict"], tuple(t["reasons"])) for t in document["targets"]]


# Pure logic: which targets, which share, which verdict.


def test_a_list_a_glob_or_all_selects_targets_from_the_config() -> None:
    names = ["tenant-a", "tenant-b", "eu", "us"]
    assert not is_fleet("eu")
    assert is_fleet("eu,us")
    assert is_fleet("tenant-*")
    assert is_fleet("all")
    assert select("us, eu", names) == ("eu", "us")
    assert select("tenant-*", names) == ("tenant-a", "tenant-b")
    assert select("all", names) == tuple(sorted(names))
    with pytest.raises(ValueError, match="'ap' is not a target; the config defines: eu, "):
        select("eu,ap", names)
    with pytest.raises(ValueError, match="'db-\\*' matches no target"):
        select("db-*", names)


def test_shards_are_stable_and_take_every_target_exactly_once() -> None:
    names = [f"tenant-{i:02d}" for i in range(23)]
    for count in (1, 2, 4, 7):
        shares = [Shard(k, count).share(names) for k in range(1, count + 1)]
        taken = [name for share in shares for name in share]
        assert sorted(taken) == sorted(names)  # complete, and each once
        assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced
        # the same split whatever order the names come in (a run's, the next run's)
        assert shares == [Shard(k, count).share(names[::-1]) for k in range(1, count + 1)]
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("0/4", "5/4", "x/4", "2"):
        with pytest.raises(ValueError, match="deploy-shard"):
            Shard.parse(bad)


def test_a_shard_from_a_kubernetes_indexed_job_or_a_gitlab_parallel_job() -> None:
    assert Shard.from_environment({"JOB_COMPLETION_INDEX": "0", "JOB_COMPLETIONS": "3"}) == Shard(
        1, 3
    )
    assert Shard.from_environment({"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}) == Shard(3, 3)
    assert Shard.from_environment({}) is None
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX"):
        Shard.from_environment({"JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "3"})
    # Kubernetes sets the index alone: without the count, every pod would check every target
    with pytest.raises(ValueError, match="JOB_COMPLETIONS is not"):
        Shard.from_environment({"JOB_COMPLETION_INDEX": "0"})


def test_the_fleet_policy_rolls_back_on_any_or_above_a_share() -> None:
    def fleet(*verdicts: str) -> list[dict[str, str]]:
        return [{"name": f"t{i:02d}", "verdict": v} for i, v in enumerate(verdicts)]

    twenty = fleet("ROLLBACK", "ROLLBACK", *["GO"] * 18)
    assert judge(twenty, FleetPolicy())[0] is Verdict.ROLLBACK
    verdict, reasons = judge(twenty, FleetPolicy.parse("more_than = 10%"))
    assert verdict is Verdict.HOLD  # 2 of 20 is not more than 10%: held, never GO
    assert reasons == [
        "[fleet-hold] 2 of 20 targets call for ROLLBACK: t00, t01; rollback_if = more_than ="
        " 10% rolls the fleet back only above 2: roll those targets back on their own"
    ]
    three = fleet("ROLLBACK", "ROLLBACK", "ROLLBACK", *["GO"] * 17)
    assert judge(three, FleetPolicy.parse("more_than = 10%"))[0] is Verdict.ROLLBACK
    assert judge(fleet("GO", "HOLD"), FleetPolicy())[1] == ["[fleet-hold] 1 of 2 targets hold: t01"]
    assert judge(fleet("GO", "GO"), FleetPolicy()) == (Verdict.GO, [])
    for bad in ("some", "more_than = 100%", "more_than 10%"):
        with pytest.raises(ValueError, match="rollback_if"):
            FleetPolicy.parse(bad)


# Real runs: each target's checks in its own process, against its own loopback server.


def test_targets_run_at_once_each_within_its_own_caps(
    deploy: Deploy,
    servers: dict[str, LoopbackServer],
    pytester: pytest.Pytester,
    read_signoff: SignOffReader,
) -> None:
    for name in ("eu", "us"):
        servers[name].health(delay_s=0.05)
    config = health_config(servers, "max_targets_in_flight = 2", concurrency=2, max_rps=20)
    args = ("--deploy-target=eu,us", "--deploy-suites=health", "--junitxml=junit.xml")
    run = deploy(*args, *NO_BROWSER, config=config)
    assert run.code == 0, run.result.stdout.str()
    assert [(t["name"], t["verdict"]) for t in run.signoff["targets"]] == [
        ("eu", "GO"),
        ("us", "GO"),
    ]
    spans = []
    for srv in servers.values():
        times = sorted(t for _, _, t in srv.requests)
        assert srv.peak <= 2  # its own concurrency cap, never the fleet's sum
        assert len(times) >= 40
        # its own rate cap: never more than 20 request starts in any second (+1 at the edge)
        assert max(sum(1 for u in times if t <= u < t + 1) for t in times) <= 21
        spans.append((times[0], times[-1]))
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end
    assert b_start < a_end
    output = run.result.stdout.str()
    assert "fleet of 2 targets, 2 at a time" in output
    assert "VERDICT: GO (exit 0) - fleet of 2 targets, version 1.0.0" in output
    # each target's sign-off and output are kept beside the fleet's
    kept = pytester.path / "deploycheck-signoff.targets"
    assert sorted(p.name for p in kept.iterdir()) == [
        f"{name}.{kind}" for name in ("eu", "us") for kind in ("json", "log", "xml")
    ]
    # and the targets' JUnit XML as one file, a test suite per target
    suites = ElementTree.parse(pytester.path / "junit.xml").getroot().findall("testsuite")
    assert [(s.get("name"), s.get("tests")) for s in suites] == [("eu", "9"), ("us", "9")]
    assert read_signoff(kept / "eu.json")["target"]["name"] == "eu"
    assert "VERDICT: GO" in (kept / "us.log").read_text()


def test_a_glob_selects_and_the_policy_decides(
    deploy: Deploy, servers: dict[str, LoopbackServer], pytester: pytest.Pytester
) -> None:
    servers["tenant-a"].health()
    servers["tenant-b"].health(version="0.9.0")  # not the release: a rollback cause
    servers["other"].health(status=503)
    args = ("--deploy-target=tenant-*", "--deploy-suites=health", *NO_BROWSER)
    run = deploy(*args, "--alluredir=allure", config=health_config(servers))
    assert [(t["name"], t["verdict"]) for t in run.signoff["targets"]] == [
        ("tenant-a", "GO"),
        ("tenant-b", "ROLLBACK"),
    ]
    assert not servers["other"].requests  # not selected: never asked
    assert (run.code, run.signoff["verdict"]) == (20, "ROLLBACK")
    assert run.signoff["reasons"][0] == (
        "[fleet-rollback] 1 of 2 targets call for ROLLBACK: tenant-b (rollback_if = any)"
    )
    assert any(r.endswith("(from tenant-b)") for r in run.signoff["reasons"][1:])
    output = run.result.stdout.str()
    block = output[output.index("VERDICT:") :]
    # the failing target first, then the counts, then the per-target table
    assert block.index("ROLLBACK tenant-b: ") < block.index("targets: 1 ROLLBACK, 1 GO")
    assert any(line.split()[:2] == ["tenant-b", "ROLLBACK"] for line in block.splitlines())

    # Allure: every target's results, each labelled with its target, and the fleet's verdict
    results = [
        json.loads(path.read_text()) for path in (pytester.path / "allure").glob("*-result.json")
    ]
    by_target = {
        label["value"]
        for result in results
        for label in result["labels"]
        if label["name"] == "target"
    }
    assert by_target == {"tenant-a", "tenant-b"}
    verdicts = [r for r in results if r["name"].startswith("Deployment sign-off")]
    assert len(verdicts) == 3  # each target's, and the fleet's
    properties = (pytester.path / "allure" / "environment.properties").read_text()
    assert "target=tenant-a, tenant-b\n" in properties
    assert "verdict=ROLLBACK\n" in properties
    assert not list(pytester.path.glob("deploycheck-signoff.targets/*.allure"))

    lenient = health_config(servers, 'rollback_if = "more_than = 50%"')
    run = deploy(*args, config=lenient)
    assert (run.code, run.signoff["verdict"]) == (10, "HOLD")
    assert run.signoff["fleet_policy"] == "more_than = 50%"
    assert run.signoff["reasons"][0].startswith("[fleet-hold] 1 of 2 targets call for ROLLBACK")


SESSION_EXIT = """
import os, sys

def pytest_sessionstart(session):
    if "--deploy-target=crashes" in sys.argv:
        os._exit(3)  # a run that dies before it writes a sign-off
"""


def test_shards_merged_say_what_one_run_says(
    deploy: Deploy,
    servers: dict[str, LoopbackServer],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    read_signoff: SignOffReader,
) -> None:
    for name in ("ap", "crashes", "eu", "us"):
        servers[name].health()
    servers["us"].health(status=503)
    servers["hook"].routes["/hook"] = Route(200, "{}")
    monkeypatch.setenv("HOOK_URL", servers["hook"].url.replace("http://", "json://") + "/hook")
    hook = servers.pop("hook")
    config = health_config(servers) + '[notify]\nurls = ["${HOOK_URL}"]\n'
    pytester.makeconftest(SESSION_EXIT)
    args = ("--deploy-target=all", "--deploy-suites=health", *NO_BROWSER)

    whole = deploy(*args, config=config).signoff
    assert [(t["name"], t["verdict"]) for t in whole["targets"]] == [
        ("ap", "GO"),
        ("crashes", "HOLD"),  # no sign-off: never a silent GO
        ("eu", "GO"),
        ("us", "ROLLBACK"),
    ]
    crashed = whole["targets"][1]["reasons"][0]
    assert crashed.startswith("[target-not-checked] the run of crashes exited 3 without a sign-off")
    # the fleet's process notified once, with the fleet's decision; no target's run did
    sent = [json.loads(body) for body in hook.bodies]
    assert len(sent) == 1
    assert sent[0]["title"] == "deploycheck: ROLLBACK - ap, crashes, eu, us"
    assert "ROLLBACK us: " in sent[0]["message"]
    assert "HOLD     crashes: " in sent[0]["message"]
    assert whole["notifications"] == [{"url": "json://***", "sent": True, "error": ""}]

    one, two, merged = (pytester.path / f"{name}.json" for name in ("one", "two", "merged"))
    pytester.runpytest(*args, "--deploy-shard=1/2", f"--deploy-signoff={one}")
    assert [t["name"] for t in read_signoff(one)["targets"]] == ["ap", "eu"]
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")  # the second pod of an Indexed Job
    monkeypatch.setenv("JOB_COMPLETIONS", "2")
    pytester.runpytest(*args, f"--deploy-signoff={two}")
    assert [t["name"] for t in read_signoff(two)["targets"]] == ["crashes", "us"]
    assert main(["merge", str(one), str(two), "-o", str(merged)]) == 20
    fleet = read_signoff(merged)
    for key in (
        "verdict",
        "exit_code",
        "reasons",
        "advisories",
        "target",
        "fleet_policy",
        "phases",
    ):
        assert fleet[key] == whole[key], key
    assert table(fleet) == table(whole)
    assert [(c["nodeid"], c["outcome"]) for c in fleet["checks"]] == [
        (c["nodeid"], c["outcome"]) for c in whole["checks"]
    ]
    assert [g["name"] for g in fleet["gates"]] == [g["name"] for g in whole["gates"]]
    assert len(hook.bodies) == 2  # and the shard that is not GO, its own part


def test_bad_fleet_input_is_one_line_and_a_usage_error(
    servers: dict[str, LoopbackServer], pytester: pytest.Pytester
) -> None:
    config = health_config({"eu": servers["eu"], "us": servers["us"]})
    for fleet, args, said in [
        ("", ("--deploy-target=eu,ap",), "'ap' is not a target; the config defines: eu, us"),
        ("", ("--deploy-target=db-*",), "'db-*' matches no target"),
        ("", ("--deploy-target=all", "--deploy-shard=3/3"), "shard 3/3 has no target: 2 selected"),
        ("", ("--deploy-target=all", "--deploy-shard=2"), "--deploy-shard '2' is not K/N"),
        ("", ("--deploy-target=all", "--base-url=http://x"), "--base-url names one target"),
        ('rollback_if = "some"', ("--deploy-target=all",), 'rollback_if must be "any" or'),
        ("max_targets_in_flight = 0", ("--deploy-target=all",), "must be 1 to 256"),
    ]:
        pytester.makefile(".toml", deploycheck=config + (f"[fleet]\n{fleet}\n" if fleet else ""))
        result = pytester.runpytest(*args, *NO_BROWSER)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, said
        assert said in result.stderr.str()
        assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not any(srv.requests for srv in servers.values())


def test_sigterm_stops_every_targets_run_and_the_fleet_still_signs_off(
    servers: dict[str, LoopbackServer], tmp_path: Path, read_signoff: SignOffReader
) -> None:
    servers["quick"].health()
    servers["stuck"].health(delay_s=8)  # answers long after the CI's stop signal
    (tmp_path / "deploycheck.toml").write_text(health_config(servers))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--deploy-target=all", "--deploy-suites=health"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_"))},
    )
    deadline = time.monotonic() + 30
    while not servers["stuck"].requests and time.monotonic() < deadline:
        time.sleep(0.05)  # the stuck target's run is waiting on its answer
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 10, out
    document = read_signoff(tmp_path / "deploycheck-signoff.json")
    verdicts = {t["name"]: t for t in document["targets"]}
    assert verdicts["stuck"]["verdict"] == "HOLD"
    assert verdicts["stuck"]["reasons"][0].startswith("[interrupted]")  # its own, partial
    assert "Traceback" not in out
