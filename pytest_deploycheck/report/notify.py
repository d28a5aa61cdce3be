"""Notifications where the team already looks (Slack, Microsoft Teams, Discord, webhooks,
email): the decision block sent through Apprise, the maintained library that speaks each
service's API. A notifier that fails never changes the verdict: it is said, and noted."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.report.ci import ci_of
from pytest_deploycheck.report.decision import decision


@dataclass(frozen=True)
class Sent:
    """What became of one notification URL (shown redacted)."""

    url: str
    sent: bool
    error: str = ""


def message(
    document: Mapping[str, Any], signoff: str, environ: Mapping[str, str]
) -> tuple[str, str]:
    """The title and body: the verdict and target, then the decision block (the next action
    and the first causes) and the link to the CI run when there is one."""
    target = document["target"]["name"]
    title = f"deploycheck: {document['verdict']} - {target}"
    body = "\n".join(decision(document, signoff))
    run = ci_of(environ).run_url
    return title, body + (f"\n\nthe run: {run}" if run else "")


def send(urls: Sequence[str], title: str, body: str) -> list[Sent]:
    """Send to each URL on its own, so one that fails names itself; Apprise's own log (it
    may show a URL) stays silent."""
    results = []
    quiet = logging.getLogger("apprise")
    was = quiet.disabled
    quiet.disabled = True
    # Apprise imports its notifiers on first use; they warn of modules they may use, not of ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        try:
            for url in urls:
                notifier = apprise.Apprise()
                if not notifier.add(url):
                    results.append(Sent(url, False, "not a notification URL Apprise knows"))
                    continue
                ok = notifier.notify(title=title, body=body)
                results.append(
                    Sent(url, bool(ok), "" if ok else "the service refused or did not answer")
                )
        finally:
            quiet.disabled = was
    return results


def notify(
    urls: Sequence[str], document: Mapping[str, Any], signoff: str, environ: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Send the decision; what the sign-off records of it (each URL by its scheme alone) and
    one warning line per failure: the verdict stands whatever."""
    from urllib.parse import urlsplit

    sent = send(urls, *message(document, signoff, environ))
    shown = [f"{urlsplit(s.url).scheme}://***" for s in sent]
    records = [
        {"url": url, "sent": s.sent, "error": s.error} for url, s in zip(shown, sent, strict=True)
    ]
    warnings = [
        f"deploycheck: the notification to {url} failed ({s.error}); the verdict stands"
        for url, s in zip(shown, sent, strict=True)
        if not s.sent
    ]
    return records, warnings
