"""The rotating image: every output decoded and checked (frames, timing, loop,
transparency, edges, codecs, pixel formats, sizes)."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pipeline.build import build
from pipeline.cli import main
from pipeline.codecs.gif import matte
from pipeline.codecs.pixels import composite
from pipeline.codecs.video import EDGE_ALPHA_GAIN, ffmpeg_exe, on_page
from pipeline.config import AnimationConfig, config_from_dict
from pipeline.errors import ConfigError
from pipeline.stages.animation import animation_size, fit_frame
from tests.conftest import MakeConfig, write_set

SET = "Leg-Soleus"
WIDTH = 64  # small, so encoding stays fast


def animation(**extra: Any) -> dict[str, Any]:
    return {"width": WIDTH, **extra}


def gif_frames(path: Path) -> tuple[list[np.ndarray], list[int], Any]:
    frames, durations = [], []
    with Image.open(path) as image:
        loop = image.info.get("loop")
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            durations.append(int(image.info["duration"]))
            frames.append(np.asarray(image.convert("RGBA")).astype(np.int16))
    return frames, durations, loop


def gallery_frames(out: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """The gallery PNGs (the shared crop), resized to the animation size the same way."""
    frames = []
    for k in range(1, 17):
        with Image.open(out / "muscles" / "png" / f"{SET}-{k}.png") as image:
            rgba = image.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
            frames.append(np.asarray(rgba).astype(np.int16))
    return frames


def over(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    alpha = rgba[..., 3:4] / 255.0
    return np.asarray(rgba[..., :3] * alpha + np.array(colour) * (1 - alpha))


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "frames": len(frames),
            "times": [float(f.time) for f in frames if f.time is not None],
            "duration": float(container.duration or 0) / av.time_base,
            "metadata": {k.lower(): v for k, v in stream.metadata.items()},
            "rate": stream.average_rate,
        }


def decode_rgba(path: Path, decoder: str) -> np.ndarray:
    """Decode with ffmpeg through the named decoder (libvpx-vp9 reads WebM alpha)."""
    with av.open(str(path)) as container:
        width = container.streams.video[0].codec_context.width
        height = container.streams.video[0].codec_context.height
    args = [ffmpeg_exe(), "-v", "error", "-c:v", decoder, "-i", str(path),
            "-f", "rawvideo", "-pix_fmt", "rgba", "pipe:1"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, check=True)
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width, 4).astype(np.int16)


@pytest.fixture(scope="module")
def built_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build of a transparent set, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("animated")
    write_set(root / "raw", SET)
    cfg = config_from_dict(
        {
            "paths": {"raw": "raw", "output": "out"},
            "build": {"jobs": 1},
            # gif_quality 93: the edge tests measure blending, not palette error
            "animation": animation(duration_ms=80, background="#204080", gif_quality=93),
            "png": {"mode": "lossless"},  # the gallery PNGs are the exact reference
        },
        root,
    )
    report = build(cfg)
    assert report.ok, [r.error or r.defects for r in report.results]
    return root


@pytest.fixture
def built(built_root: Path) -> Path:
    return built_root / "out" / "muscles" / "gif"


@pytest.fixture
def built_out(built_root: Path) -> Path:
    return built_root / "out"


def test_gif_plays_every_orientation_in_order_forever(built: Path, built_out: Path) -> None:
    frames, durations, loop = gif_frames(built / f"{SET}.gif")
    assert len(frames) == 16
    assert durations == [80] * 16
    assert loop == 0  # NETSCAPE loop count 0: forever
    height, width = frames[0].shape[:2]
    assert width == WIDTH and width % 2 == 0 and height % 2 == 0
    sources = gallery_frames(built_out, (width, height))
    for i, frame in enumerate(frames):
        shown = over(frame, (32, 64, 128))
        errors = [np.abs(shown - over(src, (32, 64, 128))).mean() for src in sources]
        assert int(np.argmin(errors)) == i  # frame i is orientation i + 1
        assert errors[i] < 4


def test_gif_background_stays_transparent_and_edges_have_no_halo(
    built: Path, built_out: Path
) -> None:
    frames, _, _ = gif_frames(built / f"{SET}.gif")
    height, width = frames[0].shape[:2]
    sources = gallery_frames(built_out, (width, height))
    matte = (32, 64, 128)
    edges = 0
    for frame, src in zip(frames, sources, strict=True):
        assert set(np.unique(frame[..., 3])) <= {0, 255}
        background = src[..., 3] == 0
        assert (frame[..., 3][background] == 0).all()
        # Edge pixels: opaque and close to the source blended onto the matte, or
        # transparent only when that blend is the matte colour itself.
        edge = (src[..., 3] > 0) & (src[..., 3] < 255)
        edges += int(edge.sum())
        blend = over(src, matte)
        shown = frame[..., 3] == 255
        diff = np.abs(frame[..., :3] - blend).max(axis=2)
        assert (diff[edge & shown] <= 24).all()
        hidden_error = np.abs(blend - np.array(matte)).max(axis=2)
        assert (hidden_error[edge & ~shown] <= 3 + 1).all()  # tolerance 3, plus rounding
    assert edges > 100  # the drawing has soft edges to check


def test_webm_is_vp9_with_alpha_exact_frames_and_duration(built: Path) -> None:
    info = probe(built / f"{SET}.webm")
    assert info["codec"] == "vp9"
    assert info["metadata"].get("alpha_mode") == "1"
    assert info["frames"] == 16
    assert info["width"] == WIDTH and info["height"] % 2 == 0
    assert info["times"] == pytest.approx([i * 0.08 for i in range(16)], abs=1e-3)
    assert info["duration"] == pytest.approx(16 * 0.08, abs=0.02)
    pixels = decode_rgba(built / f"{SET}.webm", "libvpx-vp9")
    assert pixels.shape[0] == 16
    assert (pixels[:, 0, 0, 3] < 8).all()  # corner: transparent background
    centre = pixels[:, pixels.shape[1] // 2, pixels.shape[2] // 2, 3]
    assert (centre > 247).all()  # the fixed bar at the centre: opaque


def test_webm_without_alpha_shows_the_page_colour_and_the_mp4(built: Path, built_out: Path) -> None:
    """Safari drops VP9 alpha: ffmpeg's native ``vp9`` decoder ignores it too. What
    is transparent in the source must then show the page colour, not black, and
    the muscle must look as in the MP4."""
    shown = decode_rgba(built / f"{SET}.webm", "vp9")[..., :3]
    mp4 = decode_rgba(built / f"{SET}.mp4", "h264")[..., :3]
    height, width = shown.shape[1:3]
    sources = np.array(gallery_frames(built_out, (width, height)))
    # Pixels transparent in the source, 3 px clear of the object: 4:2:0 chroma
    # and VP9's ringing spread the edges a little (on this 64 px clip at CRF 32
    # more than on 800 px renders, where 99.9 % are within 3 levels of the page).
    clear = sources[..., 3] == 0
    inner = clear.copy()
    for axis in (1, 2):
        for shift in (-3, -2, -1, 1, 2, 3):
            inner &= np.roll(clear, shift, axis=axis)
    assert inner.mean() > 0.3  # most of the frame is background
    error = np.abs(shown - np.array([32, 64, 128])).max(axis=-1)[inner]
    assert (error <= 4).mean() > 0.98
    assert error.max() <= 24  # black under alpha would be 128 off
    assert np.abs(shown - mp4).mean() < 3  # the muscle and its edges as in the MP4


def test_webm_with_alpha_shows_the_source_on_the_page(built: Path, built_out: Path) -> None:
    """With alpha (Chrome, Firefox), the WebM over the page colour is the source
    over it: the alpha gain undoes the colour planes' own compositing."""
    pixels = decode_rgba(built / f"{SET}.webm", "libvpx-vp9")
    height, width = pixels.shape[1:3]
    sources = gallery_frames(built_out, (width, height))
    page = (32, 64, 128)
    for frame, src in zip(pixels, sources, strict=True):
        assert np.abs(over(frame, page) - over(src, page)).mean() < 3


