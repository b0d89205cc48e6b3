"""Locks: one writer per output root, and a bound on video encoders across workers.

A build holds an exclusive lock on a file in the output root.

Two builds writing the same outputs and manifest at once would interleave their
writes (each file stays whole, but the manifest of one would forget the outputs of
the other). ``flock`` locks belong to the open file, so the kernel drops the lock
when its holder dies, even by SIGKILL: a stale lock file never blocks a build.

While it holds the lock a build is the only writer, so it may also remove the
temporary files a killed build left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import LockError, OutputError, describe_os_error
from pipeline.state.outputs import TEMP_MARK, TEMP_SUFFIX

LOCK_NAME = ".muscle-assets.lock"

# atomic_path's temporaries, and only those: ".<name>.muscle-assets-" + mkstemp's
# 8 random characters + ".tmp"; a person's ".notes.abcdefgh.tmp" is not ours
_TEMP_RE = re.compile(rf"\..+{re.escape(TEMP_MARK)}[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}")
# what a lock file of ours holds: nothing, or the pid of the build holding it
_LOCK_TEXT_RE = re.compile(rb"\d*\n?")


@dataclass(frozen=True)
class HeldLock:
    """A held output lock: its descriptor (workers keep copies, see
    :mod:`pipeline.lifeline`) and the temporary files removed on taking it."""

    fd: int
    removed: list[Path]


@contextlib.contextmanager
def exclusive_build(
    cfg: Config,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    remove_lock: bool = False,
) -> Iterator[HeldLock]:
    """Lock the output root for a writing command and clear what a killed build
    left behind; and again on the way out of an interrupted one (its workers are
    gone by then; a write cut short by the interrupt may have left a temporary
    file). ``remove_lock`` deletes the lock file on the way out (for ``clean``,
    which leaves nothing of ours behind)."""
    out_root = cfg.paths.output_root
    with output_lock(out_root, wait=wait, on_wait=on_wait, remove=remove_lock) as fd:
        folders = [out_root]
        if cfg.paths.pages_dir is not None:
            folders.append(cfg.paths.pages_dir)
        remove_stale_encoder_folders()
        try:
            yield HeldLock(fd, remove_stale_temps(f for f in folders if f.is_dir()))
        except BaseException:
            remove_stale_temps(f for f in folders if f.is_dir())
            raise


@contextlib.contextmanager
def output_lock(
    out_root: Path,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    remove: bool = False,
) -> Iterator[int]:
    """Hold ``out_root``'s lock for the duration (yields its descriptor); raise
    :class:`LockError` when another build holds it, or with ``wait`` block until it
    is released. With ``remove``, the lock file is deleted while still held (a
    build waiting on the old file then runs beside one that made a new file:
    acceptable for ``clean`` only)."""
    path = out_root / LOCK_NAME
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        # never through a link: the pid written below would truncate its target
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError(f"{path}: lock file is a symbolic link: remove it") from None
        raise OutputError(out_root, describe_os_error(exc)) from exc
    try:
        _check_ours(fd, path)
    except BaseException:
        os.close(fd)
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise OutputError(path, describe_os_error(exc)) from exc
            holder = _holder(fd)
            if not wait:
                raise LockError(f"{out_root}: another build is running ({holder})") from None
            if on_wait is not None:
                on_wait(f"{out_root}: waiting for another build to finish ({holder})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        # Encoders inherit the lock, so it outlives a killed build until they
        # are gone too (see pipeline.lifeline).
        os.set_inheritable(fd, True)
        with contextlib.suppress(OSError):  # the pid only informs; a full disk may refuse it
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield fd
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no pid of a finished build left to mislead anyone
            if remove:
                path.unlink()
        os.close(fd)  # releases the lock


def _check_ours(fd: int, path: Path) -> None:
    """Refuse a lock file that is not one of ours, rather than truncate it: a hard
    link to another file, a special file, or one holding something besides a pid."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise LockError(f"{path}: lock file is not a regular file: remove it")
    if info.st_nlink != 1:
        raise LockError(f"{path}: lock file has other hard links: remove it")
    if not _LOCK_TEXT_RE.fullmatch(os.pread(fd, 64, 0)):
        raise LockError(f"{path}: not a lock file of ours (it holds other data): remove it")


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"lock held by pid {text}" if text.isdigit() else "lock held by another process"


def remove_stale_temps(folders: Iterable[Path]) -> list[Path]:
    """Delete the temporary files of writes that never finished (a build killed
    mid-write). Only call this while holding the lock: then no write is in flight."""
    removed: list[Path] = []
    for folder in folders:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                if _TEMP_RE.fullmatch(name):
                    path = Path(dirpath) / name
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed.append(path)
    return removed


_ENCODERS_PREFIX = "muscle-assets-encoders-"


@contextlib.contextmanager
def encoder_slots(count: int) -> Iterator[EncoderSlots]:
    """``count`` slots in a temporary folder named after this process, so that a
    later build can tell the folder of a killed build (its owner is gone)."""
    prefix = f"{_ENCODERS_PREFIX}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield EncoderSlots(folder, count)


def remove_stale_encoder_folders() -> list[Path]:
    """Remove the slot folders of builds that were killed (their process is gone);
    returns those removed."""
    removed: list[Path] = []
    for path in Path(tempfile.gettempdir()).glob(f"{_ENCODERS_PREFIX}*"):
        owner, named, _ = path.name[len(_ENCODERS_PREFIX) :].partition("-")
        if not (named and owner.isdigit()):  # not named after its process
            continue
        with contextlib.suppress(OSError):
            if path.lstat().st_uid == os.getuid() and not _alive(int(owner)):
                shutil.rmtree(path)
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@dataclass(frozen=True)
class EncoderSlots:
    """At most ``count`` video encoders at once across a build's workers.

    One ffmpeg encoding VP9 with alpha holds about 170 MB, x264 about 95 MB; two
    workers each running one on top of their own frames would pass the memory
    bound the pipeline keeps (see docs/design.md). Each slot is a file in ``folder``
    (made by the build, removed after it) that a worker ``flock``s while its
    encoder runs, so a killed worker frees its slot. Plain data: it pickles into
    the job under every start method."""

    folder: str
    count: int

    def take(self, *, wait: bool) -> _Slot | None:
        """A free slot, to hold as a context manager (leaving it frees the slot);
        with ``wait`` block until one is free, else ``None`` when all are taken."""
        fds = [
            os.open(os.path.join(self.folder, f"slot-{i}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)  # noqa: PTH118
            for i in range(self.count)
        ]
        try:
            held = next((fd for fd in fds if _try_flock(fd)), None)
            if held is None and wait:  # which slot frees first is unknown: wait on one
                held = fds[os.getpid() % len(fds)]
                fcntl.flock(held, fcntl.LOCK_EX)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        for fd in fds:
            if fd != held:
                os.close(fd)
        return None if held is None else _Slot(held)


class _Slot(contextlib.AbstractContextManager["_Slot"]):
    """A held encoder slot; closing its file releases it (as does dying)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True
