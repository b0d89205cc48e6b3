"""The shared crop: same box for every frame, aspect kept, no visible pixel cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.build import build
from pipeline.config import CropConfig
from pipeline.sources.crop import shared_crop
from tests.conftest import MakeConfig, write_set


@pytest.mark.parametrize(
    ("boxes", "size"),
    [
        ([(10, 20, 30, 90)], (100, 100)),
        ([(0, 0, 5, 5), (90, 95, 100, 100)], (100, 100)),
        ([(40, 10, 60, 15)], (200, 100)),
        ([(0, 40, 300, 41)], (300, 500)),
        ([(1, 1, 2, 2)], (7, 13)),
    ],
)
def test_box_contains_union_keeps_aspect_and_stays_inside(
    boxes: list[tuple[int, int, int, int]], size: tuple[int, int]
) -> None:
    width, height = size
    left, top, right, bottom = shared_crop(boxes, width, height, CropConfig(margin=0.05))
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    for b in boxes:
        assert left <= b[0] and top <= b[1] and b[2] <= right and b[3] <= bottom
    crop_w, crop_h = right - left, bottom - top
    # aspect within one pixel of the source's
    assert abs(crop_w * height - crop_h * width) <= max(width, height)


def test_disabled_crop_is_the_whole_frame() -> None:
    assert shared_crop([(10, 10, 20, 20)], 64, 48, CropConfig(enabled=False)) == (0, 0, 64, 48)


def test_outputs_share_one_frame_and_keep_every_visible_pixel(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    paths = write_set(raw, "Leg-Soleus")
    build(make_config(png={"mode": "lossless"}))  # exact pixels, so alpha can be summed
    sizes = set()
    for k, source_path in enumerate(paths, start=1):
        with Image.open(out / f"muscles/png/Leg-Soleus-{k}.png") as im:
            got = np.asarray(im.convert("RGBA"))
        sizes.add(got.shape)
        source = np.asarray(Image.open(source_path).convert("RGBA"))
        # every visible source pixel survives: same total alpha mass
        assert int(got[..., 3].sum()) == int(source[..., 3].sum())
    assert len(sizes) == 1
    (shape,) = sizes
    assert shape[0] == shape[1]  # square source, square output
    assert shape[0] < 120  # the crop did crop


def test_object_does_not_jump_between_frames(raw: Path, out: Path, make_config: MakeConfig) -> None:
    """A fixed bar at the source centre must sit at the same output pixels in every frame."""
    write_set(raw, "Leg-Soleus")
    build(make_config())
    columns = set()
    for k in range(1, 17):
        with Image.open(out / f"muscles/png/Leg-Soleus-{k}.png") as im:
            pixels = np.asarray(im.convert("RGBA"))
        bar = (pixels[..., 0] > 130) & (pixels[..., 1] < 100) & (pixels[..., 3] == 255)
        columns.add(tuple(np.flatnonzero(bar.any(axis=0))))
    assert len(columns) == 1
