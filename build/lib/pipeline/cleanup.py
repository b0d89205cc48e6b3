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
from pipeline.manifest import MANIFEST_NAME, Manifest
from pipeline.outputs import resolve_inside


@dataclass
class CleanReport:
    """Files removed (or that would be, on a dry run), as relpaths."""

    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # recorded but already gone
    manifest_removed: bool = False


def remove_outputs(
    out_root: Path, relpaths: Iterable[str], *, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """Delete recorded outputs; return (removed, already missing) relpaths."""
    removed: list[str] = []
    missing: list[str] = []
    for relpath in sorted(set(relpaths)):
        path = resolve_inside(out_root, relpath)
        if not path.is_file():
            missing.append(relpath)
            continue
        removed.append(relpath)
        if dry_run:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(path, f"cannot remove: {exc.strerror or exc}") from exc
        remove_empty_folders(path.parent, out_root)
    return removed, missing


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
    removed, missing = remove_outputs(out_root, manifest.outputs, dry_run=dry_run)
    report = CleanReport(removed, missing)
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
    """Remove outputs no longer planned and forget them in ``manifest``."""
    chosen = list(relpaths)
    removed, _missing = remove_outputs(out_root, chosen, dry_run=dry_run)
    if not dry_run:
        manifest.forget_outputs(chosen)
    return removed
