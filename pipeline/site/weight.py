"""What a visitor's browser downloads for one muscle page, from what the build recorded.

The site's ``gallery`` include shows the set's ``-thumb.png`` files on every view
and opens the full-size PNG only when a thumbnail is clicked; its ``page-image``
include lists the WebM first, which every current browser plays. So one view
costs the WebM plus the thumbnail PNGs, and each click one full-size PNG more.
The MP4, the GIF and the WebP copies are fallbacks a browser skips, so they do not
count. Sizes come from the manifest's records, never from decoding anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from pipeline.config import Config
from pipeline.runner import SetResult
from pipeline.stages.animation import animation_relpath
from pipeline.stages.thumbnails import thumb_relpath
from pipeline.stages.variants import frame_relpath
from pipeline.state.outputs import Written, human_size

BIGGEST_LISTED = 3


@dataclass(frozen=True)
class PageWeight:
    """One set's page: the files every view downloads and those a click adds."""

    set_id: str
    view: tuple[Written, ...]
    click: tuple[Written, ...]  # the full-size PNGs, one per click
    # View files the build has not recorded yet (a set not fully built): the weight
    # counts only what exists.
    missing: tuple[PurePosixPath, ...] = ()

    @property
    def bytes(self) -> int:
        return sum(w.bytes for w in self.view)

    @property
    def click_bytes(self) -> int:
        return sum(w.bytes for w in self.click)

    def biggest(self, count: int = BIGGEST_LISTED) -> list[Written]:
        return sorted(self.view, key=lambda w: (-w.bytes, str(w.relpath)))[:count]

    def over(self, budget_kib: int | None) -> bool:
        return budget_kib is not None and self.bytes > budget_kib * 1024

    def describe_biggest(self) -> str:
        return ", ".join(f"{w.relpath} {human_size(w.bytes)}" for w in self.biggest())


def page_weight(cfg: Config, set_id: str, outputs: Iterable[Written]) -> PageWeight:
    """The weight of ``set_id``'s page from its recorded ``outputs``."""
    by_path = {w.relpath: w for w in outputs}
    frames = range(1, cfg.frames.count + 1)
    view_paths = [animation_relpath(cfg, set_id, "webm")]
    view_paths += [thumb_relpath(cfg, set_id, k) for k in frames]
    click_paths = [frame_relpath(cfg, set_id, k) for k in frames]
    return PageWeight(
        set_id,
        view=tuple(by_path[p] for p in view_paths if p in by_path),
        click=tuple(by_path[p] for p in click_paths if p in by_path),
        missing=tuple(p for p in view_paths if p not in by_path),
    )


def result_weight(cfg: Config, result: SetResult) -> PageWeight | None:
    """The page weight of a set in a build report; ``None`` for an invalid set."""
    return page_weight(cfg, result.set_id, result.outputs) if result.ok else None
