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
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import overload

import numpy as np
import PIL
from PIL import Image

from pipeline import naming
from pipeline.codecs import Params, Settings
from pipeline.codecs.encode import resize, width_size
from pipeline.codecs.gif import GifSettings, encode_gif
from pipeline.codecs.quantize import libimagequant_version
from pipeline.codecs.video import (
    Mp4Settings,
    WebmSettings,
    encode_mp4,
    encode_webm,
    ffmpeg_version,
)
from pipeline.codecs.video import encoder_timeout as encoder_timeout_for
from pipeline.config import AnimationConfig, Config
from pipeline.errors import OutputError
from pipeline.stages import SetPixels
from pipeline.state.outputs import Output, atomic_path, resolve_inside, write_bytes_atomic

NAME = "animate"
VERSION = 2  # 2: the WebM's colour is composited on the page colour
ENCODER_KINDS: frozenset[str] = frozenset({"webm", "mp4"})


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


@dataclass(frozen=True)
class AnimatedWebpSettings(Settings):
    duration_ms: int
    quality: int
    method: int


@dataclass(frozen=True)
class SpriteSettings(Settings):
    """The sheet's layout (:func:`sprite_layout`, fields in name order), where the
    sheet is, and its WebP quality."""

    duration_ms: int
    columns: int
    frame_height: int
    frame_width: int
    height: int
    rows: int
    width: int
    image: str
    quality: int


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], has_alpha: bool, cfg: Config
) -> list[Output]:
    a = cfg.animation
    order = tuple(sorted(frames))
    width, height = animation_size(*size, a)

    def named(ext: str) -> PurePosixPath:
        return naming.animation(cfg.paths, set_id, ext)

    # Encoder versions, apart from the settings (see Output.versions).
    pillow: Params = (("pillow", PIL.__version__),)
    quantizer: Params = (("libimagequant", libimagequant_version()), *pillow)
    ffmpeg: Params = (("ffmpeg", ffmpeg_version()),)
    gif = gif_settings(a)
    webm, mp4 = webm_settings(a, has_alpha), mp4_settings(a)
    outputs = [
        Output(NAME, "gif", named("gif"), order, width, height, gif, quantizer),
        Output(NAME, "webm", named("webm"), order, width, height, webm, ffmpeg),
        Output(NAME, "mp4", named("mp4"), order, width, height, mp4, ffmpeg),
    ]
    if a.webp:
        webp = AnimatedWebpSettings(a.duration_ms, a.webp_quality, a.webp_method)
        outputs.append(Output(NAME, "webp", named("webp"), order, width, height, webp, pillow))
    if a.sprite:
        layout = sprite_layout(len(order), (width, height), a)
        sheet = naming.sprite(cfg.paths, set_id, a.sprite_format)
        sprite = SpriteSettings(a.duration_ms, **layout, image=sheet.name, quality=a.sprite_quality)
        sheet_w, sheet_h = layout["width"], layout["height"]
        outputs.append(Output(NAME, "sprite", sheet, order, sheet_w, sheet_h, sprite, pillow))
        frame_list = naming.sprite(cfg.paths, set_id, "json")
        outputs.append(
            Output(NAME, "sprite-json", frame_list, order, sheet_w, sheet_h, sprite, pillow)
        )
    return outputs


def render(
    output: Output, pixels: SetPixels, out_root: Path, encoder_timeout: float | None
) -> Output:
    dest = resolve_inside(out_root, output.relpath)
    settings = output.settings
    if isinstance(settings, SpriteSettings) and output.kind == "sprite-json":
        data = _frame_list(output, settings)
    elif isinstance(settings, SpriteSettings):
        data = _sprite_sheet(output, settings, pixels)
    elif isinstance(settings, GifSettings | AnimatedWebpSettings):
        frames = animation_frames(pixels, output.frames, (output.width, output.height))
        if isinstance(settings, GifSettings):
            data = encode_gif(frames, pixels.has_alpha, settings)
        else:
            data = _animated_webp(frames, pixels.has_alpha, settings)
    else:
        return _video(output, settings, pixels, dest, encoder_timeout)
    write_bytes_atomic(dest, data)
    return output.written(len(data))


