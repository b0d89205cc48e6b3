"""Every output decoded: sizes, modes, formats, fidelity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.build import build
from tests.conftest import MakeConfig, write_set


def _rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.float64)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of both images composited over white (what a visitor sees)."""

    def over_white(x: np.ndarray) -> np.ndarray:
        alpha = x[..., 3:] / 255
        return x[..., :3] * alpha + 255 * (1 - alpha)

    mse = float(np.mean((over_white(a) - over_white(b)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize(("box", "transparent"), [((40, 40), True), ((50, 20), False)])
def test_thumbnails_fit_their_box_with_aspect_kept(
    raw: Path, out: Path, make_config: MakeConfig, box: tuple[int, int], transparent: bool
) -> None:
    write_set(raw, "Arm-Biceps", transparent=transparent)
    build(make_config(thumbs={"width": box[0], "height": box[1]}))
    with Image.open(out / "muscles/png/Arm-Biceps-1.png") as full:
        full_size, full_mode = full.size, full.mode
    for k in (1, 9, 16):
        with Image.open(out / f"muscles/png/Arm-Biceps-{k}-thumb.png") as thumb:
            assert thumb.width <= box[0] and thumb.height <= box[1]
            assert max(thumb.width / box[0], thumb.height / box[1]) == pytest.approx(1, abs=0.03)
            assert thumb.width / thumb.height == pytest.approx(
                full_size[0] / full_size[1], rel=0.05
            )
            assert ("A" in thumb.mode or "transparency" in thumb.info) == transparent
    assert full_mode in ("RGBA", "RGB", "P")


def test_opaque_set_stays_opaque(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Arm-Biceps", transparent=False)
    build(make_config())
    with Image.open(out / "muscles/png/Arm-Biceps-4.png") as im:
        assert im.mode in ("RGB", "P", "L") and "transparency" not in im.info


def test_webp_and_avif_are_close_to_the_gallery_png(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Arm-Biceps")
    build(make_config(variants={"avif": True, "webp_quality": 85}))
    png = _rgba(out / "muscles/png/Arm-Biceps-5.png")
    for ext, floor in (("webp", 30.0), ("avif", 30.0)):
        path = out / f"muscles/png/Arm-Biceps-5.{ext}"
        with Image.open(path) as im:
            assert im.format == ext.upper()
        got = _rgba(path)
        assert got.shape == png.shape
        assert _psnr(got, png) >= floor, ext
        # the transparent background stays transparent
        assert got[0, 0, 3] == 0 and got[-1, -1, 3] == 0


def test_srcset_widths_only_below_the_frame_width(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Arm-Biceps")
    build(make_config(variants={"widths": [40, 2000]}))
    with Image.open(out / "muscles/png/Arm-Biceps-2-40w.webp") as im:
        assert im.width == 40
    assert not (out / "muscles/png/Arm-Biceps-2-2000w.webp").exists()


def test_variants_can_be_switched_off(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Arm-Biceps")
    build(make_config(variants={"webp": False}))
    assert not list(out.rglob("*.webp"))
    assert len(list(out.rglob("Arm-Biceps-*-thumb.png"))) == 16


def test_gallery_png_is_smaller_than_its_source(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    paths = write_set(raw, "Arm-Biceps")
    build(make_config())
    built = sum((out / f"muscles/png/Arm-Biceps-{k}.png").stat().st_size for k in range(1, 17))
    assert built < 0.8 * sum(p.stat().st_size for p in paths)


def test_dry_run_writes_nothing(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Arm-Biceps")
    report = build(make_config(), dry_run=True)
    assert not out.exists()
    (result,) = report.results
    assert result.status == "stale"
    names = {str(s.relpath) for s in result.stale}
    assert "muscles/png/Arm-Biceps-1-thumb.png" in names and len(names) == 16 * 4 + 3
