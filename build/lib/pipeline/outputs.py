"""What a stage plans and what it wrote, and the one way outputs reach the disk.

Planning (names, pixel sizes, the values that affect pixels) is kept apart from
encoding so that ``--dry-run``, fingerprints and the front matter stage can all use
the plan without touching pixels.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.errors import OutputError


@dataclass(frozen=True)
class OutputSpec:
    """One output file a stage will make, planned without decoding anything.

    ``relpath`` is relative to the output root (the site's ``site.urlimg``), in the
    site's own naming. ``frames`` lists the orientation numbers whose pixels it is
    made from; ``params`` holds every value that changes its bytes, so the
    fingerprint of the output can be computed from the plan alone. ``versions``
    holds the encoder libraries' versions, kept apart from ``params`` so that
    ``check`` can tell "built with other encoder versions" from "stale".
    """

    stage: str
    kind: str
    relpath: PurePosixPath
    frames: tuple[int, ...]
    width: int
    height: int
    params: tuple[tuple[str, Any], ...] = ()
    versions: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str) -> Any:
        return dict(self.params)[name]


@dataclass(frozen=True)
class Written:
    """What a stage wrote: enough to report, and to write front matter from."""

    relpath: PurePosixPath
    stage: str
    kind: str
    format: str
    width: int
    height: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "relpath": str(self.relpath),
            "stage": self.stage,
            "kind": self.kind,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Written:
        return cls(
            relpath=PurePosixPath(data["relpath"]),
            stage=str(data["stage"]),
            kind=str(data["kind"]),
            format=str(data["format"]),
            width=int(data["width"]),
            height=int(data["height"]),
            bytes=int(data["bytes"]),
        )


def human_size(n: int) -> str:
    """Bytes for people: ``841 B``, ``12.3 KiB``, ``1.2 MiB``."""
    value = float(n)
    for unit in ("B", "KiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MiB"


def resolve_inside(root: Path, relpath: PurePosixPath | str) -> Path:
    """``root / relpath``, refusing anything that would land outside ``root``."""
    rel = PurePosixPath(relpath)
    if rel.is_absolute() or ".." in rel.parts:
        raise OutputError(root / str(rel), "path escapes the output folder")
    target = root.joinpath(*rel.parts)
    resolved_root = root.resolve()
    if not target.resolve().is_relative_to(resolved_root):
        raise OutputError(target, "path escapes the output folder")
    return target


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest``.

    The temporary file lives in the target folder so ``os.replace`` is a rename on
    one file system: readers see the old file or the new one, never a partial one.
    On any failure the temporary file is removed and ``dest`` is left as it was.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(dest, _describe_os_error(exc)) from exc
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(_mode_for(dest))  # mkstemp makes 0600; a web server must read outputs
        _fsync(tmp)
        tmp.replace(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(dest, _describe_os_error(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_path`)."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def _mode_for(dest: Path) -> int:
    """Keep an existing file's permission bits; a new file gets what ``open()``
    would give it: 0666 less the process umask."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (is the output folder writable?)"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)
