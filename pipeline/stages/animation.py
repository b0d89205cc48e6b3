"""The rotating image: ``<SetId>.gif`` with ``<SetId>.webm`` and ``<SetId>.mp4`` beside it.

The theme plays the WebM/MP4 in ``<video autoplay loop muted playsinline>`` and
falls back to the GIF, so all three are always made, from the same cropped frames
in orientation order, at the same even size. Optional (``animation.webp``,
``animation.sprite``): an animated ``<SetId>.webp``, and a sprite sheet
``<SetId>-sprite.webp`` (or ``.png``) with its frame list ``<SetId>-sprite.json``
for a drag-to-rotate viewer.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, overload

import numpy as np
import PIL
from PIL import Image

from pipeline.config import AnimationConfig, Config, parse_colour
from pipeline.encode import resize, width_size
from pipeline.errors import OutputError
from pipeline.gif import GifSettings, encode_gif
from pipeline.outputs import (
    OutputSpec,
    Written,
    atomic_path,
    resolve_inside,
    write_bytes_atomic,
)
from pipeline.quantize import libimagequant_version
from pipeline.stages import SetPixels
from pipeline.video import Mp4Settings, WebmSettings, encode_mp4, encode_webm, encoder_timeout

NAME = "animate"
VERSION = 2  # 2: the WebM's colour is composited on the page colour
ENCODER_KINDS: frozenset[str] = frozenset({"webm", "mp4"})

Params = tuple[tuple[str, Any], ...]


def animation_size(width: int, height: int, cfg: AnimationConfig) -> tuple[int, int]:
    """The configured width (never upscaled), aspect kept, rounded down to even
    numbers because 4:2:0 video needs them; the GIF uses the same size."""
    if cfg.width < width:
        width, height = width_size(width, height, cfg.width)
    return max(2, width - width % 2), max(2, height - height % 2)


def sprite_layout(count: int, size: tuple[int, int], cfg: AnimationConfig) -> dict[str, int]:
    """Cell size and grid of the sprite sheet (cells never larger than the animation)."""
    width, height = size
    cell_w = min(cfg.sprite_width, width)
    cell_h = max(1, round(height * cell_w / width))
    columns = min(cfg.sprite_columns, count)
    rows = math.ceil(count / columns)
    return {
        "frame_width": cell_w,
        "frame_height": cell_h,
        "columns": columns,
        "rows": rows,
        "width": cell_w * columns,
        "height": cell_h * rows,
    }


def animation_relpath(cfg: Config, set_id: str, ext: str = "gif") -> PurePosixPath:
    """``<gif_dir>/<SetId>.<ext>``: the theme finds the WebM and MP4 beside the GIF."""
    return PurePosixPath(cfg.paths.gif_dir) / f"{set_id}.{ext}"


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], cfg: Config
) -> list[OutputSpec]:
    a = cfg.animation
    order = tuple(sorted(frames))
    width, height = animation_size(*size, a)
    folder = PurePosixPath(cfg.paths.gif_dir)

    def named(ext: str) -> PurePosixPath:
        return animation_relpath(cfg, set_id, ext)

    timing: Params = (("duration_ms", a.duration_ms),)
    gif: Params = (
        *timing,
        ("background", a.background),
        ("colors", a.gif_colors),
        ("quality", a.gif_quality),
        ("dithering", a.gif_dithering),
        ("transparent_tolerance", a.gif_transparent_tolerance),
        ("speed", a.gif_speed),
    )
    # Encoder versions, apart from the settings (see OutputSpec.versions).
    pillow: Params = (("pillow", PIL.__version__),)
    quantizer: Params = (("libimagequant", libimagequant_version()), *pillow)
    ffmpeg: Params = (("imageio_ffmpeg", _package_version("imageio-ffmpeg")),)
    webm: Params = (
        *timing,
        ("background", a.background),
        ("crf", a.webm_crf),
        ("opaque_crf", a.webm_opaque_crf),
        ("cpu_used", a.webm_cpu_used),
    )
    mp4: Params = (
        *timing,
        ("background", a.background),
        ("crf", a.mp4_crf),
        ("preset", a.mp4_preset),
        ("tune", a.mp4_tune),
        ("subme", a.mp4_subme),
    )
    specs = [
        OutputSpec(NAME, "gif", named("gif"), order, width, height, gif, quantizer),
        OutputSpec(NAME, "webm", named("webm"), order, width, height, webm, ffmpeg),
        OutputSpec(NAME, "mp4", named("mp4"), order, width, height, mp4, ffmpeg),
    ]
    if a.webp:
        webp: Params = (
            *timing,
            ("quality", a.webp_quality),
            ("method", a.webp_method),
        )
        specs.append(OutputSpec(NAME, "webp", named("webp"), order, width, height, webp, pillow))
    if a.sprite:
        layout = sprite_layout(len(order), (width, height), a)
        sheet = PurePosixPath(f"{set_id}-sprite.{a.sprite_format}")
        sprite: Params = (
            *timing,
            *sorted(layout.items()),
            ("image", str(sheet)),
            ("quality", a.sprite_quality),
        )
        sheet_w, sheet_h = layout["width"], layout["height"]
        specs.append(
            OutputSpec(NAME, "sprite", folder / sheet, order, sheet_w, sheet_h, sprite, pillow)
        )
        specs.append(
            OutputSpec(
                NAME,
                "sprite-json",
                folder / f"{set_id}-sprite.json",
                order,
                sheet_w,
                sheet_h,
                sprite,
                pillow,
            )
        )
    return specs


def render(spec: OutputSpec, pixels: SetPixels, cfg: Config, out_root: Path) -> Written:
    a = cfg.animation
    dest = resolve_inside(out_root, spec.relpath)
    background = parse_colour(a.background) or (255, 255, 255)
    fmt = spec.relpath.suffix.lstrip(".")
    if spec.kind == "sprite-json":
        data = _frame_list(spec)
        write_bytes_atomic(dest, data)
        return _written(spec, "json", len(data))
    if spec.kind == "sprite":
        data = _sprite_sheet(spec, pixels, a)
        write_bytes_atomic(dest, data)
        return _written(spec, fmt, len(data))
    frames = animation_frames(pixels, spec.frames, (spec.width, spec.height))
    if spec.kind == "gif":
        data = encode_gif(frames, pixels.has_alpha, gif_settings(a))
        write_bytes_atomic(dest, data)
        return _written(spec, "gif", len(data))
    if spec.kind == "webp":
        data = _animated_webp(frames, pixels.has_alpha, a)
        write_bytes_atomic(dest, data)
        return _written(spec, "webp", len(data))
    timeout = encoder_timeout(cfg.build.encoder_timeout, len(frames), spec.width, spec.height)
    with atomic_path(dest) as tmp, _named(dest, tmp):
        if spec.kind == "webm":
            webm = webm_settings(a, pixels.has_alpha)
            encode_webm(
                frames, a.duration_ms, pixels.has_alpha, background, webm, tmp, timeout=timeout
            )
        elif spec.kind == "mp4":
            encode_mp4(frames, a.duration_ms, background, mp4_settings(a), tmp, timeout=timeout)
        else:  # pragma: no cover - plan() only makes the kinds above
            raise ValueError(f"unknown animation output {spec.kind}")
        size = tmp.stat().st_size
    return _written(spec, fmt, size)


@contextlib.contextmanager
def _named(dest: Path, tmp: Path) -> Iterator[None]:
    """Errors about the temporary file an encoder writes name the output instead:
    the temporary file is gone by the time the user reads the message."""
    try:
        yield
    except OutputError as exc:
        if exc.path != str(tmp):
            raise
        raise OutputError(dest, exc.problem) from exc


class _Trimmed(Sequence[np.ndarray]):
    """Frames that only lose their last row or column, cut on each access: no
    second copy of the set is held while the GIF and the videos are made."""

    def __init__(self, images: list[Image.Image], size: tuple[int, int]) -> None:
        self._images, self._size = images, size

    def __len__(self) -> int:
        return len(self._images)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[np.ndarray]: ...
    def __getitem__(self, index: int | slice) -> np.ndarray | Sequence[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return np.asarray(fit_frame(self._images[index], self._size))


def animation_frames(
    pixels: SetPixels, ks: Sequence[int], size: tuple[int, int]
) -> Sequence[np.ndarray]:
    """The frames at the animation size, in playing order. Resampled frames are
    made once and shared by the GIF, WebM and MP4; frames that only need trimming
    are cut as each encoder reads them, which is nearly free."""
    images = [pixels.frames[k] for k in ks]
    if all(_trims_only(image.size, size) for image in images):
        return _Trimmed(images, size)
    return pixels.derived(
        ("animation", tuple(ks), size),
        lambda: [np.asarray(fit_frame(image, size)) for image in images],
    )


def _trims_only(have: tuple[int, int], want: tuple[int, int]) -> bool:
    return 0 <= have[0] - want[0] <= 1 and 0 <= have[1] - want[1] <= 1


def fit_frame(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to ``size``; when only rounding to even numbers shrank it, trim the
    last row or column instead (it is crop margin), so no pixel is resampled."""
    if _trims_only(image.size, size):
        return image.crop((0, 0, *size)).convert("RGBA")
    return resize(image, size).convert("RGBA")


