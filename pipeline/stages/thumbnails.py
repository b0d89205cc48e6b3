"""Thumbnails: ``<SetId>-<k>-thumb.png``, fitting the configured box, aspect kept,
and with ``variants.thumbs`` its WebP/AVIF copies (``-thumb.webp``), so that the
``thumbs`` command alone remakes every thumbnail file after a size change.

The theme derives a thumbnail's URL from the full image's by inserting ``-thumb``
before the extension, so the name is fixed by the site, not by config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pipeline.config import Config
from pipeline.encode import fit_size, png_params, png_versions
from pipeline.outputs import OutputSpec, Written, resolve_inside, write_bytes_atomic
from pipeline.stages import SetPixels, lossy_formats, still_bytes

NAME = "thumbs"
VERSION = 2  # 2: palette PNGs with one row filter (Entropy)
ENCODER_KINDS: frozenset[str] = frozenset()


def thumb_relpath(cfg: Config, set_id: str, k: int, ext: str = "png") -> PurePosixPath:
    return PurePosixPath(cfg.paths.png_dir) / f"{set_id}-{k}-thumb.{ext}"


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], cfg: Config
) -> list[OutputSpec]:
    width, height = fit_size(*size, cfg.thumbs.width, cfg.thumbs.height)
    png_cfg = dataclasses.replace(cfg.png, quality_max=cfg.thumbs.png_quality_max)
    # Every thumbnail file is made from the same resample: its filter is part of
    # each one's fingerprint.
    resample = (("resample", cfg.thumbs.resample),)
    png, versions = png_params(png_cfg) + resample, png_versions(png_cfg)
    lossy = [(ext, p + resample) for ext, p in lossy_formats(cfg)] if cfg.variants.thumbs else []
    specs: list[OutputSpec] = []
    for k in frames:
        path = thumb_relpath(cfg, set_id, k)
        specs.append(OutputSpec(NAME, "thumb", path, (k,), width, height, png, versions))
        specs += [
            OutputSpec(
                NAME, f"thumb-{ext}", thumb_relpath(cfg, set_id, k, ext), (k,), width, height, p
            )
            for ext, p in lossy
        ]
    return specs


def render(spec: OutputSpec, pixels: SetPixels, cfg: Config, out_root: Path) -> Written:
    fmt, data = still_bytes(spec, pixels)
    write_bytes_atomic(resolve_inside(out_root, spec.relpath), data)
    return Written(spec.relpath, NAME, spec.kind, fmt, spec.width, spec.height, len(data))
