"""The web benchmark's corpus looks like real renders: what bench/web.py relies on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from bench.renders import (
    SUPERSAMPLE,
    angle,
    colour_count,
    draw,
    drawn_at,
    muscle,
    render_set,
    to_pixels,
)


def test_a_frame_has_soft_edges_and_many_colours() -> None:
    m = muscle(7)
    pixels = to_pixels(draw(m, m.start, 240), transparent=True)
    alpha = pixels[..., 3]
    assert ((alpha > 0) & (alpha < 255)).sum() > 100  # anti-aliased silhouette
    assert (pixels[alpha == 0] == 0).all()  # clear pixels are clear
    visible = np.flatnonzero((alpha > 0).any(axis=1))
    assert 0.6 * 240 < visible[-1] - visible[0] < 0.9 * 240  # fills the canvas's height
    assert colour_count(pixels) > 1000  # shading and fibres, not flat colour


def test_the_muscle_turns_and_the_set_is_written(tmp_path: Path) -> None:
    m = muscle(3)
    first, quarter = (to_pixels(draw(m, m.start + a, 120), False) for a in (0, math.pi / 2))
    assert first.shape == (120, 120, 3) and not np.array_equal(first, quarter)
    counts = render_set(tmp_path, "S", 3, transparent=False, size=64)
    assert len(counts) == 16
    with Image.open(tmp_path / "S-16.png") as image:
        assert image.mode == "RGB" and image.size == (64, 64)
        assert image.getpixel((0, 0)) == (255, 255, 255)  # on white


def test_a_drawn_reference_is_the_mean_of_the_samples_each_pixel_covers() -> None:
    """The reference for a resized output: the part of the canvas inside the box,
    drawn SUPERSAMPLE times denser and averaged over each output pixel, on the page
    colour (RGBA sets) or white (RGB sets)."""
    m, k, canvas, box = muscle(5), 3, 64, (16, 8, 48, 40)
    page = (200, 220, 240)
    n = SUPERSAMPLE * 2  # 32 px of box drawn to 16 px: 2 x SUPERSAMPLE samples a side
    dense = draw(m, angle(m, k), canvas * SUPERSAMPLE)
    region = dense[
        box[1] * SUPERSAMPLE : box[3] * SUPERSAMPLE, box[0] * SUPERSAMPLE : box[2] * SUPERSAMPLE
    ]
    for transparent, under in ((True, page), (False, (255, 255, 255))):
        alpha = region[..., 3:]
        shown = region[..., :3] * alpha + (1 - alpha) * np.array(under) / 255
        want = shown.reshape(16, n, 16, n, 3).mean(axis=(1, 3)) * 255
        got = drawn_at(5, transparent, k, canvas, box, {(16, 16)}, page)[(16, 16)]
        assert got.shape == (16, 16, 3) and got.dtype == np.uint8
        assert np.abs(got - want).max() <= 1
        assert tuple(got[0, 0]) == under  # nothing drawn in the corner
