"""Reading a file that must be a regular file: sources, pages, the manifest.

A FIFO, a device or a socket put where a file was expected would make a read
wait or run forever; these helpers open without blocking and refuse them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def special_kind(mode: int) -> str | None:
    """What a file of ``mode`` is when it is not a regular file, else None."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "special file")


class NotRegularFileError(OSError):
    """A FIFO, device, socket or folder where a file was expected."""


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refused unless it is a regular file (a link to
    one is fine). Opened without blocking, then checked: reading a FIFO or
    ``/dev/zero`` put in a file's place would wait or read forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    handle = os.fdopen(fd, "rb")
    kind = special_kind(os.fstat(fd).st_mode)
    if kind is not None:
        handle.close()
        raise NotRegularFileError(errno.EINVAL, f"not a regular file ({kind})")
    return handle
