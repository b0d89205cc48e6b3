"""Pixel encoders shared by the stages: resize, PNG (palette or lossless), WebP, AVIF.

Each returns bytes so that a stage can write them atomically and report their size.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import oxipng
from PIL import Image

from pipeline.codecs import Params, Settings
from pipeline.codecs.quantize import QualityTooLow, quantize_shared

Resample = Literal["box", "hamming", "bicubic", "lanczos"]
_FILTERS = {
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class PngSettings(Settings):
    """A PNG's settings: ``palette`` quantises with pngquant's knobs (the quality
    range ``--quality min-max``, ``--speed``, the dithering level ``--floyd``);
    ``lossless`` keeps every pixel. oxipng compresses both at ``optimize_level``."""

    mode: Literal["palette", "lossless"]
    optimize_level: int
    quality_min: int
    quality_max: int
    speed: int
    dithering: float
    resample: Resample | None = None  # the shrink's filter; None: not resized by it

    def params(self) -> Params:
        """The quantiser's knobs count only in palette mode: a lossless build
        ignores them."""
        params = super().params()
        if self.mode == "palette":
            return params
        return tuple(p for p in params if p[0] not in _QUANTISER_KNOBS)


_QUANTISER_KNOBS = ("quality_min", "quality_max", "speed", "dithering")


@dataclass(frozen=True)
class WebpSettings(Settings):
    quality: int
    method: int
    resample: Resample | None = None


@dataclass(frozen=True)
class AvifSettings(Settings):
    quality: int
    speed: int
    resample: Resample | None = None


def fit_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Largest size inside ``box_w`` x ``box_h`` with the same aspect; never upscales."""
    scale = min(box_w / width, box_h / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def width_size(width: int, height: int, target_w: int) -> tuple[int, int]:
    """Size for a ``srcset`` width, aspect kept."""
    return target_w, max(1, math.floor(height * target_w / width + 0.5))


def resize(
    image: Image.Image, size: tuple[int, int], resample: Resample = "lanczos"
) -> Image.Image:
    """Resize with one of Pillow's filters (Lanczos unless told); Pillow
    premultiplies RGBA for it, so edges get no dark fringe.

    An RGBA image without a see-through pixel is resampled as RGB: premultiplying
    by an alpha of 255 changes nothing and a plane of 255 resamples to 255, so the
    pixels are the same, for a fifth to a third less time (opaque sets, thumbnails and
    animation frames)."""
    if image.size == size:
        return image
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        rgb = image.convert("RGB").resize(size, _FILTERS[resample])
        return rgb.convert("RGBA")
    return image.resize(size, _FILTERS[resample])


def to_output_mode(image: Image.Image, has_alpha: bool) -> Image.Image:
    """RGBA for transparent sets, RGB for opaque ones (no useless alpha channel)."""
    return image if has_alpha else image.convert("RGB")


def png_bytes(image: Image.Image, has_alpha: bool, settings: PngSettings) -> bytes:
    """A palette PNG in palette mode when its quality floor is met (the smallest
    palette up to 256 colours reaching ``quality_max``, as pngquant picks),
    otherwise lossless; either way oxipng compresses it."""
    if settings.mode == "palette":
        with contextlib.suppress(QualityTooLow):
            return _palette_png(image, settings)
    return lossless_png_bytes(image, has_alpha, settings.optimize_level)


def _palette_png(image: Image.Image, palette: PngSettings) -> bytes:
    rgba = np.asarray(image if image.mode == "RGBA" else image.convert("RGBA"))
    quantised = quantize_shared(
        lambda: (rgba,),
        quality=(palette.quality_min, palette.quality_max),
        speed=palette.speed,
        dithering=palette.dithering,
    )
    indices = quantised.indices[0]
    clear = np.flatnonzero(quantised.palette[:, 3] == 0)
    if clear.size:
        # Dithering spreads edge error into the background as faint alpha specks;
        # what was fully transparent stays so (and compresses to runs).
        indices = np.where(rgba[..., 3] == 0, np.uint8(clear[0]), indices)
    colours = quantised.palette.tolist()
    raw = oxipng.RawImage(
        np.ascontiguousarray(indices).tobytes(),
        image.width,
        image.height,
        color_type=oxipng.ColorType.indexed(colours),
        bit_depth=8,
    )
    # One row filter, oxipng's entropy heuristic, instead of the level's trial of
    # several: on indexed renders it makes the same bytes (within 0.5 %) in two
    # thirds of oxipng's time (docs/web-weight.md, "Build time").
    data: bytes = raw.create_optimized_png(
        level=palette.optimize_level, filter=[oxipng.RowFilter.Entropy]
    )
    return data


def lossless_png_bytes(image: Image.Image, has_alpha: bool, level: int) -> bytes:
    """Lossless PNG: oxipng picks the smallest exact colour type, palette included."""
    out = to_output_mode(image, has_alpha)
    colour = oxipng.ColorType.rgba() if has_alpha else oxipng.ColorType.rgb()
    raw = oxipng.RawImage(
        np.ascontiguousarray(np.asarray(out)).tobytes(),
        out.width,
        out.height,
        color_type=colour,
        bit_depth=8,
    )
    data: bytes = raw.create_optimized_png(level=level)
    return data


def webp_bytes(image: Image.Image, has_alpha: bool, settings: WebpSettings) -> bytes:
    buffer = io.BytesIO()
    out = to_output_mode(image, has_alpha)
    out.save(buffer, format="WEBP", quality=settings.quality, method=settings.method)
    return buffer.getvalue()


def avif_bytes(image: Image.Image, has_alpha: bool, settings: AvifSettings) -> bytes:
    buffer = io.BytesIO()
    out = to_output_mode(image, has_alpha)
    out.save(buffer, format="AVIF", quality=settings.quality, speed=settings.speed)
    return buffer.getvalue()