def test_webm_alpha_decodes_as_yuva420p(built: Path) -> None:
    with av.open(str(built / f"{SET}.webm")) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        formats = {
            frame.format.name
            for packet in container.demux(stream)
            for frame in decoder.decode(packet)
        }
    assert formats == {"yuva420p"}


def test_mp4_is_h264_yuv420p_faststart_on_the_background(built: Path) -> None:
    path = built / f"{SET}.mp4"
    info = probe(path)
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["frames"] == 16
    assert info["width"] == WIDTH and info["width"] % 2 == 0 and info["height"] % 2 == 0
    assert info["rate"] == Fraction(1000, 80)
    assert info["times"] == pytest.approx([i * 0.08 for i in range(16)], abs=1e-3)
    assert info["duration"] == pytest.approx(16 * 0.08, abs=0.02)
    data = path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # +faststart: index first
    pixels = decode_rgba(path, "h264")
    corner = pixels[:, 0, 0, :3]
    assert np.abs(corner - np.array([32, 64, 128])).max() <= 6  # the configured background


def test_opaque_set_gif_and_webm_have_no_alpha(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, SET, transparent=False)
    assert build(make_config(animation=animation())).ok
    frames, durations, _ = gif_frames(out / "muscles" / "gif" / f"{SET}.gif")
    assert len(frames) == 16 and durations == [100] * 16
    assert all((f[..., 3] == 255).all() for f in frames)  # unchanged pixels reuse the last
    sources = gallery_frames(out, frames[0].shape[1::-1])
    for frame, src in zip(frames, sources, strict=True):
        assert np.abs(frame[..., :3] - src[..., :3]).mean() < 4
    info = probe(out / "muscles" / "gif" / f"{SET}.webm")
    assert info["codec"] == "vp9" and info["pix_fmt"] == "yuv420p" and info["frames"] == 16
    assert info["metadata"].get("alpha_mode") != "1"


