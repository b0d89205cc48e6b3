"""Pixel encoders shared by the stages: resize, PNG (oxipng), WebP, AVIF.

Each returns bytes so that a stage can write them atomically and report their size.
"""

from __future__ import annotations

import io
import math

import numpy as np
import oxipng
from PIL import Image


def fit_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Largest size inside ``box_w`` x ``box_h`` with the same aspect; never upscales."""
    scale = min(box_w / width, box_h / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def width_size(width: int, height: int, target_w: int) -> tuple[int, int]:
    """Size for a ``srcset`` width, aspect kept."""
    return target_w, max(1, math.floor(height * target_w / width + 0.5))


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos resize; Pillow premultiplies RGBA for it, so edges get no dark fringe."""
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def to_output_mode(image: Image.Image, has_alpha: bool) -> Image.Image:
    """RGBA for transparent sets, RGB for opaque ones (no useless alpha channel)."""
    return image if has_alpha else image.convert("RGB")


def png_bytes(image: Image.Image, has_alpha: bool, level: int) -> bytes:
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
