"""Thumbnails: ``<SetId>-<k>-thumb.png``, fitting the configured box, aspect kept,
and with ``variants.thumbs`` its WebP/AVIF copies (``-thumb.webp``), so that the
``thumbs`` command alone remakes every thumbnail file after a size change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pipeline import naming
from pipeline.codecs.encode import fit_size
from pipeline.config import Config
from pipeline.stages import lossy_formats, png_settings, png_versions, render_still
from pipeline.state.outputs import Output

NAME = "thumbs"
VERSION = 2  # 2: palette PNGs with one row filter (Entropy)
ENCODER_KINDS: frozenset[str] = frozenset()


def plan(
    set_id: str, frames: Sequence[int], size: tuple[int, int], has_alpha: bool, cfg: Config
) -> list[Output]:
    width, height = fit_size(*size, cfg.thumbs.width, cfg.thumbs.height)
    # Every thumbnail file is made from the same resample: its filter is part of
    # each one's settings. The PNG has its own palette ceiling, and may have its
    # own mode.
    resample = cfg.thumbs.resample
    png = dataclasses.replace(
        png_settings(cfg.png),
        mode=cfg.thumbs.png_mode or cfg.png.mode,
        quality_max=cfg.thumbs.png_quality_max,
        resample=resample,
    )
    versions = png_versions(png)
    lossy = [
        (ext, dataclasses.replace(settings, resample=resample))
        for ext, settings in (lossy_formats(cfg) if cfg.variants.thumbs else [])
    ]
    outputs: list[Output] = []
    for k in frames:
        path = naming.thumb(cfg.paths, set_id, k)
        outputs.append(Output(NAME, "thumb", path, (k,), width, height, png, versions))
        outputs += [
            Output(
                NAME,
                f"thumb-{ext}",
                naming.thumb(cfg.paths, set_id, k, ext),
                (k,),
                width,
                height,
                settings,
            )
            for ext, settings in lossy
        ]
    return outputs


render = render_still
