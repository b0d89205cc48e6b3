"""The per-set stages. Each is a module with ``NAME``, ``VERSION``, ``plan`` and ``render``.

``plan`` names every output and its pixel size without decoding anything;
``render`` encodes one planned output from the set's cropped frames and returns
what it wrote. Bump ``VERSION`` when a change alters a stage's bytes, so existing
outputs are rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from PIL import Image

from pipeline.config import Config, Resample
from pipeline.encode import avif_bytes, png_from_params, resize, webp_bytes
from pipeline.outputs import OutputSpec, Written

T = TypeVar("T")
Params = tuple[tuple[str, object], ...]


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
        self, set_id: str, frames: Sequence[int], size: tuple[int, int], cfg: Config
    ) -> list[OutputSpec]: ...

    def render(
        self, spec: OutputSpec, pixels: SetPixels, cfg: Config, out_root: Path
    ) -> Written: ...


def all_stages() -> dict[str, Stage]:
    """Stages in build order, by CLI name."""
    from pipeline.stages import animation, thumbnails, variants

    return {"thumbs": thumbnails, "variants": variants, "animate": animation}


def lossy_formats(cfg: Config) -> list[tuple[str, Params]]:
    """The WebP/AVIF copies made of every still (full size, srcset widths and, with
    ``variants.thumbs``, the thumbnail), each with the values that change its bytes."""
    v = cfg.variants
    formats: list[tuple[str, Params]] = []
    if v.webp:
        formats.append(("webp", (("quality", v.webp_quality), ("method", v.webp_method))))
    if v.avif:
        formats.append(("avif", (("quality", v.avif_quality), ("speed", v.avif_speed))))
    return formats


def still_bytes(spec: OutputSpec, pixels: SetPixels) -> tuple[str, bytes]:
    """One frame at the planned size, encoded in the format its name ends with."""
    (k,) = spec.frames
    resample: Resample = dict(spec.params).get("resample", "lanczos")
    image = pixels.resized(k, (spec.width, spec.height), resample)
    fmt = spec.relpath.suffix.lstrip(".")
    if fmt == "png":
        return fmt, png_from_params(image, pixels.has_alpha, spec.params)
    if fmt == "webp":
        return fmt, webp_bytes(image, pixels.has_alpha, spec.param("quality"), spec.param("method"))
    if fmt == "avif":
        return fmt, avif_bytes(image, pixels.has_alpha, spec.param("quality"), spec.param("speed"))
    raise ValueError(f"unknown still format {fmt}")  # pragma: no cover - plans make the above
