"""Web variants of every frame.

- ``<SetId>-<k>.png``: the full-size gallery image after the shared crop: a
  palette PNG at pngquant's quality range (``png.mode: palette``), or lossless,
  pixel-identical to the cropped source (``png.mode: lossless``, and the fallback
  when a frame cannot reach ``png.quality_min``); oxipng compresses both.
- ``<SetId>-<k>.webp`` (and ``.avif`` when enabled), plus the same for the thumbnail
  (``-thumb.webp``) so a ``<picture>`` can offer them.
- ``<SetId>-<k>-<w>w.webp`` (and ``.avif``) for each configured ``srcset`` width
  smaller than the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pipeline.config import Config
from pipeline.encode import (
    avif_bytes,
    fit_size,
    png_from_params,
    png_params,
    png_versions,
    webp_bytes,
    width_size,
)
from pipeline.outputs import OutputSpec, Written, resolve_inside, write_bytes_atomic
from pipeline.stages import SetPixels
from pipeline.stages.thumbnails import thumb_relpath

NAME = "variants"
VERSION = 1
ENCODER_KINDS: frozenset[str] = frozenset()


def frame_relpath(cfg: Config, set_id: str, k: int, ext: str = "png") -> PurePosixPath:
    return PurePosixPath(cfg.paths.png_dir) / f"{set_id}-{k}.{ext}"


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], cfg: Config
) -> list[OutputSpec]:
    v = cfg.variants
    width, height = size
    lossy: list[tuple[str, tuple[tuple[str, object], ...]]] = []
    if v.webp:
        lossy.append(("webp", (("quality", v.webp_quality), ("method", v.webp_method))))
    if v.avif:
        lossy.append(("avif", (("quality", v.avif_quality), ("speed", v.avif_speed))))
    thumb = fit_size(width, height, cfg.thumbs.width, cfg.thumbs.height)
    specs: list[OutputSpec] = []
    png_dir = PurePosixPath(cfg.paths.png_dir)
    for k in frames:
        specs.append(
            OutputSpec(
                NAME,
                "png",
                frame_relpath(cfg, set_id, k),
                (k,),
                width,
                height,
                png_params(cfg.png),
                png_versions(cfg.png),
            )
        )
        for ext, params in lossy:
            specs.append(
                OutputSpec(
                    NAME, ext, frame_relpath(cfg, set_id, k, ext), (k,), width, height, params
                )
            )
            if v.thumbs:
                specs.append(
                    OutputSpec(
                        NAME,
                        f"thumb-{ext}",
                        thumb_relpath(cfg, set_id, k, ext),
                        (k,),
                        *thumb,
                        params,
                    )
                )
            for target in sorted(set(v.widths)):
                if target >= width:
                    continue
                w, h = width_size(width, height, target)
                specs.append(
                    OutputSpec(
                        NAME,
                        f"{ext}-width",
                        png_dir / f"{set_id}-{k}-{target}w.{ext}",
                        (k,),
                        w,
                        h,
                        params,
                    )
                )
    return specs


def render(spec: OutputSpec, pixels: SetPixels, cfg: Config, out_root: Path) -> Written:
    (k,) = spec.frames
    image = pixels.resized(k, (spec.width, spec.height))
    fmt = spec.relpath.suffix.lstrip(".")
    if fmt == "png":
        data = png_from_params(image, pixels.has_alpha, spec.params)
    elif fmt == "webp":
        data = webp_bytes(image, pixels.has_alpha, spec.param("quality"), spec.param("method"))
    elif fmt == "avif":
        data = avif_bytes(image, pixels.has_alpha, spec.param("quality"), spec.param("speed"))
    else:  # pragma: no cover - plan() only makes the formats above
        raise ValueError(f"unknown variant format {fmt}")
    write_bytes_atomic(resolve_inside(out_root, spec.relpath), data)
    return Written(spec.relpath, NAME, spec.kind, fmt, spec.width, spec.height, len(data))
