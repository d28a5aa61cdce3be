"""Users of the demo: a few threads asking for pages until told to stop, so that its metrics
show traffic as production's do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx

PAGES = ("/api/announcements", "/login", "/api/health")
USERS_AGENT = "demo-user"  # the demo counts its users' requests apart (the error-rate fault)


@contextmanager
def users(base_urls: list[str], per_target: int = 3, pause_s: float = 0.2) -> Iterator[None]:
    """``per_target`` users on each of ``base_urls``, each asking for a page every
    ``pause_s`` seconds, until the block ends."""
    stop = threading.Event()

    def use(base_url: str, first: int) -> None:
        agent = {"User-Agent": f"{USERS_AGENT}/{first}"}
        with httpx.Client(base_url=base_url, timeout=10, headers=agent) as client:
            page = first
            while not stop.is_set():
                with suppress(httpx.HTTPError):
                    client.get(PAGES[page % len(PAGES)])
                page += 1
                stop.wait(pause_s)

    threads = [
        threading.Thread(target=use, args=(url, n), daemon=True)
        for url in base_urls
        for n in range(per_target)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
