"""Decode one frame into the single form every stage works from.

Sources come as RGBA, RGB, grayscale, palette (with or without transparency) or
16-bit PNGs. Each is decoded once per build and normalised to 8-bit RGBA plus a
flag saying whether the set is transparent; every output derives from that.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image, ImageChops, PngImagePlugin, UnidentifiedImageError

from pipeline.codecs import pixels
from pipeline.codecs.pixels import Box
from pipeline.config import FramesConfig
from pipeline.errors import FrameError

# Bumped whenever what a probe records changes, so cached probes are made again
# (2: ``opaque`` recorded, a tRNS colour counts as transparency)
PROBE_VERSION = 2


@dataclass(frozen=True)
class FrameInfo:
    """What validation and cropping need to know about a frame, cacheable by content hash."""

    width: int
    height: int
    has_alpha: bool
    bbox: Box | None  # visible pixels; None when nothing is visible
    flat: bool  # every pixel the same colour
    transparent: bool = False  # every pixel fully transparent
    opaque: bool = True  # no pixel with alpha < 255: nothing of the frame is see-through

    @property
    def see_through(self) -> bool:
        """The frame uses transparency: it has an alpha channel (or a tRNS colour)
        and at least one pixel whose alpha is below 255."""
        return self.has_alpha and not self.opaque

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "has_alpha": self.has_alpha,
            "bbox": list(self.bbox) if self.bbox else None,
            "flat": self.flat,
            "transparent": self.transparent,
            "opaque": self.opaque,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameInfo:
        bbox = data.get("bbox")
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            has_alpha=bool(data["has_alpha"]),
            bbox=(int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3])) if bbox else None,
            flat=bool(data["flat"]),
            transparent=bool(data.get("transparent", False)),
            opaque=bool(data.get("opaque", True)),
        )


@dataclass(frozen=True)
class Frame:
    """A decoded frame: 8-bit RGBA pixels and what we learnt about them."""

    k: int
    path: Path
    image: Image.Image
    info: FrameInfo


def decode(path: Path, k: int, cfg: FramesConfig) -> Frame:
    """Read ``path``, normalise it and measure it; raise :class:`FrameError` naming
    the problem."""
    image, has_alpha = read_pixels(path, cfg)
    return Frame(k=k, path=path, image=image, info=measure(image, has_alpha, cfg))


def read_pixels(path: Path, cfg: FramesConfig) -> tuple[Image.Image, bool]:
    """:func:`decode` without the measuring: the build's second read of a frame
    already has its probe (a third of the decode's time on 1000x1000 renders)."""
    try:
        _check_header_size(path, cfg.max_pixels)
        with warnings.catch_warnings():
            # frames.max_pixels, checked above, is the limit; Pillow's own would only
            # second-guess a limit the user raised on purpose. Other decoder warnings
            # ("Invalid APNG, will use default PNG image") are about images it still
            # decodes: printed, they would break the one-line-per-problem output.
            warnings.simplefilter("ignore")
            with Image.open(path) as opened:
                if opened.format != "PNG":
                    raise FrameError(path, f"not a PNG file (found {opened.format} data)")
                width, height = opened.size
                _check_pixels(path, width, height, cfg.max_pixels)
                opened.load()
                image, has_alpha = _normalise(opened)
    except FrameError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FrameError(path, f"too many pixels: {exc}") from exc
    except FileNotFoundError as exc:
        raise FrameError(path, "file not found") from exc
    except PermissionError as exc:
        raise FrameError(path, "cannot read file: permission denied") from exc
    except UnidentifiedImageError as exc:
        if path.stat().st_size == 0:
            raise FrameError(path, "empty file (0 bytes)") from exc
        raise FrameError(path, _unidentified(path)) from exc
    except IsADirectoryError as exc:
        raise FrameError(path, "not a file (a folder has a frame's name)") from exc
    except MemoryError as exc:
        raise FrameError(path, "cannot decode PNG: out of memory") from exc
    except Exception as exc:
        # Sources are untrusted bytes: whatever the decoder trips over (OSError,
        # SyntaxError, zlib.error, struct.error, ...) is a defect of this file.
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise FrameError(path, f"cannot decode PNG: {detail}") from exc
    return image, has_alpha


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _unidentified(path: Path) -> str:
    """Why Pillow could not identify a file: a PNG signature followed by a broken
    chunk (a bad CRC in a ``tEXt`` chunk, a truncated header) is a corrupt PNG, and
    the PNG reader itself says what is wrong; ``Image.open`` only says it gave up."""
    with path.open("rb") as handle:
        if handle.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
            return "not a PNG file (cannot identify image data)"
    try:
        with PngImagePlugin.PngImageFile(path):
            pass
    except Exception as exc:  # any reason the reader gives is the message
        detail = " ".join(str(exc).split()) or type(exc).__name__
        # Pillow's "broken PNG file (bad header checksum in b'tEXt')", said plainly
        detail = re.sub(r"^broken PNG file \((.*)\)$", r"\1", detail)
        detail = re.sub(r"bad header checksum in b'(\w{4})'", r"bad CRC in \1 chunk", detail)
        return f"corrupt PNG: {detail}"
    return "corrupt PNG (cannot identify image data)"


def _check_header_size(path: Path, max_pixels: int) -> None:
    """Refuse a decompression bomb from its IHDR alone, before Pillow sees it, so
    the message always names our limit (Pillow refuses some sizes at open time)."""
    with path.open("rb") as handle:
        head = handle.read(24)
    if len(head) == 24 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        width = int.from_bytes(head[16:20], "big")
        height = int.from_bytes(head[20:24], "big")
        _check_pixels(path, width, height, max_pixels)


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise FrameError(
            path,
            f"{width}x{height} is {width * height} pixels, over the limit of "
            f"{max_pixels} (frames.max_pixels)",
        )


def _normalise(image: Image.Image) -> tuple[Image.Image, bool]:
    """Any PNG mode to 8-bit RGBA; the flag says whether the source had transparency."""
    mode = image.mode
    # a tRNS chunk names one transparent colour of a grey or RGB PNG (or alphas of
    # palette entries): Pillow keeps it as info["transparency"]
    trns = "transparency" in image.info
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: keep the top 8 bits (Pillow's own convert would clip, not scale).
        wide = np.asarray(image, dtype=np.uint32)
        grey = Image.fromarray((wide >> 8).astype(np.uint8), mode="L").convert("RGBA")
        key = image.info.get("transparency")
        if not isinstance(key, int):
            return grey, False
        grey.putalpha(Image.fromarray(np.where(wide == key, 0, 255).astype(np.uint8), "L"))
        return grey, True
    if mode == "RGBA":
        return image.copy(), True
    if mode in ("LA", "La", "PA", "RGBa"):
        return image.convert("RGBA"), True
    if mode == "P":
        return image.convert("RGBA"), trns
    if mode in ("RGB", "L") and trns:
        return image.convert("RGBA"), True  # Pillow turns the tRNS colour into alpha 0
    if mode == "RGB":
        return image.convert("RGBA"), False  # alpha 255, RGB untouched: no detour
    if mode in ("L", "1"):
        return image.convert("RGB").convert("RGBA"), False
    return image.convert("RGBA"), trns


def measure(image: Image.Image, has_alpha: bool, cfg: FramesConfig) -> FrameInfo:
    """Where the visible pixels are: alpha > 0 when the frame uses transparency,
    otherwise pixels that differ from the configured background colour.

    Pillow's C code does the work (``getextrema``, ``getbbox``, a lookup table
    over the difference to the background): on 1000x1000 frames the numpy version
    of the same tests cost twice the PNG decode itself.
    """
    width, height = image.size
    alpha = image.getchannel("A")
    low, high = cast(tuple[int, int], alpha.getextrema())
    if has_alpha and low < 255:
        bbox = _box(alpha.getbbox())
    else:
        colour = pixels.rgb(cfg.background)
        rgb = image.convert("RGB")
        diff = ImageChops.difference(rgb, Image.new("RGB", image.size, colour))
        threshold = [255 if v > cfg.background_tolerance else 0 for v in range(256)]
        bbox = _box(diff.point(threshold * 3).getbbox())
    # A frame that is one colour shows nothing or everything: only then compare pixels.
    flat = False
    if bbox is None or bbox == (0, 0, width, height):
        bands = cast(tuple[tuple[int, int], ...], image.getextrema())
        flat = all(lo == hi for lo, hi in bands)
    return FrameInfo(
        width=width,
        height=height,
        has_alpha=has_alpha,
        bbox=bbox,
        flat=flat,
        transparent=bool(has_alpha and high == 0),
        opaque=low == 255,
    )


def _box(box: tuple[int, int, int, int] | None) -> Box | None:
    return None if box is None else (box[0], box[1], box[2], box[3])


def frame_problem(info: FrameInfo) -> str | None:
    """The defect a single frame can have on its own, if any."""
    if info.transparent:
        return "nothing visible: the frame is fully transparent"
    if info.flat:
        return "nothing visible: the frame is one flat colour"
    if info.bbox is None:
        return "nothing visible: no pixel differs from the background colour"
    return None
