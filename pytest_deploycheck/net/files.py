"""Files from the target's repository, read as hostile input: only regular files and folders
inside the folder named, never through a symlink that leaves it, never a FIFO, a socket or a
device (reading one can block for ever), never more than ``MAX_BYTES`` of one file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_BYTES = 16 * 1024 * 1024
_KINDS = {
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISSOCK: "a socket",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
}


class Unreadable(Exception):
    """A path that is not read, and why."""


def refusal(path: Path, root: Path) -> str | None:
    """Why ``path`` (below ``root``) is not to be read or entered; None when it may be: a
    regular file or a folder, itself or through symlinks that stay inside ``root``."""
    try:
        if path.is_symlink():
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(Path(os.path.realpath(root))):
                return "a symlink that leaves the folder: not followed"
        mode = os.stat(path).st_mode
    except (OSError, RuntimeError) as exc:  # a broken link, a loop
        return f"not readable: {exc.strerror if isinstance(exc, OSError) else exc}"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = next((name for test, name in _KINDS.items() if test(mode)), "not a regular file")
    return f"{kind}, not a regular file: not read"


def read_bytes(path: Path) -> bytes:
    """A regular file's bytes, opened without following a last symlink and without waiting
    (a FIFO put in its place is refused, not waited on); Unreadable past ``MAX_BYTES``."""
    real = os.path.realpath(path)
    try:
        handle = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise Unreadable(f"not readable: {exc.strerror}") from None
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("not a regular file: not read")
        if info.st_size > MAX_BYTES:
            raise Unreadable(f"larger than {MAX_BYTES // (1024 * 1024)} MiB: not read")
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Unreadable(f"larger than {MAX_BYTES // (1024 * 1024)} MiB: not read")
    return data
