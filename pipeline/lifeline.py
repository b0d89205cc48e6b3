"""Every process a build starts dies with it.

Killed alone (``kill -9``, the OOM killer), the main process would otherwise
leave its workers, the forkserver they come from and their ffmpeg encoders
running: they would keep writing outputs after the output lock was freed, race
the next build, and finally block forever on pipes nobody reads. Three links
make them follow the main process instead, however it ends:

- each worker has the read end of a pipe whose only write end the main process
  holds: when that closes, the kernel sends the worker SIGKILL;
- each ffmpeg asks the kernel for SIGKILL when the thread that started it dies
  (``PR_SET_PDEATHSIG``, Linux; set between fork and exec);
- each worker and each ffmpeg holds a copy of the output lock's file
  descriptor, and an ``flock`` is only released when the last copy closes: the
  lock is held until the last of them is gone, so a rerun cannot start beside
  them. The pipeline marks it inheritable, and starts ffmpeg without closing
  inheritable descriptors.

The forkserver then exits on its own: its clients (the main process and the
workers) are all gone. The main process also cuts the line itself on an
interrupt (Ctrl-C, SIGTERM), so workers stop at once rather than finish their
sets.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import signal
import sys
from collections.abc import Callable, Iterator
from multiprocessing import reduction
from typing import Any

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def dies_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the calling thread
    ends, or ``None`` where the kernel has no such request. ``prctl`` is looked up
    here, not in the child, so the child between fork and exec only makes one
    system call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:  # pragma: no cover - runs in the child
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(1)

    return arm


class Lifeline:
    """What a worker gets at start (pool ``initargs``): the read end of the main
    process's pipe and a copy of the output lock's descriptor. Under ``spawn``
    and ``forkserver`` both travel with the new process (multiprocessing passes
    descriptors as it starts one); under ``fork`` the worker inherits them, and
    also the write end, which it must close or it would keep itself alive."""

    def __init__(self, watch_fd: int, lock_fd: int | None, write_fd: int | None) -> None:
        self.watch_fd = watch_fd
        self.lock_fd = lock_fd
        self.write_fd = write_fd

    def __reduce__(self) -> tuple[Any, ...]:
        lock = None if self.lock_fd is None else reduction.DupFd(self.lock_fd)
        return (_arrived, (reduction.DupFd(self.watch_fd), lock))

    def hold(self) -> None:
        """In the worker: die as soon as the main process is gone. The kernel
        itself sends the SIGKILL when the pipe's last writer closes (``O_ASYNC``
        with ``F_SETSIG``): a thread watching the pipe would need the GIL, which
        a long C call (a PNG optimisation) holds for seconds. The lock's copy
        simply stays open until the worker exits."""
        if self.write_fd is not None:
            os.close(self.write_fd)
        if self.lock_fd is not None:  # for this worker's encoders (see above)
            os.set_inheritable(self.lock_fd, True)
        if not sys.platform.startswith("linux"):  # no F_SETSIG: the lock still holds
            return
        # The descriptor came as a copy of the main process's (one open file
        # description shared by every worker), and a description has only one
        # owner to signal: each worker opens the pipe anew to get its own.
        fd = os.open(f"/proc/self/fd/{self.watch_fd}", os.O_RDONLY | os.O_NONBLOCK)
        os.close(self.watch_fd)
        self.watch_fd = fd
        fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(fd, fcntl.F_SETSIG, int(signal.SIGKILL))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
        ready, _, _ = select.select([fd], [], [], 0)
        if ready:  # the main process was gone before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)


def _arrived(watch: Any, lock: Any) -> Lifeline:
    return Lifeline(watch.detach(), None if lock is None else lock.detach(), None)


class Line:
    """The main process's end: :attr:`lifeline` goes to the workers; :meth:`cut`
    (or leaving the context) makes every worker still alive kill itself."""

    def __init__(self, lock_fd: int | None, start_method: str | None) -> None:
        self._read, self._write = os.pipe()
        inherits = start_method == "fork"
        self.lifeline = Lifeline(self._read, lock_fd, self._write if inherits else None)

    def cut(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1


@contextlib.contextmanager
def line(lock_fd: int | None, start_method: str | None) -> Iterator[Line]:
    held = Line(lock_fd, start_method)
    try:
        yield held
    finally:
        held.cut()
        os.close(held.lifeline.watch_fd)


def worker_signals() -> None:
    """In a worker: SIGINT and SIGTERM are the main process's to handle (it cuts
    the line); a terminal's Ctrl-C reaching the worker too must not interrupt it
    half way through cleaning up, nor print a traceback from an idle one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
