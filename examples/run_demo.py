"""The main job: start the demo target under a little user traffic, with a Prometheus server
scraping it when one is installed; run the pre_deploy phase (the database's snapshot), "deploy"
(the deploy-time faults, such as drop-column, happen here), then the immediate phase of every
prebuilt suite against the snapshot (the metrics suite only when Prometheus runs); print the
verdict and where the evidence is, stop everything, exit with the verdict's code.

    python -m examples.run_demo [--fault NAME[=VALUE]]... [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from examples.demo_app.faults import FAULTS
from examples.demo_app.launcher import REPO, DemoFailedToStart, RunningDemo, running_demo
from examples.demo_app.traffic import users
from examples.prometheus import NoPrometheus, running_prometheus, wait_for_points

EXAMPLES = REPO / "examples"
OUT = REPO / ".deploycheck"
DEMO_PASSWORD = "demo-password-1234"  # the demo's seed users' password; never a real one
UNMONITORED = "http://prometheus.invalid"  # the metrics suite's URL when it does not run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--fault", action="append", default=[], help="break the demo (see FAULT)")
    parser.add_argument("--phase", default="immediate")
    parser.add_argument("--out", type=Path, default=OUT, help="where the evidence goes")
    parser.add_argument("--window", help="watch for this long (e.g. 20s), re-running the checks")
    parser.add_argument("--interval", default="5s", help="between the rounds of a watch window")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest, after --")
    args = parser.parse_args(argv)
    faults = [spec for text in args.fault for spec in text.split(",") if spec.strip()]
    out = args.out.resolve()
    signoff, allure, artifacts = (
        out / "demo-signoff.json",
        out / "allure-results",
        out / "artifacts",
    )
    before = out / "pre-deploy-signoff.json"
    env = {**os.environ, "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", DEMO_PASSWORD)}
    step = Steps()
    try:
        step("starting the demo target (its own PostgreSQL), its users and Prometheus")
        with (
            running_demo(faults, env=env) as demo,
            users([demo.base_url]),
            monitoring(demo) as prometheus,
        ):
            env.update(
                DEMO_BASE_URL=demo.base_url,
                DEMO_DB_URL=demo.db_url,
                DEMO_PROMETHEUS_URL=prometheus or UNMONITORED,
            )
            signoff.unlink(missing_ok=True)
            step("phase pre_deploy: the database's snapshot")
            pytest = [sys.executable, "-m", "pytest"]
            snapshot = [*pytest, "-q", "--deploy-suites=db", "--deploy-phase=pre_deploy"]
            snapshot.append(f"--deploy-signoff={before}")
            subprocess.run(snapshot, cwd=EXAMPLES, env=env, check=False, stdout=subprocess.DEVNULL)
            _said("pre-deploy", before)
            step("the deploy")
            deploy(demo, faults)
            suites = "all" if prometheus else "health,login,db,rls"
            watched = f", watched for {args.window}" if args.window else ""
            step(f"phase {args.phase}: suites {suites}{watched}")
            command = [
                *pytest,
                f"--deploy-suites={suites}",
                f"--deploy-phase={args.phase}",
                f"--deploy-baseline={before}",
                f"--deploy-signoff={signoff}",
                f"--alluredir={allure}",
                "--clean-alluredir",
                f"--deploy-artifacts={artifacts}",
                *(
                    [
                        f"--deploy-window={args.window}",
                        f"--deploy-interval={args.interval}",
                        f"--deploy-state={out / 'state'}",
                    ]
                    if args.window
                    else []
                ),
                *args.pytest_args,
            ]
            code = subprocess.run(command, cwd=EXAMPLES, env=env, check=False).returncode
            step("stopping the demo target")
    except DemoFailedToStart as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if not signoff.exists():
        print(f"demo: pytest exited with {code} and wrote no sign-off", file=sys.stderr)
        return code or 2
    document = json.loads(signoff.read_text())
    print(
        f"demo: verdict {document['verdict']} (exit {code}), faults: {', '.join(faults) or 'none'}"
    )
    for reason in document["reasons"]:
        print(f"demo:   {reason}")
    print(f"demo: sign-off JSON   {_shown(signoff)}")
    print(f"demo: Allure results  {_shown(allure)}")
    allure_cli = REPO / ".allure" / "node_modules" / ".bin" / "allure"
    html = out / "allure-report"
    print(
        f"demo: Allure report   {_shown(allure_cli)} generate --config"
        f" {_shown(allure / 'allurerc.json')} {_shown(allure)} -o {_shown(html)}"
        f" && {_shown(allure_cli)} open {_shown(html)}   (make allure-cli installs it)"
    )
    print(f"demo: artifacts       {_shown(artifacts)}")
    chart = signoff.with_name(signoff.stem + "-window.png")
    if args.window and chart.exists():
        print(f"demo: window chart    {_shown(chart)}")
    return code


class Steps:
    """Each step of the job on a line as it starts, with the time since the job started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, what: str) -> None:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        print(f"demo [{minutes}:{seconds:02d}] {what}", flush=True)


def deploy(demo: RunningDemo, faults: list[str]) -> None:
    """The deploy itself: the demo is already running its version; what a deploy can break in
    the database happens here, between the snapshot and the checks after it."""
    for spec in faults:
        name, _, value = spec.partition("=")
        if name.strip() != "drop-column":
            continue
        table, column = (value or FAULTS["drop-column"][1] or "").rsplit(".", 1)
        with psycopg.connect(demo.admin_url, autocommit=True) as conn:
            statement = sql.SQL("ALTER TABLE {} DROP COLUMN {}")
            conn.execute(statement.format(sql.Identifier("public", table), sql.Identifier(column)))
        print(f"demo: deploy dropped column public.{table}.{column}", flush=True)


def _said(what: str, path: Path) -> None:
    """One line with a run's verdict, read from its sign-off."""
    verdict = json.loads(path.read_text())["verdict"] if path.exists() else "none (no sign-off)"
    print(f"demo: {what} verdict {verdict}, sign-off {_shown(path)}", flush=True)


@contextmanager
def monitoring(demo: RunningDemo) -> Iterator[str | None]:
    """A Prometheus server scraping the demo every second, once it has rates to answer with;
    None, said on the terminal, when none can be started here."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(
                running_prometheus({"demo": [urlsplit(demo.base_url).netloc]})
            )
            wait_for_points(url, "sum(rate(demo_http_requests_total[1m]))", series=1, points=1)
        except NoPrometheus as exc:
            print(f"demo: {exc}: running without the metrics suite", flush=True)
            stack.close()
            yield None
            return
        print(f"demo: Prometheus {url} scrapes the demo; the metrics suite runs", flush=True)
        yield url


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
