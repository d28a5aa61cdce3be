"""The runbook's "data backup confirmed", before the deploy: when the latest backup finished,
read from where the team keeps that fact — a query, a command, an HTTP JSON endpoint — or,
without one, from PostgreSQL's WAL archiver; then judged against a maximum age."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_deploycheck.core.model import NOT_CONFIGURED_CODE
from pytest_deploycheck.core.result import Result
from pytest_deploycheck.net.http import ExchangeStopped, make_client
from pytest_deploycheck.net.postgres import fetch

if TYPE_CHECKING:
    from pytest_deploycheck.config import HttpSettings
    from pytest_deploycheck.db.settings import DbSuiteSettings
    from pytest_deploycheck.net.postgres import Connection

STALE_CODE = "backup-stale"
UNKNOWN_CODE = "backup-unknown"
ARCHIVER = """SELECT current_setting('archive_mode') AS mode, last_archived_time,
  last_failed_time FROM pg_stat_archiver"""


class NoAnswer(Exception):
    """The backup source gave no time of a finished backup."""


def latest(conn: Connection, settings: DbSuiteSettings, http: HttpSettings) -> tuple[float, str]:
    """When the latest backup finished (Unix seconds) and where that was read; NoAnswer when
    the configured source does not say, LookupError when nothing is configured."""
    if settings.backup_query:
        rows = fetch(conn, settings.backup_query)
        value = next(iter(rows[0].values()), None) if rows else None
        return _when(value, "backup_query"), "backup_query"
    if settings.backup_command:
        return _when(_command(settings), "backup_command"), "backup_command"
    if settings.backup_url:
        return _when(_url(settings, http), "backup_url"), "backup_url"
    row = fetch(conn, ARCHIVER)[0]
    if row["mode"] in ("on", "always") and row["last_archived_time"] is not None:
        return row["last_archived_time"].timestamp(), "the WAL archive (pg_stat_archiver)"
    raise LookupError(
        "no backup source (backup_query, backup_command or backup_url) and no WAL archive"
    )


def judged(
    conn: Connection, settings: DbSuiteSettings, http: HttpSettings, production: bool
) -> Result:
    """The backup check's conclusion."""
    result = Result()
    if not settings.confirm_backups:
        result.skip = "backups are confirmed elsewhere (suites.db.confirm_backups = false)"
        return result
    try:
        finished, source = latest(conn, settings, http)
    except NoAnswer as exc:
        result.undecided = (UNKNOWN_CODE, str(exc))
        return result
    except LookupError as exc:
        why = (
            f"{exc}: set one in suites.db to confirm backups before deploying, or"
            " confirm_backups = false where they are confirmed elsewhere"
        )
        result.skip = f"[{NOT_CONFIGURED_CODE}] {why}" if production else why
        return result
    age = time.time() - finished
    when = datetime.fromtimestamp(finished, timezone.utc).isoformat(timespec="seconds")
    result.data["backup"] = {"finished_at": when, "source": source}
    if age > settings.backup_max_age_s:
        result.fail(
            STALE_CODE,
            f"the latest backup ({source}) finished at {when}, {age / 3600:.1f} h ago: older"
            f" than backup_max_age_s ({settings.backup_max_age_s / 3600:.1f} h)",
        )
    return result


def _command(settings: DbSuiteSettings) -> Any:
    """The last line a shell command prints (``wal-g backup-list | tail -1``, say)."""
    try:
        done = subprocess.run(
            ["sh", "-c", str(settings.backup_command)],
            capture_output=True,
            text=True,
            timeout=settings.backup_timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NoAnswer(f"backup_command took longer than {settings.backup_timeout_s:g} s") from None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        error = " ".join(done.stderr.split())[:200]
        raise NoAnswer(f"backup_command exited with {done.returncode} and no time: {error}")
    return lines[-1].strip()


def _url(settings: DbSuiteSettings, http: HttpSettings) -> Any:
    """The value at ``backup_jmespath`` in an HTTP JSON answer."""
    import httpx
    import jmespath

    url = str(settings.backup_url)
    limits = replace(http, read_timeout_s=settings.backup_timeout_s)
    try:
        with make_client(url, limits) as client:
            answer = client.get(url)
        answer.raise_for_status()
        return jmespath.search(settings.backup_jmespath or "@", answer.json())
    except (httpx.HTTPError, ExchangeStopped, ValueError) as exc:
        raise NoAnswer(f"backup_url: {str(exc).splitlines()[0] if str(exc) else exc}") from None


def _when(value: Any, source: str) -> float:
    """Unix seconds from a timestamp, an ISO 8601 text, or a number of (milli)seconds."""
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=timezone.utc).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000 if value > 1e12 else float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return _when(float(text), source)
        except ValueError:
            pass
        try:
            return _when(datetime.fromisoformat(text.replace("Z", "+00:00")), source)
        except ValueError:
            pass
    raise NoAnswer(f"{source} gave no time of a finished backup: {str(value)[:100]!r}")
