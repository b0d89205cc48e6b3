"""A worker's memory: glibc's allocator tuned so freed frames go back to the OS.

Workers decode one full-size frame at a time; without this, glibc keeps every
freed frame in the heap and a worker sits at its high-water mark. Elsewhere than
glibc these are no-ops.
"""

from __future__ import annotations

import contextlib
import ctypes
from pathlib import Path

_M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>


def tune_memory() -> None:
    """Fix glibc's mmap threshold (at 9 MiB) in a worker. By default glibc raises
    it, and its heap trim threshold with it (to twice as much), after the first
    large buffer is freed; from then on freed frames stay in the worker's heap and
    it sits at its high-water mark, about 25 MB more each, while it feeds ffmpeg.
    Once set, the trim threshold stays at 128 KiB, so memory freed at the top of
    the heap goes back to the OS. 9 MiB keeps the quantiser's 8 MB buffers in
    the heap: a lower threshold maps them anew each time, and the page faults
    cost about 7 % of a build (measured)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 9 << 20)


def give_back_memory() -> None:
    """Return free heap memory to the OS (glibc's ``malloc_trim``): after a set's
    full frames are cropped, and after each animation, whatever their size."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def available_memory() -> int | None:
    """Bytes the kernel could give without swapping (``MemAvailable``), or ``None``
    where that cannot be read."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None
