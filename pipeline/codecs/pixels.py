"""Pixel helpers shared by the codecs and the frame reader: colours, blending, boxes."""

from __future__ import annotations

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)


def parse_colour(value: str) -> tuple[int, int, int] | None:
    """``'#rrggbb'`` to an RGB tuple, or ``None`` when it is not one."""
    if len(value) != 7 or not value.startswith("#"):
        return None
    try:
        return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
    except ValueError:
        return None


def rgb(value: str) -> tuple[int, int, int]:
    """A colour the config has validated, as an RGB tuple."""
    colour = parse_colour(value)
    if colour is None:
        raise ValueError(f"not a colour like '#ffffff': {value!r}")
    return colour


def over(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """An RGBA ``image`` over an opaque ``colour``, as an RGB image.

    Pillow's masked paste rounds ``(rgb * a + colour * (255 - a)) / 255`` to the
    nearest integer, exactly as a float blend would (checked against every colour
    and alpha value in the tests), at about a quarter of numpy's cost. An opaque
    image is its own blend: it skips the paste (opaque sets' MP4 frames)."""
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return image.convert("RGB")
    out = Image.new("RGB", image.size, colour)
    out.paste(image.convert("RGB"), (0, 0), alpha)
    return out


def composite(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """``rgba`` (``h`` x ``w`` x 4, uint8) over an opaque ``colour``, as RGB uint8."""
    return np.asarray(over(Image.fromarray(np.ascontiguousarray(rgba), "RGBA"), colour))


def mask_bbox(mask: np.ndarray) -> Box | None:
    """The smallest box holding every true pixel of ``mask``; ``None`` if none is."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
