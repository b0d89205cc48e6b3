"""The per-set stages. Each is a module with ``NAME``, ``VERSION``, ``plan`` and ``render``.

``plan`` names every output and its pixel size without decoding anything;
``render`` encodes one planned output from the set's cropped frames and returns
what it wrote. Bump ``VERSION`` when a change alters a stage's bytes, so existing
outputs are rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from pipeline.config import Config
from pipeline.outputs import OutputSpec, Written


@dataclass(frozen=True)
class SetPixels:
    """The decoded, cropped frames of one set, shared by every stage."""

    set_id: str
    has_alpha: bool
    frames: Mapping[int, Image.Image]  # orientation number -> 8-bit RGBA, cropped


class Stage(Protocol):
    NAME: str
    VERSION: int

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
