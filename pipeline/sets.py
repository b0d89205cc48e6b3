"""Find orientation sets in the raw folder and check their file names.

Only names are looked at here (no pixels), so listing a large folder is cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import FramesConfig

# Set ids become file names and URLs; the theme splits URLs on '.', so no dots.
SET_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Defect:
    """One problem with one file, reported as ``<file>: <problem>``."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class SourceSet:
    """One orientation set: its frames by number, and any naming defects."""

    set_id: str
    frames: dict[int, Path]
    defects: tuple[Defect, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.defects


def pattern_regex(cfg: FramesConfig) -> re.Pattern[str]:
    """The frame-name pattern as a regex; the set id is greedy, so it ends at the
    last ``-<digits>`` as the site's naming says."""
    escaped = re.escape(cfg.pattern)
    escaped = escaped.replace(re.escape("{set_id}"), r"(?P<set_id>.+)")
    escaped = escaped.replace(re.escape("{k}"), r"(?P<k>\d+)")
    return re.compile(f"^{escaped}$")


def frame_name(cfg: FramesConfig, set_id: str, k: int) -> str:
    return cfg.pattern.format(set_id=set_id, k=k)


def discover(raw_dir: Path, cfg: FramesConfig) -> list[SourceSet]:
    """All sets in ``raw_dir`` (flat), sorted by id, with their naming defects."""
    regex = pattern_regex(cfg)
    found: dict[str, list[tuple[str, Path]]] = {}
    try:
        entries = sorted(raw_dir.iterdir())
    except OSError as exc:
        raise OSError(f"{raw_dir}: cannot list folder: {exc.strerror or exc}") from exc
    for path in entries:
        if path.name.startswith("."):
            continue
        match = regex.match(path.name)
        if match is None:
            continue
        found.setdefault(match["set_id"], []).append((match["k"], path))
    return [_make_set(set_id, items, raw_dir, cfg) for set_id, items in sorted(found.items())]


def _make_set(
    set_id: str, items: list[tuple[str, Path]], raw_dir: Path, cfg: FramesConfig
) -> SourceSet:
    defects: list[Defect] = []
    frames: dict[int, Path] = {}
    if not SET_ID_RE.match(set_id):
        defects.append(
            Defect(
                items[0][1],
                f"set id {set_id!r} is not allowed: use ASCII letters, digits, '-' and '_' only",
            )
        )
    for digits, path in sorted(items, key=lambda item: (int(item[0]), item[0])):
        k = int(digits)
        if digits != str(k):
            defects.append(Defect(path, f"zero-padded frame number {digits!r} (expected {k})"))
            continue
        if not 1 <= k <= cfg.count:
            defects.append(Defect(path, f"extra frame number {k} (expected 1..{cfg.count})"))
            continue
        if k in frames:
            defects.append(Defect(path, f"duplicate frame number {k} (also {frames[k].name})"))
            continue
        frames[k] = path
    missing = [k for k in range(1, cfg.count + 1) if k not in frames]
    if missing:
        first = raw_dir / frame_name(cfg, set_id, missing[0])
        numbers = ", ".join(str(k) for k in missing)
        defects.append(Defect(first, f"missing frame number(s) {numbers} of set {set_id}"))
    return SourceSet(set_id=set_id, frames=frames, defects=tuple(defects))
