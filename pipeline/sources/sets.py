"""Find orientation sets in the raw folder and check their file names.

Only names are looked at here (no pixels), so listing a large folder is cheap.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import FramesConfig
from pipeline.sources.files import special_kind

# Set ids become file names and URLs; the theme splits URLs on '.', so no dots.
SET_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # whole id: use fullmatch


@dataclass(frozen=True)
class Defect:
    """One problem with one file, reported as ``<file>: <problem>``."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{shown(self.path)}: {self.problem}"


def shown(path: Path) -> str:
    """``path`` for a one-line message: a line break or other control character in
    a file name is written as an escape, so it cannot split or forge a line."""
    text = str(path)
    return _CONTROL_RE.sub(lambda m: repr(m[0])[1:-1], text)


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


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
    # '.*', not '.+': an empty set id ('-1.png') is reported, not skipped; DOTALL so
    # a line break inside a name is too (the id check below refuses both)
    escaped = escaped.replace(re.escape("{set_id}"), r"(?P<set_id>.*)")
    escaped = escaped.replace(re.escape("{k}"), r"(?P<k>\d+)")
    return re.compile(escaped, re.DOTALL)


def frame_name(cfg: FramesConfig, set_id: str, k: int) -> str:
    return cfg.pattern.format(set_id=set_id, k=k)


def discover(raw_dir: Path, cfg: FramesConfig) -> list[SourceSet]:
    """All sets in ``raw_dir`` (flat), sorted by id, with their naming defects."""
    regex = pattern_regex(cfg)
    found: dict[str, list[tuple[str, Path]]] = {}
    odd: dict[str, list[tuple[str, Defect]]] = {}  # by set id: (frame digits, defect)
    try:
        entries = sorted(raw_dir.iterdir())
    except OSError as exc:
        raise OSError(f"{raw_dir}: cannot list folder: {exc.strerror or exc}") from exc
    for path in entries:
        # Hidden files are skipped unless they look like frames: '..-1.png' or
        # '._Leg-1.png' must be reported, not silently left out of a build.
        match = regex.fullmatch(path.name)
        if match is None:
            # 'Leg-3.png\n' is frame 3 to a reader who cannot see the line break
            match = regex.fullmatch(_CONTROL_RE.sub("", path.name))
            if match is not None:
                name_problem = "file name has a line break or other control character: rename it"
                odd.setdefault(match["set_id"], []).append((match["k"], Defect(path, name_problem)))
            continue
        kind_problem = _not_regular(path)
        if kind_problem is not None:
            odd.setdefault(match["set_id"], []).append((match["k"], Defect(path, kind_problem)))
            continue
        found.setdefault(match["set_id"], []).append((match["k"], path))
    sets = [
        _make_set(set_id, found.get(set_id, []), raw_dir, cfg, odd.get(set_id, []))
        for set_id in sorted(found.keys() | odd.keys())
    ]
    return _flag_case_collisions(sets)


def _not_regular(path: Path) -> str | None:
    """Why ``path`` is not a source, if it is not: only regular files (or links to
    them) are read. A FIFO or a link to /dev/zero would make hashing wait or read
    forever. An unreadable entry is left to the hashing step, which says why."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)"
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "not a file (a folder has a frame's name)"
    kind = special_kind(mode)
    return None if kind is None else f"not a regular file ({kind})"


def _flag_case_collisions(sets: list[SourceSet]) -> list[SourceSet]:
    """Ids that differ only in case name the same page (pages use the lower-cased id)
    and the same files on case-insensitive disks, so one would overwrite the other."""
    by_key: dict[str, list[SourceSet]] = {}
    for source in sets:
        by_key.setdefault(source.set_id.casefold(), []).append(source)
    flagged: list[SourceSet] = []
    for source in sets:
        others = [s.set_id for s in by_key[source.set_id.casefold()] if s is not source]
        if not others or not source.frames:
            flagged.append(source)
            continue
        first = source.frames[min(source.frames)]
        defect = Defect(
            first,
            f"set id {source.set_id!r} differs from {', '.join(map(repr, others))} "
            "only in case: their outputs and pages would overwrite each other",
        )
        flagged.append(SourceSet(source.set_id, source.frames, (*source.defects, defect)))
    return flagged


def _make_set(
    set_id: str,
    items: list[tuple[str, Path]],
    raw_dir: Path,
    cfg: FramesConfig,
    odd: list[tuple[str, Defect]],
) -> SourceSet:
    """The set's frames by number and its naming defects; ``odd`` are frames already
    found unusable (not a regular file, a control character in the name), reported
    as themselves rather than also as missing."""
    defects: list[Defect] = [defect for _, defect in odd]
    frames: dict[int, Path] = {}
    unpadded = {int(digits) for digits, _ in items if digits == str(int(digits))}
    reported: set[int] = {int(digits) for digits, _ in odd}  # reported already: not missing
    for digits, path in sorted(items, key=lambda item: (int(item[0]), item[0])):
        k = int(digits)
        if digits != str(k):
            if k in unpadded:
                also = frame_name(cfg, set_id, k)
                problem = f"duplicate frame number {k}: zero-padded {digits!r}, and {also} exists"
            else:
                problem = f"zero-padded frame number {digits!r} (rename to {k})"
                reported.add(k)
            defects.append(Defect(path, problem))
            continue
        if not 1 <= k <= cfg.count:
            defects.append(Defect(path, f"extra frame number {k} (expected 1..{cfg.count})"))
            continue
        if k in frames:
            defects.append(Defect(path, f"duplicate frame number {k} (also {frames[k].name})"))
            continue
        frames[k] = path
    if not SET_ID_RE.fullmatch(set_id):
        # One line for the one problem; numbering is moot until the files are renamed.
        problem = f"set id {set_id!r} is not allowed: use ASCII letters, digits, '-' and '_' only"
        if not set_id:
            problem = "no set id before the frame number: name frames <SetId>-<k>"
        first_path = items[0][1] if items else odd[0][1].path
        return SourceSet(set_id, frames, (Defect(first_path, problem),))
    # a frame present only zero-padded is reported once, as padded, not also as missing
    missing = [k for k in range(1, cfg.count + 1) if k not in frames and k not in reported]
    if missing:
        first = raw_dir / frame_name(cfg, set_id, missing[0])
        numbers = ", ".join(str(k) for k in missing)
        defects.append(Defect(first, f"missing frame number(s) {numbers} of set {set_id}"))
    return SourceSet(set_id=set_id, frames=frames, defects=tuple(defects))