def _video(
    output: Output,
    settings: Settings | None,
    pixels: SetPixels,
    dest: Path,
    encoder_timeout: float | None,
) -> Output:
    """The WebM or MP4: ffmpeg writes the file itself (atomically, under a
    timeout sized to the work unless ``build.encoder_timeout`` sets it)."""
    frames = animation_frames(pixels, output.frames, (output.width, output.height))
    timeout = encoder_timeout_for(encoder_timeout, len(frames), output.width, output.height)
    with atomic_path(dest) as tmp, _named(dest, tmp):
        if isinstance(settings, WebmSettings):
            encode_webm(frames, pixels.has_alpha, settings, tmp, timeout=timeout)
        elif isinstance(settings, Mp4Settings):
            encode_mp4(frames, settings, tmp, timeout=timeout)
        else:  # pragma: no cover - plan() only makes the kinds above
            raise ValueError(f"unknown animation output {output.kind}")
        size = tmp.stat().st_size
    return output.written(size)


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
    out = image.crop((0, 0, *size)) if _trims_only(image.size, size) else resize(image, size)
    return out if out.mode == "RGBA" else out.convert("RGBA")  # no needless copy


def _animated_webp(
    frames: Sequence[np.ndarray], has_alpha: bool, settings: AnimatedWebpSettings
) -> bytes:
    mode = "RGBA" if has_alpha else "RGB"
    images = [Image.fromarray(f, "RGBA").convert(mode) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=settings.duration_ms,
        loop=0,
        quality=settings.quality,
        method=settings.method,
    )
    return buffer.getvalue()


def _sprite_sheet(output: Output, p: SpriteSettings, pixels: SetPixels) -> bytes:
    cell = (p.frame_width, p.frame_height)
    mode = "RGBA" if pixels.has_alpha else "RGB"
    fill = (0, 0, 0, 0) if pixels.has_alpha else (255, 255, 255)
    sheet = Image.new(mode, (output.width, output.height), fill)
    for i, k in enumerate(output.frames):
        x, y = (i % p.columns) * cell[0], (i // p.columns) * cell[1]
        sheet.paste(resize(pixels.frames[k], cell).convert(mode), (x, y))
    buffer = io.BytesIO()
    if output.format == "png":
        sheet.save(buffer, format="PNG", optimize=True)
    else:
        sheet.save(buffer, format="WEBP", quality=p.quality, method=6)
    return buffer.getvalue()


def _frame_list(output: Output, p: SpriteSettings) -> bytes:
    """What a drag-to-rotate viewer needs: the sheet, the cell size and where each
    orientation is (as CSS background offsets, in orientation order)."""
    cell_w, cell_h, columns = p.frame_width, p.frame_height, p.columns
    doc = {
        "image": p.image,
        "width": output.width,
        "height": output.height,
        "frame_width": cell_w,
        "frame_height": cell_h,
        "columns": columns,
        "rows": p.rows,
        "duration_ms": p.duration_ms,
        "frames": [
            {"k": k, "x": (i % columns) * cell_w, "y": (i // columns) * cell_h}
            for i, k in enumerate(output.frames)
        ],
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def gif_settings(a: AnimationConfig) -> GifSettings:
    """The encoders' settings from the config (shared with the benchmark, so it
    measures exactly what a build writes)."""
    return GifSettings(
        duration_ms=a.duration_ms,
        background=a.background,
        colors=a.gif_colors,
        quality=a.gif_quality,
        dithering=a.gif_dithering,
        transparent_tolerance=a.gif_transparent_tolerance,
        speed=a.gif_speed,
    )


def webm_settings(a: AnimationConfig, has_alpha: bool) -> WebmSettings:
    """Sets with alpha and opaque sets have their own CRF (the Safari-safe edges
    of a transparent set need the lower one)."""
    crf = a.webm_crf if has_alpha else a.webm_opaque_crf
    return WebmSettings(a.duration_ms, a.background, crf, a.webm_cpu_used)


def mp4_settings(a: AnimationConfig) -> Mp4Settings:
    return Mp4Settings(
        a.duration_ms, a.background, a.mp4_crf, a.mp4_preset, a.mp4_tune, a.mp4_subme
    )
