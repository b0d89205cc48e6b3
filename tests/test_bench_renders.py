"""The web benchmark's corpus looks like real renders: what bench/web.py relies on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from bench.renders import colour_count, draw, muscle, render_set, to_pixels


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
