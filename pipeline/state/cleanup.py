"""Removing what the pipeline made, and only that.

``clean`` and ``build --prune`` both work from the manifest: a file is removed only
when the manifest records it as an output, so whatever else lives in the output
root (a site's other images, a file a person put there) is never touched.
Folders are removed only when removing our files left them empty, and never the
output root itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import OutputError
from pipeline.state.manifest import MANIFEST_NAME, Manifest, file_sha256
from pipeline.state.outputs import resolve_inside


@dataclass
class CleanReport:
    """Files removed (or that would be, on a dry run), as relpaths."""

    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # recorded but already gone
    kept: list[str] = field(default_factory=list)  # recorded, but not the file we wrote
    manifest_removed: bool = False


@dataclass
class Removal:
    """Recorded outputs by fate, as relpaths."""

    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def remove_outputs(
    out_root: Path, manifest: Manifest, relpaths: Iterable[str], *, dry_run: bool = False
) -> Removal:
    """Delete recorded outputs that are still the files the manifest records (by
    content hash): a file a person put in an output's place since, or edited, is
    kept. Returns what was removed, what was already gone, and what was kept."""
    done = Removal()
    for relpath in sorted(set(relpaths)):
        path = resolve_inside(out_root, relpath)
        if path.is_symlink() or not path.is_file():
            (done.kept if path.is_symlink() else done.missing).append(relpath)
            continue
        if not _is_ours(path, manifest.outputs.get(relpath)):
            done.kept.append(relpath)
            continue
        done.removed.append(relpath)
        if dry_run:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(path, f"cannot remove: {exc.strerror or exc}") from exc
        remove_empty_folders(path.parent, out_root)
    return done


def _is_ours(path: Path, entry: dict[str, object] | None) -> bool:
    """True when ``path`` holds the bytes the manifest recorded for it."""
    if entry is None:
        return False
    try:
        return path.stat().st_size == entry["size"] and file_sha256(path) == entry["sha256"]
    except OSError:
        return False


def remove_empty_folders(folder: Path, out_root: Path) -> None:
    """Remove ``folder`` and its parents while they are empty, stopping below ``out_root``."""
    root = out_root.resolve()
    current = folder.resolve()
    while current != root and current.is_relative_to(root):
        try:
            current.rmdir()
        except OSError:  # not empty (or not ours to remove): stop here
            return
        current = current.parent


def clean(out_root: Path, *, dry_run: bool = False) -> CleanReport:
    """Remove every output the manifest records, then the manifest itself."""
    manifest = Manifest.load(out_root)
    done = remove_outputs(out_root, manifest, manifest.outputs, dry_run=dry_run)
    report = CleanReport(done.removed, done.missing, done.kept)
    path = out_root / MANIFEST_NAME
    if path.is_file():
        report.manifest_removed = True
        if not dry_run:
            try:
                path.unlink()
            except OSError as exc:
                raise OutputError(path, f"cannot remove: {exc.strerror or exc}") from exc
    return report


def prune(
    manifest: Manifest, out_root: Path, relpaths: Iterable[str], *, dry_run: bool = False
) -> list[str]:
    """Remove outputs no longer planned and forget them in ``manifest`` (a file
    that is not the one recorded is kept, and forgotten too: it is not ours)."""
    chosen = list(relpaths)
    done = remove_outputs(out_root, manifest, chosen, dry_run=dry_run)
    if not dry_run:
        manifest.forget_outputs(chosen)
    return done.removed
