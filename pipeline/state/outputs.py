"""The output record, and the one way outputs reach the disk.

Planning (names, pixel sizes, the settings that affect pixels) is kept apart from
encoding so that ``--dry-run``, fingerprints and the pages step can all use the
plan without touching pixels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.codecs import Params, Settings
from pipeline.errors import OutputError, describe_os_error


@dataclass(frozen=True)
class Output:
    """One output file, from plan to record: the one shape stages, the manifest,
    pages, the page weight, the preview and the benchmark share.

    ``relpath`` is relative to the output root (the site's ``site.urlimg``), in the
    site's own naming (:mod:`pipeline.naming`). ``frames`` lists the orientation
    numbers whose pixels it is made from. ``settings`` are the encoder's typed
    settings: the stage renders from them and the fingerprint covers them
    (:attr:`params`). ``versions`` holds the encoder libraries' versions, kept
    apart from the settings so that ``check`` can tell "built with other encoder
    versions" from "stale". ``bytes`` is set once the file is written; an output
    read back from the manifest has no frames, settings or fingerprint.
    """

    stage: str
    kind: str
    relpath: PurePosixPath
    frames: tuple[int, ...]
    width: int
    height: int
    settings: Settings | None = None
    versions: tuple[tuple[str, Any], ...] = ()
    fingerprint: str = ""
    bytes: int = 0  # once written

    @property
    def format(self) -> str:
        return self.relpath.suffix.lstrip(".")

    @property
    def params(self) -> Params:
        return self.settings.params() if self.settings is not None else ()

    def written(self, size: int) -> Output:
        return dataclasses.replace(self, bytes=size)

    def to_json(self) -> dict[str, Any]:
        """The manifest's record of a written output."""
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
    def from_json(cls, data: dict[str, Any]) -> Output:
        return cls(
            stage=str(data["stage"]),
            kind=str(data["kind"]),
            relpath=PurePosixPath(data["relpath"]),
            frames=(),
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


# Every temporary file of ours is ".<name>.muscle-assets-<8 random characters>.tmp":
# the sweep after a killed build (lock.remove_stale_temps) removes these and nothing else.
TEMP_MARK = ".muscle-assets-"
TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(dest: Path, *, before_replace: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest``.

    The temporary file lives in the target folder so ``os.replace`` is a rename on
    one file system: readers see the old file or the new one, never a partial one.
    On any failure the temporary file is removed and ``dest`` is left as it was.
    The new file keeps the old one's owner, group and permission bits (as far as
    this process may give them), so a build run as root does not take a page or an
    output away from its owner. ``before_replace`` runs last, just before the
    rename: it may raise to keep ``dest`` as it is (a page edited meanwhile).
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{dest.name}{TEMP_MARK}", suffix=TEMP_SUFFIX, dir=dest.parent
        )
        os.close(fd)
    except OSError as exc:
        raise OutputError(dest, describe_os_error(exc)) from exc
    tmp = Path(name)
    try:
        yield tmp
        _take_over_metadata(tmp, dest)
        _fsync(tmp)
        if before_replace is not None:
            before_replace()
        tmp.replace(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(dest, describe_os_error(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(
    dest: Path, data: bytes, *, before_replace: Callable[[], None] | None = None
) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_path`)."""
    with atomic_path(dest, before_replace=before_replace) as tmp:
        tmp.write_bytes(data)


def _take_over_metadata(tmp: Path, dest: Path) -> None:
    """Give ``tmp`` the owner, group and permission bits of the file it replaces; a
    new file gets what ``open()`` would give it (0666 less the umask), not
    mkstemp's 0600, since a web server must read outputs. Only root may give a file
    away: others keep the group when they belong to it, and the bits always."""
    try:
        old = dest.stat()
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        tmp.chmod(0o666 & ~mask)
        return
    new = tmp.stat()
    if (old.st_uid, old.st_gid) != (new.st_uid, new.st_gid):
        try:
            os.chown(tmp, old.st_uid, old.st_gid)
        except PermissionError:
            with contextlib.suppress(OSError):
                os.chown(tmp, -1, old.st_gid)
    tmp.chmod(old.st_mode & 0o7777)  # after chown, which clears set-id bits


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
