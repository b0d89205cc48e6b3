"""End-to-end builds through the library API, checked by decoding the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import plan
from pipeline.build import build
from pipeline.codecs.encode import resize
from pipeline.stages import SetPixels
from tests.conftest import MakeConfig, write_set
from tests.test_parallel import tree_bytes


def test_build_writes_every_output_in_site_naming(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    report = build(make_config())
    assert report.ok and report.count("built") == 1
    png = out / "muscles" / "png"
    for k in range(1, 17):
        for name in (f"Leg-Soleus-{k}.png", f"Leg-Soleus-{k}-thumb.png", f"Leg-Soleus-{k}.webp"):
            with Image.open(png / name) as image:
                image.load()
                assert image.width > 0
    with Image.open(png / "Leg-Soleus-1.png") as full:
        assert full.size[0] == full.size[1]  # source aspect (square) kept


def test_second_build_rewrites_nothing(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    report = build(cfg)
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert report.count("up-to-date") == 1 and report.files_written == 0
    assert before == after


def test_lossless_png_is_pixel_identical_to_cropped_source(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    paths = write_set(raw, "Leg-Soleus")
    build(make_config(png={"mode": "lossless"}))
    with Image.open(out / "muscles/png/Leg-Soleus-3.png") as built:
        got = np.asarray(built.convert("RGBA"))
    source = np.asarray(Image.open(paths[2]).convert("RGBA"))
    # find the crop offset: the output must appear somewhere in the source exactly
    h, w = got.shape[:2]
    matches = [
        (x, y)
        for y in range(source.shape[0] - h + 1)
        for x in range(source.shape[1] - w + 1)
        if np.array_equal(source[y : y + h, x : x + w], got)
    ]
    assert matches, "output is not an exact crop of the source"


def test_outputs_are_readable_by_others(raw: Path, out: Path, make_config: MakeConfig) -> None:
    """A web server running as another user must be able to read what we write."""
    write_set(raw, "Leg-Soleus")
    build(make_config())
    modes = {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()}
    assert all(mode & 0o044 == 0o044 for mode in modes), modes


@pytest.mark.parametrize("size", [(37, 23), (240, 180), (97, 61)])
def test_opaque_frames_resize_to_the_same_pixels_through_rgb(size: tuple[int, int]) -> None:
    """resize() takes an opaque RGBA frame through RGB (no premultiplying): the
    pixels must be Pillow's own RGBA resize, edges and ringing included."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (90, 120, 4), dtype=np.uint8)
    noise[..., 3] = 255
    noise[30:60, 40:80, :3] = (255, 0, 0)  # hard edges: Lanczos overshoots there
    image = Image.fromarray(noise, "RGBA")
    got = resize(image, size)
    assert got.mode == "RGBA"
    assert got.tobytes() == image.resize(size, Image.Resampling.LANCZOS).tobytes()
    noise[0, 0, 3] = 254  # one see-through pixel: the premultiplied path, as before
    seen = Image.fromarray(noise, "RGBA")
    assert resize(seen, size).tobytes() == seen.resize(size, Image.Resampling.LANCZOS).tobytes()


def test_set_pixels_resamples_a_frame_once_and_keeps_one_frame_of_resizes() -> None:
    frames = {k: Image.new("RGBA", (40, 30), (k, 0, 0, 255)) for k in (1, 2)}
    pixels = SetPixels("S", True, frames)
    small = pixels.resized(1, (20, 15))
    assert small.size == (20, 15)
    assert pixels.resized(1, (20, 15)) is small  # the thumbnail PNG and WebP share it
    assert pixels.resized(1, (40, 30)) is frames[1]  # no resample at the frame's size
    other = pixels.resized(2, (20, 15))
    assert other.getpixel((5, 5)) == (2, 0, 0, 255)
    assert pixels.resized(1, (20, 15)) is not small  # frame 1's resizes were dropped
    made: list[str] = []

    def make(key: str) -> list[str]:
        made.append(key)
        return [key]

    first = pixels.derived("a", lambda: make("a"))
    assert pixels.derived("a", lambda: make("a")) is first
    assert pixels.derived("b", lambda: make("b")) == ["b"]
    assert made == ["a", "b"]


def test_small_frames_are_decoded_once_large_ones_again_with_the_same_bytes(
    raw: Path, tmp_path: Path, make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker keeps the frames its probe decoded when they fit in
    KEEP_PROBED_BYTES, and crops those instead of reading them again; larger ones
    are read again, one at a time. Either way the outputs are the same bytes, and
    a rebuild (probes cached in the manifest) reads each frame once."""
    write_set(raw, "Leg-Soleus")
    kept, reread = tmp_path / "kept", tmp_path / "reread"
    cfg = make_config(paths={"output": str(kept)}, build={"jobs": 1})
    (fresh,) = build(cfg).results
    assert "probe" in fresh.stage_seconds and "decode" not in fresh.stage_seconds
    (again,) = build(cfg, force=True).results
    assert "probe" not in again.stage_seconds and "decode" in again.stage_seconds
    monkeypatch.setattr(plan, "KEEP_PROBED_BYTES", 0)
    (large,) = build(make_config(paths={"output": str(reread)}, build={"jobs": 1})).results
    assert {"probe", "decode"} <= large.stage_seconds.keys()
    assert len(tree_bytes(kept)) == 67 and tree_bytes(kept) == tree_bytes(reread)