def test_optional_webp_and_sprite_sheet(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, SET)
    cfg = make_config(
        animation=animation(webp=True, sprite=True, sprite_width=30, sprite_format="png")
    )
    assert build(cfg).ok
    folder = out / "muscles" / "gif"
    with Image.open(folder / f"{SET}.webp") as webp:
        assert getattr(webp, "n_frames", 1) == 16
        assert webp.info.get("loop") == 0
        webp.seek(3)
        webp.load()
        assert webp.info["duration"] == 100
        assert webp.mode == "RGBA"
    doc = json.loads((folder / f"{SET}-sprite.json").read_text())
    assert doc["image"] == f"{SET}-sprite.png"
    assert (doc["columns"], doc["rows"], doc["frame_width"]) == (4, 4, 30)
    assert [f["k"] for f in doc["frames"]] == list(range(1, 17))
    assert doc["frames"][5] == {"k": 6, "x": 30, "y": doc["frame_height"]}
    with Image.open(folder / f"{SET}-sprite.png") as sheet:
        assert sheet.size == (doc["width"], doc["height"]) == (120, 4 * doc["frame_height"])
        cells = np.asarray(sheet.convert("RGBA")).astype(np.int16)
    size = (doc["frame_width"], doc["frame_height"])
    for k, src in enumerate(gallery_frames(out, size), start=1):
        cell = doc["frames"][k - 1]
        got = cells[cell["y"] : cell["y"] + size[1], cell["x"] : cell["x"] + size[0]]
        assert np.abs(over(got, (255, 255, 255)) - over(src, (255, 255, 255))).mean() < 3


def test_a_missing_ffmpeg_fails_the_set_with_a_message_and_no_partial_file(
    raw: Path, out: Path, make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_set(raw, SET)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(raw / "no-such-ffmpeg"))
    report = build(make_config(animation=animation()), stages=["animate"])
    (result,) = report.results
    assert result.status == "failed"
    assert result.error is not None and "cannot run ffmpeg" in result.error
    assert "\n" not in result.error
    folder = out / "muscles" / "gif"
    assert sorted(p.name for p in folder.iterdir()) == [f"{SET}.gif"]  # no .webm, no temp file


def test_rerun_is_up_to_date_and_a_duration_change_rebuilds_only_animations(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, SET)
    assert build(make_config(animation=animation())).ok
    again = build(make_config(animation=animation()))
    assert again.files_written == 0
    changed = build(make_config(animation=animation(duration_ms=120)))
    written = sorted(str(w.relpath) for r in changed.results for w in r.written)
    assert written == [f"muscles/gif/{SET}.{ext}" for ext in ("gif", "mp4", "webm")]
    _, durations, _ = gif_frames(out / "muscles" / "gif" / f"{SET}.gif")
    assert durations == [120] * 16


def test_animate_command_writes_the_three_files(raw: Path, tmp_path: Path) -> None:
    write_set(raw, SET)
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f"paths:\n  raw: {raw}\n  output: {tmp_path / 'site'}\nanimation:\n  width: {WIDTH}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["animate", "--config", str(config), "-j", "1", SET])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "site" / "muscles" / "gif"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{SET}.{e}" for e in ("gif", "mp4", "webm")
    ]
    assert not (tmp_path / "site" / "muscles" / "png").exists()  # only this stage ran
    unknown = CliRunner().invoke(main, ["animate", "--config", str(config), "No-Such-Set"])
    assert unknown.exit_code == 2


