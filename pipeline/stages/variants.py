"""Web variants of every frame.

- ``<SetId>-<k>.png``: the full-size gallery image, lossless (oxipng) after the
  shared crop: pixel-identical to the cropped source, and much smaller.
- ``<SetId>-<k>.webp`` (and ``.avif`` when enabled) so a ``<picture>`` can offer
  them (the thumbnail's copies belong to the thumbs stage).
- ``<SetId>-<k>-<w>w.webp`` (and ``.avif``) for each configured ``srcset`` width
  smaller than the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pipeline.config import Config
from pipeline.encode import width_size
from pipeline.outputs import OutputSpec, Written, resolve_inside, write_bytes_atomic
from pipeline.stages import SetPixels, lossy_formats, still_bytes

NAME = "variants"
VERSION = 1
ENCODER_KINDS: frozenset[str] = frozenset()


def frame_relpath(cfg: Config, set_id: str, k: int, ext: str = "png") -> PurePosixPath:
    return PurePosixPath(cfg.paths.png_dir) / f"{set_id}-{k}.{ext}"


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], cfg: Config
) -> list[OutputSpec]:
    width, height = size
    lossy = lossy_formats(cfg)
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
                (("optimize_level", cfg.png.optimize_level),),
            )
        )
        for ext, params in lossy:
            specs.append(
                OutputSpec(
                    NAME, ext, frame_relpath(cfg, set_id, k, ext), (k,), width, height, params
                )
            )
            for target in sorted(set(cfg.variants.widths)):
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
    fmt, data = still_bytes(spec, pixels)
    write_bytes_atomic(resolve_inside(out_root, spec.relpath), data)
    return Written(spec.relpath, NAME, spec.kind, fmt, spec.width, spec.height, len(data))
