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

from pipeline import naming
from pipeline.codecs.encode import width_size
from pipeline.config import Config
from pipeline.stages import lossy_formats, png_settings, png_versions, render_still
from pipeline.state.outputs import Output

NAME = "variants"
VERSION = 2  # 2: palette PNGs with one row filter (Entropy)
ENCODER_KINDS: frozenset[str] = frozenset()


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], has_alpha: bool, cfg: Config
) -> list[Output]:
    width, height = size
    lossy = lossy_formats(cfg)
    png = png_settings(cfg.png)
    versions = png_versions(png)
    paths = cfg.paths
    outputs: list[Output] = []
    for k in frames:
        outputs.append(
            Output(NAME, "png", naming.frame(paths, set_id, k), (k,), width, height, png, versions)
        )
        for ext, settings in lossy:
            path = naming.frame(paths, set_id, k, ext)
            outputs.append(Output(NAME, ext, path, (k,), width, height, settings))
            for target in sorted(set(cfg.variants.widths)):
                if target >= width:
                    continue
                w, h = width_size(width, height, target)
                path = naming.frame_width(paths, set_id, k, target, ext)
                outputs.append(Output(NAME, f"{ext}-width", path, (k,), w, h, settings))
    return outputs


render = render_still
