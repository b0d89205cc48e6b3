"""Gallery and thumbnail PNGs: palette within pngquant's quality range, lossless when
the floor cannot be met, and fingerprints that follow every PNG setting."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.build import build
from pipeline.codecs.encode import png_bytes
from pipeline.config import Config, PngConfig
from pipeline.stages import png_settings
from tests.conftest import MakeConfig, write_set
from tests.test_incremental import changed, snapshot, written


def shaded(size: int = 96) -> Image.Image:
    """A smooth two-way gradient with soft transparent edges: thousands of colours
    that a 256-colour palette still renders well."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    rgb = np.stack([60 + 180 * xx, 40 + 120 * yy, 90 + 60 * xx * yy], axis=-1)
    alpha = np.clip((0.45 - np.hypot(xx - 0.5, yy - 0.5)) * 40, 0, 1) * 255
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return Image.fromarray(np.round(rgba).astype(np.uint8), "RGBA")


def noise(size: int = 64) -> Image.Image:
    """Independent random colours: no palette of 256 comes near them."""
    pixels = np.random.default_rng(7).integers(0, 256, (size, size, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    return Image.fromarray(pixels, "RGBA")


def encode(image: Image.Image, **png: object) -> Image.Image:
    settings = png_settings(PngConfig(**png))  # type: ignore[arg-type]
    data = png_bytes(image, True, settings)
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    return decoded


def over_grey(image: Image.Image) -> np.ndarray:
    """What a page shows: the pixels composited on a mid grey, as floats."""
    rgba = np.asarray(image.convert("RGBA")).astype(np.float64)
    alpha = rgba[..., 3:4] / 255
    return np.asarray(rgba[..., :3] * alpha + 128 * (1 - alpha))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / max(float(((a - b) ** 2).mean()), 1e-9)))


def test_palette_png_within_the_quality_range() -> None:
    source = shaded()
    assert len(np.unique(np.asarray(source).reshape(-1, 4), axis=0)) > 2000
    got = encode(source, quality_min=80, quality_max=95)
    assert got.mode == "P"
    # libimagequant's quality 80 is a mean squared error of about 6 (0..255
    # levels), 40 dB; dithering spreads it as noise, so allow a little under.
    assert psnr(over_grey(got), over_grey(source)) > 36
    alpha = np.asarray(got.convert("RGBA"))[..., 3].astype(int)
    source_alpha = np.asarray(source)[..., 3]
    assert (alpha[source_alpha == 0] == 0).all()  # the background stays clear
    assert np.abs(alpha - source_alpha).mean() < 1


def test_palette_png_below_the_floor_stays_lossless_and_exact() -> None:
    source = noise()
    got = encode(source, quality_min=90, quality_max=100)
    assert got.mode != "P"
    assert np.array_equal(np.asarray(got.convert("RGBA")), np.asarray(source))
    # the same frame with no floor is quantised, so the floor is what kept it exact
    assert encode(source, quality_min=0, quality_max=100).mode == "P"


def test_fewer_colours_when_they_reach_quality_max() -> None:
    """pngquant's semantics: the smallest palette that reaches ``quality_max``."""
    source = shaded()
    rich = encode(source, quality_min=0, quality_max=100)
    lean = encode(source, quality_min=0, quality_max=60)
    assert len(lean.getpalette() or []) < len(rich.getpalette() or [])


def test_lossless_mode_ignores_the_quantiser() -> None:
    source = shaded()
    got = encode(source, mode="lossless")
    assert np.array_equal(np.asarray(got.convert("RGBA")), np.asarray(source))


def built_pngs(out: Path, name: str) -> tuple[np.ndarray, str]:
    with Image.open(out / "muscles/png" / name) as image:
        return np.asarray(image.convert("RGBA")), image.mode


