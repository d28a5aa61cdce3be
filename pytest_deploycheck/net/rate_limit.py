"""Request-rate caps: request starts spaced at least ``1 / per_second`` apart, within one
process, or across the processes of one run (xdist workers) through a shared lock file."""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import time
from pathlib import Path


class RateLimiter:
    """Spaces request starts at least ``1 / per_second`` apart, in this process."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0

    def reserve(self) -> float:
        """The moment the next request may start (time.time()), reserving it."""
        now = time.time()
        start = max(now, self._next)
        self._next = start + self._interval
        return start

    async def wait(self) -> None:
        delay = self.reserve() - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class SharedRateLimiter(RateLimiter):
    """The same cap shared by every process that uses the same file: the next free moment is
    kept in the file, read and advanced under an exclusive lock."""

    def __init__(self, per_second: float, path: Path) -> None:
        super().__init__(per_second)
        self._path = path

    def reserve(self) -> float:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = os.pread(fd, 8, 0)
            free = struct.unpack("d", data)[0] if len(data) == 8 else 0.0
            start = max(time.time(), free)
            os.pwrite(fd, struct.pack("d", start + self._interval), 0)
            return start
        finally:
            os.close(fd)  # closing releases the lock

    async def wait(self) -> None:
        start = await asyncio.to_thread(self.reserve)
        delay = start - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
