"""Animated GIF encoding: matte, one shared palette, per-frame rectangles, LZW.

Why not ``Image.save(save_all=True)``: Pillow quantises each frame on its own
(median cut: about 20 dB on these renders, visible banding), decides disposal and
transparency by itself, and cannot be told to keep a transparent background while
reusing unchanged pixels. Here every choice is explicit:

- Semi-transparent edges are blended onto the matte colour (the page background)
  and made opaque, so there is no dark or light halo; a pixel whose blend is within
  ``transparent_tolerance`` of the matte becomes transparent instead (it looks the
  same on the page and compresses better).
- One palette for all frames (libimagequant, see :mod:`pipeline.codecs.quantize`), with
  one transparent entry.
- Transparent sets: each frame covers only its object's box and is cleared after
  it is shown (disposal 2), so the background stays transparent on any page.
- Opaque sets: each frame covers only the box of pixels that changed since the
  previous one, and unchanged pixels in it are transparent (disposal 1), which
  encodes whichever way is smaller.
- Pillow's C LZW encoder compresses each frame's indices (``getdata``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import GifImagePlugin, Image

from pipeline.codecs import Settings
from pipeline.codecs.pixels import mask_bbox, over, rgb
from pipeline.codecs.quantize import quantize_shared

DISPOSE_NONE = 1  # leave the frame in place: the next one draws on top
DISPOSE_BACKGROUND = 2  # clear the frame's rectangle to transparent after showing it


@dataclass(frozen=True)
class GifSettings(Settings):
    """Everything that changes the GIF's bytes besides the pixels. No defaults:
    they are the config's (``animation.gif_*``), kept in one place."""

    duration_ms: int
    background: str  # the matte: the page colour, '#rrggbb'
    colors: int
    quality: int
    dithering: float
    transparent_tolerance: int
    speed: int

    @property
    def matte(self) -> tuple[int, int, int]:
        return rgb(self.background)


def matte(rgba: np.ndarray, colour: tuple[int, int, int], tolerance: int) -> np.ndarray:
    """Blend ``rgba`` onto ``colour``: every pixel ends fully opaque or fully
    transparent. Transparent: alpha 0, or a blend within ``tolerance`` of the matte
    on every channel. Works on contiguous single-channel planes: numpy is several
    times slower on the interleaved ``h`` x ``w`` x 3 layout (this runs twice per
    frame, once per quantiser pass)."""
    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    bands = [np.asarray(band) for band in over(image, colour).split()]
    near = np.ones(bands[0].shape, dtype=bool)
    for band, c in zip(bands, colour, strict=True):
        near &= band >= max(0, c - tolerance)
        near &= band <= min(255, c + tolerance)
    keep = (rgba[..., 3] != 0) & ~near
    mask = keep.astype(np.uint8)
    planes = [Image.fromarray(band * mask) for band in bands]
    planes.append(Image.fromarray(mask * np.uint8(255)))
    return np.asarray(Image.merge("RGBA", planes))


def opaque(rgba: np.ndarray) -> np.ndarray:
    out = np.array(rgba, dtype=np.uint8, copy=True)
    out[..., 3] = 255
    return out


def encode_gif(frames: Sequence[np.ndarray], has_alpha: bool, settings: GifSettings) -> bytes:
    """Frames (``h`` x ``w`` x 4 RGBA, all the same size, in playing order) to a GIF
    that loops forever."""
    if not frames:
        raise ValueError("no frames to encode")
    height, width = frames[0].shape[:2]

    def prepared() -> Iterator[np.ndarray]:
        # Made afresh for each of the quantiser's two passes, one frame at a time:
        # cheaper than keeping a second copy of every frame.
        for f in frames:
            if has_alpha:
                yield matte(f, settings.matte, settings.transparent_tolerance)
            else:
                yield opaque(f)

    # Opaque sets still need one free index: it marks unchanged pixels.
    colours = settings.colors if has_alpha else min(settings.colors, 255)
    shared = quantize_shared(
        prepared,
        max_colors=colours,
        quality=(0, settings.quality),
        speed=settings.speed,
        dithering=settings.dithering,
    )
    palette, indices, clear = _with_transparent_entry(shared.palette, shared.indices, settings)
    delay = max(2, round(settings.duration_ms / 10))  # GIF delays are in 1/100 s
    parts = [_header(width, height, palette, clear)]
    previous: np.ndarray | None = None
    for current in indices:
        if has_alpha:
            box = mask_bbox(current != clear) or (0, 0, 1, 1)
            parts.append(_frame(current, box, delay, DISPOSE_BACKGROUND, clear))
        elif previous is None:
            parts.append(_frame(current, (0, 0, width, height), delay, DISPOSE_NONE, clear))
        else:
            changed = current != previous
            box = mask_bbox(changed) or (0, 0, 1, 1)
            plain = _frame(current, box, delay, DISPOSE_NONE, clear)
            holes = np.where(changed, current, np.uint8(clear))
            masked = _frame(holes, box, delay, DISPOSE_NONE, clear)
            parts.append(min(plain, masked, key=len))
        previous = current
    parts.append(b";")
    return b"".join(parts)


def _with_transparent_entry(
    palette: np.ndarray, indices: list[np.ndarray], settings: GifSettings
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """The palette as RGB with exactly one transparent index (shown as the matte
    colour by viewers that ignore transparency), and the frames' indices."""
    alpha = palette[:, 3]
    transparent = np.flatnonzero(alpha < 128)
    rgb = palette[:, :3].copy()
    if transparent.size:
        clear = int(transparent[0])
        if transparent.size > 1:  # libimagequant makes one, but never rely on it
            lut = np.arange(len(palette), dtype=np.uint8)
            lut[transparent] = clear
            indices = [lut[i] for i in indices]
    else:
        clear = len(rgb)
        rgb = np.vstack([rgb, np.zeros((1, 3), dtype=np.uint8)])
    rgb[clear] = settings.matte
    return rgb, indices, clear


def _header(width: int, height: int, palette: np.ndarray, clear: int) -> bytes:
    bits = max(1, int(np.ceil(np.log2(max(2, len(palette))))))
    table = np.zeros((1 << bits, 3), dtype=np.uint8)
    table[: len(palette)] = palette
    screen = struct.pack("<HHBBB", width, height, 0x80 | ((bits - 1) << 4) | (bits - 1), clear, 0)
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"
    return b"GIF89a" + screen + table.tobytes() + loop


def _frame(
    indices: np.ndarray, box: tuple[int, int, int, int], delay: int, disposal: int, clear: int
) -> bytes:
    left, top, right, bottom = box
    control = b"!\xf9\x04" + struct.pack("<BHBB", (disposal << 2) | 1, delay, clear, 0)
    region = np.ascontiguousarray(indices[top:bottom, left:right])
    image = Image.frombytes("L", (right - left, bottom - top), region.tobytes())
    # getdata: image descriptor (no local colour table), LZW data, terminator.
    return control + b"".join(GifImagePlugin.getdata(image, offset=(left, top)))