def _written(spec: OutputSpec, fmt: str, size: int) -> Written:
    return Written(spec.relpath, NAME, spec.kind, fmt, spec.width, spec.height, size)


def _animated_webp(frames: Sequence[np.ndarray], has_alpha: bool, a: AnimationConfig) -> bytes:
    mode = "RGBA" if has_alpha else "RGB"
    images = [Image.fromarray(f, "RGBA").convert(mode) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=a.duration_ms,
        loop=0,
        quality=a.webp_quality,
        method=a.webp_method,
    )
    return buffer.getvalue()


def _sprite_sheet(spec: OutputSpec, pixels: SetPixels, a: AnimationConfig) -> bytes:
    p = dict(spec.params)
    cell = (p["frame_width"], p["frame_height"])
    mode = "RGBA" if pixels.has_alpha else "RGB"
    fill = (0, 0, 0, 0) if pixels.has_alpha else (255, 255, 255)
    sheet = Image.new(mode, (spec.width, spec.height), fill)
    for i, k in enumerate(spec.frames):
        x, y = (i % p["columns"]) * cell[0], (i // p["columns"]) * cell[1]
        sheet.paste(resize(pixels.frames[k], cell).convert(mode), (x, y))
    buffer = io.BytesIO()
    if a.sprite_format == "png":
        sheet.save(buffer, format="PNG", optimize=True)
    else:
        sheet.save(buffer, format="WEBP", quality=p["quality"], method=6)
    return buffer.getvalue()


def _frame_list(spec: OutputSpec) -> bytes:
    """What a drag-to-rotate viewer needs: the sheet, the cell size and where each
    orientation is (as CSS background offsets, in orientation order)."""
    p = dict(spec.params)
    cell_w, cell_h, columns = p["frame_width"], p["frame_height"], p["columns"]
    doc = {
        "image": p["image"],
        "width": spec.width,
        "height": spec.height,
        "frame_width": cell_w,
        "frame_height": cell_h,
        "columns": columns,
        "rows": p["rows"],
        "duration_ms": p["duration_ms"],
        "frames": [
            {"k": k, "x": (i % columns) * cell_w, "y": (i // columns) * cell_h}
            for i, k in enumerate(spec.frames)
        ],
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


@functools.cache
def _package_version(name: str) -> str:
    return importlib.metadata.version(name)


def gif_settings(a: AnimationConfig) -> GifSettings:
    """The GIF encoder's settings from the config (shared with the benchmark, so it
    measures exactly what a build writes)."""
    return GifSettings(
        duration_ms=a.duration_ms,
        matte=parse_colour(a.background) or (255, 255, 255),
        transparent_tolerance=a.gif_transparent_tolerance,
        dithering=a.gif_dithering,
        max_colors=a.gif_colors,
        quality=a.gif_quality,
        speed=a.gif_speed,
    )


def webm_settings(a: AnimationConfig, has_alpha: bool) -> WebmSettings:
    """The VP9 settings from the config: sets with alpha and opaque sets have their
    own CRF (the Safari-safe edges of a transparent set need the lower one)."""
    crf = a.webm_crf if has_alpha else a.webm_opaque_crf
    return WebmSettings(crf=crf, cpu_used=a.webm_cpu_used)


def mp4_settings(a: AnimationConfig) -> Mp4Settings:
    """The x264 settings from the config."""
    tune = None if a.mp4_tune == "none" else a.mp4_tune
    return Mp4Settings(crf=a.mp4_crf, preset=a.mp4_preset, tune=tune, subme=a.mp4_subme)
