"""Web variants of every frame.

- ``<SetId>-<k>.png``: the full-size gallery image after the shared crop: a
  palette PNG at pngquant's quality range (``png.mode: palette``), or lossless,
  pixel-identical to the cropped source (``png.mode: lossless``, and the fallback
  when a frame cannot reach ``png.quality_min``); oxipng compresses both.
- ``<SetId>-<k>.webp`` (and ``.avif`` when enabled) so a ``<picture>`` can offer
  them (the thumbnail's copies belong to the thumbs stage).
- ``<SetId>-<k>-<w>w.webp`` (and ``.avif``) for each configured ``srcset`` width
  smaller than the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pipeline.codecs.encode import png_params, png_versions, width_size
from pipeline.config import Config
from pipeline.stages import SetPixels, lossy_formats, still_bytes
from pipeline.state.outputs import OutputSpec, Written, resolve_inside, write_bytes_atomic

NAME = "variants"
VERSION = 2  # 2: palette PNGs with one row filter (Entropy)
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
