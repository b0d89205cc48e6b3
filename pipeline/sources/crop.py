"""One crop box per set, so the object never jumps between frames.

The box is the union of the visible pixels of every frame, grown by a margin and
then widened or heightened back to the source aspect ratio, so pages keep their
layout. It always lies inside the source, so no pixel is invented and none that is
visible is cut.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pipeline.codecs.pixels import Box
from pipeline.config import CropConfig


def union(boxes: Iterable[Box]) -> Box:
    items = list(boxes)
    if not items:
        raise ValueError("no boxes to unite")
    return (
        min(b[0] for b in items),
        min(b[1] for b in items),
        max(b[2] for b in items),
        max(b[3] for b in items),
    )


def shared_crop(boxes: Iterable[Box], width: int, height: int, cfg: CropConfig) -> Box:
    """The crop box for a set whose frames are ``width`` x ``height``."""
    if not cfg.enabled:
        return (0, 0, width, height)
    left, top, right, bottom = union(boxes)
    pad = math.ceil(cfg.margin * max(right - left, bottom - top))
    left, top = max(0, left - pad), max(0, top - pad)
    right, bottom = min(width, right + pad), min(height, bottom + pad)
    box_w, box_h = right - left, bottom - top
    # Grow the short side to the source aspect ratio (never shrink: that would cut).
    if box_w * height < box_h * width:
        box_w = min(width, math.ceil(box_h * width / height))
    else:
        box_h = min(height, math.ceil(box_w * height / width))
    left = _place(left, right, box_w, width)
    top = _place(top, bottom, box_h, height)
    return (left, top, left + box_w, top + box_h)


def _place(start: int, end: int, size: int, limit: int) -> int:
    """Centre a span of ``size`` on ``start..end`` and shift it inside ``0..limit``."""
    centre_start = start - (size - (end - start)) // 2
    return max(0, min(centre_start, limit - size))
