"""Thumbnails: ``<SetId>-<k>-thumb.png``, fitting the configured box, aspect kept.

The theme derives a thumbnail's URL from the full image's by inserting ``-thumb``
before the extension, so the name is fixed by the site, not by config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pipeline.config import Config
from pipeline.encode import fit_size, png_from_params, png_params, png_versions
from pipeline.outputs import OutputSpec, Written, resolve_inside, write_bytes_atomic
from pipeline.stages import SetPixels

NAME = "thumbs"
VERSION = 1
ENCODER_KINDS: frozenset[str] = frozenset()


def thumb_relpath(cfg: Config, set_id: str, k: int, ext: str = "png") -> PurePosixPath:
    return PurePosixPath(cfg.paths.png_dir) / f"{set_id}-{k}-thumb.{ext}"


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], cfg: Config
) -> list[OutputSpec]:
    width, height = fit_size(*size, cfg.thumbs.width, cfg.thumbs.height)
    params, versions = png_params(cfg.png), png_versions(cfg.png)
    return [
        OutputSpec(
            NAME, "thumb", thumb_relpath(cfg, set_id, k), (k,), width, height, params, versions
        )
        for k in frames
    ]


def render(spec: OutputSpec, pixels: SetPixels, cfg: Config, out_root: Path) -> Written:
    (k,) = spec.frames
    image = pixels.resized(k, (spec.width, spec.height))
    data = png_from_params(image, pixels.has_alpha, spec.params)
    write_bytes_atomic(resolve_inside(out_root, spec.relpath), data)
    return Written(spec.relpath, NAME, spec.kind, "png", spec.width, spec.height, len(data))
