"""Shared fixtures: real PNG sets drawn in ``tmp_path`` and configs built in code."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from pipeline.config import Config, config_from_dict

if TYPE_CHECKING:
    from tests.faultkit import Untouched

SIZE = 120


def draw_frame(k: int, size: int = SIZE, transparent: bool = True, count: int = 16) -> Image.Image:
    """A disc that orbits the centre as ``k`` advances, plus a fixed bar, so each
    frame's visible box differs and the union crop is non-trivial."""
    angle = 2 * math.pi * (k - 1) / count
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cx = size / 2 + size * 0.18 * math.cos(angle)
    cy = size / 2 + size * 0.06 * math.sin(angle)
    disc = np.clip(size * 0.1 - np.hypot(xx - cx, yy - cy) + 0.5, 0.0, 1.0)
    bar = ((abs(xx - size / 2) < size * 0.03) & (abs(yy - size / 2) < size * 0.2)).astype(float)
    alpha = np.maximum(disc, bar)
    rgb = np.stack([200 - 60 * bar, 60 + 80 * disc, 50 + 0 * xx], axis=-1)
    rgb = rgb + 20 * np.sin(xx / 3)[..., None]  # texture, so encoders have work to do
    rgb = np.clip(rgb, 0, 255)
    if transparent:
        rgba = np.concatenate([rgb, alpha[..., None] * 255], axis=-1)
        return Image.fromarray(np.round(rgba).astype(np.uint8), "RGBA")
    white = np.full_like(rgb, 255.0)
    out = rgb * alpha[..., None] + white * (1 - alpha[..., None])
    return Image.fromarray(np.round(out).astype(np.uint8), "RGB")


def write_set(
    raw: Path,
    set_id: str,
    *,
    transparent: bool = True,
    size: int = SIZE,
    frames: Iterable[int] = range(1, 17),
) -> list[Path]:
    raw.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in frames:
        path = raw / f"{set_id}-{k}.png"
        draw_frame(k, size, transparent).save(path)
        paths.append(path)
    return paths


MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """``make_config(thumbs={"width": 64})``: sections as keyword arguments;
    raw and output default to folders in ``tmp_path``."""

    def build(**sections: Any) -> Config:
        data: dict[str, Any] = {k: dict(v) for k, v in sections.items()}
        paths = data.setdefault("paths", {})
        paths.setdefault("raw", str(tmp_path / "raw"))
        paths.setdefault("output", str(tmp_path / "out"))
        Path(paths["raw"]).mkdir(parents=True, exist_ok=True)
        data.setdefault("build", {}).setdefault("jobs", 1)
        return config_from_dict(data, tmp_path)

    return build


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    return folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def untouched() -> Iterator[Untouched]:
    """``untouched.watch(raw)`` after writing the inputs: the test then fails if
    anything under a watched folder changed (sources must never be modified)."""
    from tests.faultkit import Untouched  # faultkit draws its sets with write_set

    guard = Untouched({})
    yield guard
    guard.verify()
