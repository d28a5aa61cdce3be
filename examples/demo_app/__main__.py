"""Start the demo target: ``python -m examples.demo_app [--fault NAME[=VALUE]] ...``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from pathlib import Path

from examples.demo_app.database import open_database
from examples.demo_app.faults import FAULTS, FaultError, Faults

DEFAULT_VERSION = "1.5.0"
DEFAULT_PASSWORD = "demo-password-1234"


def parse_args(argv: list[str]) -> argparse.Namespace:
    faults = "\n".join(
        f"  {name}{'=VALUE' if spec[0] else ''}: {spec[2]}" for name, spec in FAULTS.items()
    )
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo_app",
        description="A demo deployment target with an embedded PostgreSQL.",
        epilog=f"faults (also DEMO_FAULTS, comma-separated):\n{faults}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DEMO_DATABASE_URL"),
        help="PostgreSQL server (superuser URL) to create the demo database on; default: embedded",
    )
    parser.add_argument("--version", default=os.environ.get("DEMO_VERSION", DEFAULT_VERSION))
    parser.add_argument("--fault", action="append", default=[os.environ.get("DEMO_FAULTS", "")])
    parser.add_argument(
        "--ready-file", type=Path, help="write base_url and database URLs here as JSON"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        faults = Faults.parse(args.fault)
    except FaultError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from examples.demo_app.app import DemoState, create_app

    # uvicorn shuts down gracefully on SIGTERM and then re-raises it; without a handler of our
    # own that would kill the process before the database is removed.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    password = os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD)
    database = open_database(args.database_url, password, faults)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        base_url = f"http://{args.host}:{sock.getsockname()[1]}"

        def ready() -> None:
            if args.ready_file:
                info = {
                    "base_url": base_url,
                    "db_url": database.checker_url,
                    "admin_url": database.admin_url,
                    "version": args.version,
                    "pid": os.getpid(),
                }
                tmp = args.ready_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(info))
                tmp.replace(args.ready_file)
            print(
                f"demo: listening on {base_url} (version {args.version}, database {database.name},"
                f" faults: {faults.describe()})",
                flush=True,
            )

        state = DemoState(args.version, faults, database.app_url, on_ready=ready)
        config = uvicorn.Config(
            create_app(state), log_level="warning", access_log=False, lifespan="on"
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        database.close()
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
