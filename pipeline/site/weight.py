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
from typing import TYPE_CHECKING

from pipeline.plan import SetPlan
from pipeline.state.outputs import Output, human_size

if TYPE_CHECKING:
    from pipeline.build import SetResult

BIGGEST_LISTED = 3


@dataclass(frozen=True)
class PageWeight:
    """One set's page: the files every view downloads and those a click adds."""

    set_id: str
    view: tuple[Output, ...]
    click: tuple[Output, ...]  # the full-size PNGs, one per click
    # View files the build has not recorded yet (a set not fully built): the weight
    # counts only what exists.
    missing: tuple[PurePosixPath, ...] = ()

    @property
    def bytes(self) -> int:
        return sum(w.bytes for w in self.view)

    @property
    def click_bytes(self) -> int:
        return sum(w.bytes for w in self.click)

    def biggest(self, count: int = BIGGEST_LISTED) -> list[Output]:
        return sorted(self.view, key=lambda w: (-w.bytes, str(w.relpath)))[:count]

    def over(self, budget_kib: int | None) -> bool:
        return budget_kib is not None and self.bytes > budget_kib * 1024

    def describe_biggest(self) -> str:
        return ", ".join(f"{w.relpath} {human_size(w.bytes)}" for w in self.biggest())


def page_weight(plan: SetPlan, outputs: Iterable[Output]) -> PageWeight:
    """The weight of the set's page from its recorded ``outputs``; the files a page
    shows are named by the set's ``plan``."""
    by_path = {w.relpath: w for w in outputs}
    frames = range(1, plan.cfg.frames.count + 1)
    view = [plan.output("animate", "webm"), *(plan.output("thumbs", "thumb", k) for k in frames)]
    click = [plan.output("variants", "png", k) for k in frames]
    view_paths = [o.relpath for o in view if o is not None]
    click_paths = [o.relpath for o in click if o is not None]
    return PageWeight(
        plan.set_id,
        view=tuple(by_path[p] for p in view_paths if p in by_path),
        click=tuple(by_path[p] for p in click_paths if p in by_path),
        missing=tuple(p for p in view_paths if p not in by_path),
    )


def result_weight(result: SetResult) -> PageWeight | None:
    """The page weight of a set in a build report; ``None`` for an invalid set."""
    return page_weight(result.plan, result.outputs) if result.ok else None
