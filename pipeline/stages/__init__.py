"""The per-set stages. Each is a module with ``NAME``, ``VERSION``, ``plan`` and ``render``.

``plan`` names every output (:mod:`pipeline.naming`), with its pixel size and its
encoder's typed settings, without decoding anything; ``render`` encodes one
planned output from the set's cropped frames and those settings alone (never the
config), and returns the output with its size. Bump ``VERSION`` when a change
alters a stage's bytes, so existing outputs are rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from PIL import Image

from pipeline.codecs import Params
from pipeline.codecs.encode import (
    AvifSettings,
    PngSettings,
    Resample,
    WebpSettings,
    avif_bytes,
    png_bytes,
    resize,
    webp_bytes,
)
from pipeline.codecs.quantize import libimagequant_version
from pipeline.config import Config, PngConfig
from pipeline.state.outputs import Output, resolve_inside, write_bytes_atomic

T = TypeVar("T")


@dataclass(frozen=True)
class SetPixels:
    """The decoded, cropped frames of one set, shared by every stage."""

    set_id: str
    has_alpha: bool
    frames: Mapping[int, Image.Image]  # orientation number -> 8-bit RGBA, cropped
    # Resizes of the last frame asked for, by size: the thumbnail PNG, WebP and
    # AVIF (and each srcset width's formats) share one resample. One frame's
    # worth only, so memory stays flat; the runner renders a frame's outputs
    # together.
    _resized: dict[tuple[int, tuple[int, int], Resample], Image.Image] = field(
        default_factory=dict, compare=False, repr=False
    )
    _derived: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def resized(self, k: int, size: tuple[int, int], resample: Resample = "lanczos") -> Image.Image:
        """Frame ``k`` at ``size`` with the ``resample`` filter, resampled once
        however many outputs use it."""
        image = self.frames[k]
        if image.size == size:
            return image
        key = (k, size, resample)
        cached = self._resized.get(key)
        if cached is None:
            if any(other != k for other, _, _ in self._resized):
                self._resized.clear()
            cached = self._resized[key] = resize(image, size, resample)
        return cached

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, kept until a different ``key`` is asked for: the GIF, WebM
        and MP4 share one list of animation-size frames instead of resizing the
        set three times."""
        if key not in self._derived:
            self._derived.clear()
            self._derived[key] = make()
        value: T = self._derived[key]
        return value


class Stage(Protocol):
    NAME: str
    VERSION: int
    # Kinds whose render runs a video encoder (ffmpeg): the runner bounds how many
    # run at once across workers, for memory.
    ENCODER_KINDS: frozenset[str]

    def plan(
        self,
        set_id: str,
        frames: Sequence[int],
        size: tuple[int, int],
        has_alpha: bool,
        cfg: Config,
    ) -> list[Output]: ...

    def render(
        self, output: Output, pixels: SetPixels, out_root: Path, encoder_timeout: float | None
    ) -> Output: ...


def all_stages() -> dict[str, Stage]:
    """Stages in build order, by CLI name."""
    from pipeline.stages import animation, thumbnails, variants

    return {"thumbs": thumbnails, "variants": variants, "animate": animation}


def lossy_formats(cfg: Config) -> list[tuple[str, WebpSettings | AvifSettings]]:
    """The WebP/AVIF copies made of every still (full size, srcset widths and, with
    ``variants.thumbs``, the thumbnail), each with its settings."""
    v = cfg.variants
    formats: list[tuple[str, WebpSettings | AvifSettings]] = []
    if v.webp:
        formats.append(("webp", WebpSettings(v.webp_quality, v.webp_method)))
    if v.avif:
        formats.append(("avif", AvifSettings(v.avif_quality, v.avif_speed)))
    return formats


def png_settings(png: PngConfig) -> PngSettings:
    return PngSettings(
        png.mode, png.optimize_level, png.quality_min, png.quality_max, png.speed, png.dithering
    )


def png_versions(settings: PngSettings) -> Params:
    """The encoder versions a PNG depends on besides oxipng (see Output.versions)."""
    return (("libimagequant", libimagequant_version()),) if settings.mode == "palette" else ()


def render_still(
    output: Output, pixels: SetPixels, out_root: Path, encoder_timeout: float | None = None
) -> Output:
    """One frame at the planned size, encoded with the output's settings and
    written atomically: the ``render`` of the thumbnails and variants stages (no
    encoder process, so no timeout)."""
    (k,) = output.frames
    settings = output.settings
    assert isinstance(settings, PngSettings | WebpSettings | AvifSettings), output
    image = pixels.resized(k, (output.width, output.height), settings.resample or "lanczos")
    if isinstance(settings, PngSettings):
        data = png_bytes(image, pixels.has_alpha, settings)
    elif isinstance(settings, WebpSettings):
        data = webp_bytes(image, pixels.has_alpha, settings)
    elif isinstance(settings, AvifSettings):
        data = avif_bytes(image, pixels.has_alpha, settings)
    else:  # pragma: no cover - plans make the above
        raise ValueError(f"{output.relpath}: no still encoder for {settings!r}")
    write_bytes_atomic(resolve_inside(out_root, output.relpath), data)
    return output.written(len(data))