def test_build_writes_palette_gallery_and_thumbnail_pngs(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    assert build(make_config()).ok
    for name in ("Leg-Soleus-3.png", "Leg-Soleus-3-thumb.png"):
        _, mode = built_pngs(out, name)
        assert mode == "P", name


def _remade(kind: str, name: str) -> bool:
    """Which files a PNG key remakes: every PNG, the gallery PNGs (thumbnails
    have their own quality_max), the thumbnail PNGs, or every thumbnail file
    (the filter also makes the thumbnail's WebP)."""
    thumb = "-thumb." in name
    return {
        "every": name.endswith(".png"),
        "gallery": name.endswith(".png") and not thumb,
        "thumb-png": name.endswith("-thumb.png"),
        "thumb-any": thumb,
    }[kind]


def test_each_png_setting_rebuilds_the_pngs_only(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    build(make_config())
    settings: dict[str, dict[str, object]] = {"png": {}, "thumbs": {}}
    for section, key, value, kind in (
        ("png", "quality_min", 10, "every"),
        ("png", "quality_max", 90, "gallery"),
        ("thumbs", "png_quality_max", 90, "thumb-png"),
        ("thumbs", "resample", "box", "thumb-any"),
        ("png", "speed", 6, "every"),
        ("png", "dithering", 1.0, "every"),
        ("png", "mode", "lossless", "every"),
        ("thumbs", "png_mode", "palette", "thumb-png"),  # overrides png.mode
    ):
        before = snapshot(out)
        settings[section][key] = value
        report = build(make_config(**settings))
        expected = {k for k in before if _remade(kind, k)}
        assert len(expected) in (16, 32), key
        assert written(report) == expected == changed(before, snapshot(out)), key


@pytest.mark.parametrize("resample", ["box", "hamming", "lanczos"])
def test_thumbnail_uses_the_configured_filter(
    raw: Path, out: Path, make_config: MakeConfig, resample: str
) -> None:
    (source,) = write_set(raw, "Leg-Soleus", frames=[1])
    cfg = make_config(
        frames={"count": 1},
        crop={"enabled": False},
        png={"mode": "lossless"},
        thumbs={"width": 24, "height": 24, "resample": resample},
    )
    assert build(cfg).ok
    got, _ = built_pngs(out, "Leg-Soleus-1-thumb.png")
    filters = {
        "box": Image.Resampling.BOX,
        "hamming": Image.Resampling.HAMMING,
        "lanczos": Image.Resampling.LANCZOS,
    }
    with Image.open(source) as image:
        want = {
            name: np.asarray(image.convert("RGBA").resize(got.shape[1::-1], f))
            for name, f in filters.items()
        }
    others = [name for name in want if name != resample]
    assert not any(np.array_equal(want[resample], want[name]) for name in others)
    assert np.array_equal(got, want[resample])


def test_lossless_settings_do_not_rebuild_on_quantiser_changes(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    build(make_config(png={"mode": "lossless"}))
    report = build(make_config(png={"mode": "lossless", "quality_min": 50, "speed": 8}))
    assert report.files_written == 0


def test_config_checks_png_keys(make_config: MakeConfig) -> None:
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_config(
            png={"mode": "lossy", "quality_min": 96, "quality_max": 95, "speed": 0, "dithering": 2}
        )
    message = str(caught.value)
    for key in ("png.mode", "png.quality_min", "png.speed", "png.dithering"):
        assert key in message, key
    assert isinstance(make_config(png={"mode": "lossless"}), Config)


def test_one_frame_is_remapped_with_the_image_its_histogram_read() -> None:
    """A still's quantising reuses its libimagequant image for the remap (read
    once, not twice): the indices must be those of a fresh image, as before."""
    from imagequant import ffi, lib

    from pipeline.codecs.quantize import quantize_shared

    rgba = np.ascontiguousarray(np.asarray(shaded(120)))
    calls: list[int] = []

    def frames() -> tuple[np.ndarray]:
        calls.append(1)
        return (rgba,)

    got = quantize_shared(frames, quality=(0, 95), speed=4, dithering=0.5)
    assert len(calls) == 1
    attr = lib.liq_attr_create()
    lib.liq_set_quality(attr, 0, 95)
    lib.liq_set_speed(attr, 4)
    histogram = lib.liq_histogram_create(attr)
    fresh = [lib.liq_image_create_rgba(attr, ffi.from_buffer(rgba), 120, 120, 0) for _ in "ab"]
    lib.liq_histogram_add_image(histogram, attr, fresh[0])
    result = ffi.new("liq_result**")
    assert lib.liq_histogram_quantize(histogram, attr, result) == lib.LIQ_OK
    lib.liq_set_dithering_level(result[0], 0.5)
    want = np.empty((120, 120), dtype=np.uint8)
    lib.liq_write_remapped_image(result[0], fresh[1], ffi.from_buffer(want), want.size)
    for handle in fresh:
        lib.liq_image_destroy(handle)
    lib.liq_result_destroy(result[0])
    lib.liq_histogram_destroy(histogram)
    lib.liq_attr_destroy(attr)
    assert np.array_equal(got.indices[0], want)


def test_thumbnails_may_be_lossless_beside_palette_gallery_pngs(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    """``thumbs.png_mode: lossless`` keeps every thumbnail pixel of the shrink
    (truecolour) while the gallery PNGs stay palette."""
    (source,) = write_set(raw, "Leg-Soleus", frames=[1])
    cfg = make_config(
        frames={"count": 1},
        crop={"enabled": False},
        thumbs={"width": 24, "height": 24, "png_mode": "lossless"},
    )
    assert build(cfg).ok
    thumb, thumb_mode = built_pngs(out, "Leg-Soleus-1-thumb.png")
    _, gallery_mode = built_pngs(out, "Leg-Soleus-1.png")
    assert gallery_mode == "P" and thumb_mode != "P"
    with Image.open(source) as image:
        want = np.asarray(image.convert("RGBA").resize((24, 24), Image.Resampling.HAMMING))
    assert np.array_equal(thumb, want)