def test_bad_animation_settings_are_all_reported(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(animation={"duration_ms": 5, "background": "white", "gif_colors": 300})
    message = str(caught.value)
    for key in ("duration_ms", "background", "gif_colors"):
        assert f"animation.{key}" in message
    with pytest.raises(ConfigError, match=r"animation\.mp4_preset"):
        make_config(animation={"mp4_preset": "fastest"})
    with pytest.raises(ConfigError) as caught:
        make_config(animation={"webm_opaque_crf": 64, "mp4_subme": 12})
    assert "animation.webm_opaque_crf" in str(caught.value)
    assert "animation.mp4_subme" in str(caught.value)


@pytest.mark.parametrize(("subme", "written"), [(5, b"subme=5"), (None, b"subme=7")])
def test_mp4_subme_reaches_x264(
    raw: Path, out: Path, make_config: MakeConfig, subme: int | None, written: bytes
) -> None:
    """x264 records its options in the stream: ``mp4_subme`` over the preset's
    (``null``: the default preset medium's own 7)."""
    write_set(raw, SET)
    assert build(make_config(animation=animation(mp4_subme=subme))).ok
    data = (out / "muscles" / "gif" / f"{SET}.mp4").read_bytes()
    assert written + b" " in data


@pytest.mark.parametrize("transparent", [True, False])
def test_webm_crf_by_alpha(
    raw: Path, out: Path, make_config: MakeConfig, transparent: bool
) -> None:
    """``webm_crf`` encodes sets with alpha, ``webm_opaque_crf`` opaque sets: the
    other key changes nothing."""
    write_set(raw, SET, transparent=transparent)
    sizes = []
    for crf, opaque_crf in ((4, 63), (63, 4), (4, 4)):
        settings = animation(webm_crf=crf, webm_opaque_crf=opaque_crf)
        assert build(make_config(animation=settings)).ok
        sizes.append((out / "muscles" / "gif" / f"{SET}.webm").stat().st_size)
    fine, coarse = (sizes[0], sizes[1]) if transparent else (sizes[1], sizes[0])
    assert fine > coarse
    assert sizes[2] == fine


def test_size_is_even_never_upscaled_and_odd_frames_are_trimmed_not_resampled() -> None:
    cfg = AnimationConfig(width=800)
    assert animation_size(65, 41, cfg) == (64, 40)
    assert animation_size(1601, 1201, cfg) == (800, 600)
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (41, 65, 4), dtype=np.uint8), "RGBA")
    fitted = fit_frame(image, (64, 40))
    assert np.array_equal(np.asarray(fitted), np.asarray(image)[:40, :64])


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (200, 120, 7)])
def test_composite_rounds_like_the_exact_blend_for_every_value_and_alpha(
    colour: tuple[int, int, int],
) -> None:
    value, alpha = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([value, 255 - value, value // 2, alpha], axis=-1).astype(np.uint8)
    exact = rgba[..., :3] * (alpha[..., None] / 255.0) + np.array(colour) * (
        1.0 - alpha[..., None] / 255.0
    )
    got = composite(rgba, colour)
    assert got.dtype == np.uint8
    assert got.shape == (256, 256, 3)
    assert np.array_equal(got, np.rint(exact).astype(np.uint8))
    # an opaque frame takes a shortcut (no blend): the same pixels
    rgba[..., 3] = 255
    assert np.array_equal(composite(rgba, colour), rgba[..., :3])


def test_webm_frame_is_the_composite_with_alpha_raised_at_the_edges() -> None:
    value, alpha = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([value, 255 - value, value // 3, alpha], axis=-1).astype(np.uint8)
    got = on_page(rgba, (200, 120, 7))
    gained = np.minimum(alpha * EDGE_ALPHA_GAIN, 255).astype(np.uint8)
    assert np.array_equal(got[..., :3], composite(rgba, (200, 120, 7)))
    assert np.array_equal(got[..., 3], gained)


def test_matte_makes_pixels_opaque_or_transparent_by_the_tolerance() -> None:
    rgba = np.array(
        [[[10, 20, 30, 255], [0, 0, 0, 0], [255, 255, 255, 128], [253, 252, 255, 255]]],
        dtype=np.uint8,
    )
    out = matte(rgba, (255, 255, 255), 3)
    assert out[0, 0].tolist() == [10, 20, 30, 255]  # opaque kept
    assert out[0, 1].tolist() == [0, 0, 0, 0]  # transparent
    assert out[0, 2].tolist() == [0, 0, 0, 0]  # blends to white: transparent
    assert out[0, 3].tolist() == [0, 0, 0, 0]  # within 3 of white on every channel
    rgba[0, 3] = [251, 255, 255, 255]  # 4 away on one channel: kept
    assert matte(rgba, (255, 255, 255), 3)[0, 3].tolist() == [251, 255, 255, 255]
