"""Pixel encoders shared by the stages: resize, PNG (palette or lossless), WebP, AVIF.

Each returns bytes so that a stage can write them atomically and report their size.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import oxipng
from PIL import Image

from pipeline.config import PngConfig, Resample
from pipeline.quantize import QualityTooLow, libimagequant_version, quantize_shared


@dataclass(frozen=True)
class PngPalette:
    """pngquant's knobs: the quality range (``--quality min-max``), ``--speed`` and
    the dithering level (``--floyd``)."""

    quality_min: int
    quality_max: int
    speed: int
    dithering: float


def fit_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Largest size inside ``box_w`` x ``box_h`` with the same aspect; never upscales."""
    scale = min(box_w / width, box_h / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def width_size(width: int, height: int, target_w: int) -> tuple[int, int]:
    """Size for a ``srcset`` width, aspect kept."""
    return target_w, max(1, math.floor(height * target_w / width + 0.5))


_FILTERS = {
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def resize(
    image: Image.Image, size: tuple[int, int], resample: Resample = "lanczos"
) -> Image.Image:
    """Resize with one of Pillow's filters (Lanczos unless told); Pillow premultiplies
    RGBA for it, so edges get no dark fringe."""
    if image.size == size:
        return image
    return image.resize(size, _FILTERS[resample])


def to_output_mode(image: Image.Image, has_alpha: bool) -> Image.Image:
    """RGBA for transparent sets, RGB for opaque ones (no useless alpha channel)."""
    return image if has_alpha else image.convert("RGB")


Params = tuple[tuple[str, Any], ...]


def png_params(cfg: PngConfig) -> Params:
    """What a PNG's bytes depend on, for its fingerprint (the quantiser's settings
    only in palette mode, so a lossless build ignores them)."""
    params: Params = (("mode", cfg.mode), ("optimize_level", cfg.optimize_level))
    if cfg.mode == "palette":
        params += (
            ("quality_min", cfg.quality_min),
            ("quality_max", cfg.quality_max),
            ("speed", cfg.speed),
            ("dithering", cfg.dithering),
        )
    return params


def png_versions(cfg: PngConfig) -> Params:
    """The encoder versions a PNG depends on besides oxipng (see OutputSpec.versions)."""
    return (("libimagequant", libimagequant_version()),) if cfg.mode == "palette" else ()


def png_from_params(image: Image.Image, has_alpha: bool, params: Params) -> bytes:
    """The PNG that :func:`png_params` describes (stages keep only the params)."""
    p = dict(params)
    palette = None
    if p["mode"] == "palette":
        palette = PngPalette(p["quality_min"], p["quality_max"], p["speed"], p["dithering"])
    return png_bytes(image, has_alpha, p["optimize_level"], palette)


def png_bytes(
    image: Image.Image, has_alpha: bool, level: int, palette: PngPalette | None = None
) -> bytes:
    """A palette PNG when ``palette`` is given and its quality floor is met (the
    smallest palette up to 256 colours reaching ``quality_max``, as pngquant picks),
    otherwise lossless; either way oxipng compresses it."""
    if palette is not None:
        with contextlib.suppress(QualityTooLow):
            return _palette_png(image, level, palette)
    return lossless_png_bytes(image, has_alpha, level)


def _palette_png(image: Image.Image, level: int, palette: PngPalette) -> bytes:
    rgba = np.asarray(image.convert("RGBA"))
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
    colours = [[int(c) for c in entry] for entry in quantised.palette]
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
    data: bytes = raw.create_optimized_png(level=level, filter=[oxipng.RowFilter.Entropy])
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


def webp_bytes(image: Image.Image, has_alpha: bool, quality: int, method: int) -> bytes:
    buffer = io.BytesIO()
    to_output_mode(image, has_alpha).save(buffer, format="WEBP", quality=quality, method=method)
    return buffer.getvalue()


def avif_bytes(image: Image.Image, has_alpha: bool, quality: int, speed: int) -> bytes:
    buffer = io.BytesIO()
    to_output_mode(image, has_alpha).save(buffer, format="AVIF", quality=quality, speed=speed)
    return buffer.getvalue()
