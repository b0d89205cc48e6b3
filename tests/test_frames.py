"""Decoding normalises every PNG flavour to the same 8-bit RGBA."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.config import FramesConfig
from pipeline.errors import FrameError
from pipeline.sources.frames import decode


def _png16(path: Path, pixels: np.ndarray, colour_type: int) -> None:
    """Write a 16-bit PNG by hand (Pillow cannot write 16-bit colour PNGs)."""
    height, width = pixels.shape[:2]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


CFG = FramesConfig()


def test_rgba_keeps_alpha_and_box(tmp_path: Path) -> None:
    pixels = np.zeros((40, 50, 4), np.uint8)
    pixels[10:20, 5:30] = (200, 10, 10, 255)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    frame = decode(tmp_path / "a.png", 1, CFG)
    assert frame.image.mode == "RGBA" and frame.info.has_alpha
    assert frame.info.bbox == (5, 10, 30, 20)
    assert np.array_equal(np.asarray(frame.image), pixels)


def test_rgb_on_white_uses_background_colour(tmp_path: Path) -> None:
    pixels = np.full((40, 50, 3), 255, np.uint8)
    pixels[3:7, 40:45] = (10, 200, 10)
    Image.fromarray(pixels, "RGB").save(tmp_path / "a.png")
    frame = decode(tmp_path / "a.png", 1, CFG)
    assert not frame.info.has_alpha
    assert frame.info.bbox == (40, 3, 45, 7)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    pixels = np.full((8, 8), 65535, np.uint16)
    pixels[2, 3] = 40000
    _png16(tmp_path / "g.png", pixels, 0)
    frame = decode(tmp_path / "g.png", 1, CFG)
    rgba = np.asarray(frame.image)
    assert tuple(rgba[2, 3]) == (40000 >> 8,) * 3 + (255,)
    assert tuple(rgba[0, 0]) == (255, 255, 255, 255)
    assert frame.info.bbox == (3, 2, 4, 3)


def test_sixteen_bit_rgba(tmp_path: Path) -> None:
    pixels = np.zeros((8, 8, 4), np.uint16)
    pixels[4, 4] = (65535, 32768, 0, 65535)
    _png16(tmp_path / "c.png", pixels, 6)
    frame = decode(tmp_path / "c.png", 1, CFG)
    assert tuple(np.asarray(frame.image)[4, 4]) == (255, 128, 0, 255)
    assert frame.info.has_alpha and frame.info.bbox == (4, 4, 5, 5)


def test_grey_alpha_and_palette_with_transparency(tmp_path: Path) -> None:
    la = Image.new("LA", (10, 10), (0, 0))
    la.putpixel((2, 2), (180, 255))
    la.save(tmp_path / "la.png")
    frame = decode(tmp_path / "la.png", 1, CFG)
    assert frame.info.has_alpha and frame.info.bbox == (2, 2, 3, 3)
    assert tuple(np.asarray(frame.image)[2, 2]) == (180, 180, 180, 255)

    pal = Image.new("P", (10, 10), 0)
    pal.putpalette([0, 0, 0, 250, 20, 20] + [0] * 762)
    pal.putpixel((7, 1), 1)
    pal.save(tmp_path / "p.png", transparency=0)
    frame = decode(tmp_path / "p.png", 1, CFG)
    assert frame.info.has_alpha and frame.info.bbox == (7, 1, 8, 2)
    assert tuple(np.asarray(frame.image)[1, 7]) == (250, 20, 20, 255)


def test_greyscale_and_opaque_palette_are_opaque(tmp_path: Path) -> None:
    grey = Image.new("L", (10, 10), 255)
    grey.putpixel((1, 1), 0)
    grey.save(tmp_path / "l.png")
    frame = decode(tmp_path / "l.png", 1, CFG)
    assert not frame.info.has_alpha and frame.info.bbox == (1, 1, 2, 2)
    grey.convert("P").save(tmp_path / "p.png")
    assert not decode(tmp_path / "p.png", 1, CFG).info.has_alpha


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"hello, not an image at all", "not a PNG file (cannot identify image data)"),
    ],
)
def test_unreadable_content(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(FrameError) as err:
        decode(path, 1, CFG)
    assert str(err.value) == f"{path}: {message}"


def test_jpeg_named_png(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path, format="JPEG")
    with pytest.raises(FrameError) as err:
        decode(path, 1, CFG)
    assert str(err.value) == f"{path}: not a PNG file (found JPEG data)"


def test_pixel_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGBA", (100, 100)).save(path)
    with pytest.raises(FrameError) as err:
        decode(path, 1, FramesConfig(max_pixels=5000))
    assert "10000 pixels, over the limit of 5000 (frames.max_pixels)" in str(err.value)
