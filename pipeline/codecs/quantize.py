"""One palette for a whole animation, from libimagequant.

Pillow's own quantisers (median cut, octree) band visibly on smooth shading; the
``imagequant`` package ships libimagequant (pngquant's and gifski's quantiser) but
its Python helpers only quantise one image at a time. Its C API is exposed through
cffi, so this module builds one histogram over every frame, picks one palette from
it, and remaps each frame with it: the frames of a turning muscle share their
colours, and one palette means one colour table and no palette flicker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from imagequant import ffi, lib

from pipeline.errors import PipelineError


class QualityTooLow(PipelineError):
    """The palette cannot reach the quality floor (``liq_set_quality``'s minimum)."""


@dataclass(frozen=True)
class SharedPalette:
    """The palette (``n`` x RGBA) and each frame remapped to it (``h`` x ``w`` indices)."""

    palette: np.ndarray
    indices: list[np.ndarray]


def libimagequant_version() -> int:
    """The bundled library's version number (e.g. 21800 for 2.18.0), for fingerprints."""
    return int(lib.liq_version())


def quantize_shared(
    frames: Callable[[], Iterable[np.ndarray]],
    *,
    max_colors: int = 256,
    quality: tuple[int, int] = (0, 100),
    speed: int = 3,
    dithering: float = 1.0,
    posterization: int = 0,
) -> SharedPalette:
    """Quantise the frames (each ``h`` x ``w`` x 4, uint8 RGBA) to one shared palette.

    ``frames()`` is called twice, once for the histogram and once for the remap,
    and each pass takes one frame at a time: only one frame need exist at once
    (the caller may make them on the fly). Fully transparent pixels all map to one
    transparent entry, so the caller can use its index as the GIF transparent index.

    With a quality floor (``quality[0] > 0``) it raises :class:`QualityTooLow` when
    the palette, or the remap with its dithering, falls below it: pngquant's
    ``--quality min-max`` semantics, where ``max`` lets fewer colours suffice.
    """
    attr = lib.liq_attr_create()
    if attr == ffi.NULL:
        raise PipelineError("libimagequant: cannot create attributes (out of memory?)")
    histogram = ffi.NULL
    result_p = ffi.new("liq_result**")
    try:
        _check(lib.liq_set_max_colors(attr, max_colors), "max_colors")
        _check(lib.liq_set_quality(attr, quality[0], quality[1]), "quality")
        _check(lib.liq_set_speed(attr, speed), "speed")
        _check(lib.liq_set_min_posterization(attr, posterization), "posterization")
        histogram = lib.liq_histogram_create(attr)
        # One liq_image alive at a time: each keeps a float copy of its pixels
        # (16 bytes a pixel), so 16 live frames would cost 16 of those at once.
        # The last one is kept until the palette is chosen: when it is the only
        # frame (a still PNG), the remap reuses it, with the float copy and edge
        # map the histogram made, as pngquant does: the same indices for a fifth
        # less of the quantiser's time.
        count = 0
        with contextlib.ExitStack() as last:
            for frame in frames():
                last.close()
                buf = np.ascontiguousarray(frame, dtype=np.uint8)
                image = last.enter_context(_liq_image(attr, buf))
                _check(lib.liq_histogram_add_image(histogram, attr, image), "histogram")
                count += 1
            if not count:
                raise ValueError("no frames to quantise")
            if count > 1:
                last.close()
            code = lib.liq_histogram_quantize(histogram, attr, result_p)
            if code == lib.LIQ_QUALITY_TOO_LOW:
                raise QualityTooLow(f"libimagequant: palette below quality {quality[0]}")
            _check(code, "quantize")
            result = result_p[0]
            _check(lib.liq_set_dithering_level(result, dithering), "dithering")
            if count == 1:
                indices = [_remap(result, image, buf)]
            else:
                indices = []
                for frame in frames():
                    buf = np.ascontiguousarray(frame, dtype=np.uint8)
                    with _liq_image(attr, buf) as image:
                        indices.append(_remap(result, image, buf))
        remapped = int(lib.liq_get_remapping_quality(result))
        if 0 <= remapped < quality[0]:
            raise QualityTooLow(f"libimagequant: remap quality {remapped} below {quality[0]}")
        raw = lib.liq_get_palette(result)
        palette = np.array(
            [(e.r, e.g, e.b, e.a) for e in raw.entries[0 : raw.count]], dtype=np.uint8
        )
        return SharedPalette(palette, indices)
    finally:
        if result_p[0] != ffi.NULL:
            lib.liq_result_destroy(result_p[0])
        if histogram != ffi.NULL:
            lib.liq_histogram_destroy(histogram)
        lib.liq_attr_destroy(attr)


def _remap(result: Any, image: Any, buf: np.ndarray) -> np.ndarray:
    """The palette indices of one frame (``buf``, the pixels ``image`` reads)."""
    out = np.empty(buf.shape[:2], dtype=np.uint8)
    code = lib.liq_write_remapped_image(result, image, ffi.from_buffer(out), out.size)
    _check(code, "remap")
    return out


@contextlib.contextmanager
def _liq_image(attr: Any, buf: np.ndarray) -> Iterator[Any]:
    height, width = buf.shape[:2]
    image = lib.liq_image_create_rgba(attr, ffi.from_buffer(buf), width, height, 0)
    if image == ffi.NULL:
        raise PipelineError("libimagequant: cannot read a frame (bad size?)")
    try:
        yield image
    finally:
        lib.liq_image_destroy(image)


_ERRORS = {
    "LIQ_QUALITY_TOO_LOW": "quality too low",
    "LIQ_VALUE_OUT_OF_RANGE": "value out of range",
    "LIQ_OUT_OF_MEMORY": "out of memory",
    "LIQ_ABORTED": "aborted",
    "LIQ_BITMAP_NOT_AVAILABLE": "bitmap not available",
    "LIQ_BUFFER_TOO_SMALL": "buffer too small",
    "LIQ_INVALID_POINTER": "invalid pointer",
    "LIQ_UNSUPPORTED": "unsupported",
}


def _check(code: int, step: str) -> None:
    if code == lib.LIQ_OK:
        return
    name = next((v for k, v in _ERRORS.items() if getattr(lib, k, None) == code), str(code))
    raise PipelineError(f"libimagequant: {step} failed: {name}")
