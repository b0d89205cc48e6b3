"""Every output's file name, in the site's naming: the one place names are made.

The theme fixes them, not the config: a gallery image is ``<SetId>-<k>.png`` and
its thumbnail the same name with ``-thumb`` before the extension (the theme
derives one from the other); the rotating image is ``<SetId>.gif`` with the WebM
and MP4 beside it (the theme finds them by changing the extension). Only the two
folders (``paths.png_dir``, ``paths.gif_dir``) are configurable. Stages name
their outputs with these functions when they plan; everything after the plan
(pages, page weight, preview, benchmark) reads names from the plan.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pipeline.config import PathsConfig


def frame(paths: PathsConfig, set_id: str, k: int, ext: str = "png") -> PurePosixPath:
    """``<png_dir>/<SetId>-<k>.<ext>``: the full-size gallery image and its copies."""
    return PurePosixPath(paths.png_dir) / f"{set_id}-{k}.{ext}"


def frame_width(paths: PathsConfig, set_id: str, k: int, width: int, ext: str) -> PurePosixPath:
    """``<png_dir>/<SetId>-<k>-<w>w.<ext>``: one ``srcset`` width."""
    return PurePosixPath(paths.png_dir) / f"{set_id}-{k}-{width}w.{ext}"


def thumb(paths: PathsConfig, set_id: str, k: int, ext: str = "png") -> PurePosixPath:
    """``<png_dir>/<SetId>-<k>-thumb.<ext>``."""
    return PurePosixPath(paths.png_dir) / f"{set_id}-{k}-thumb.{ext}"


def animation(paths: PathsConfig, set_id: str, ext: str = "gif") -> PurePosixPath:
    """``<gif_dir>/<SetId>.<ext>``: the GIF, and the WebM and MP4 beside it."""
    return PurePosixPath(paths.gif_dir) / f"{set_id}.{ext}"


def sprite(paths: PathsConfig, set_id: str, ext: str) -> PurePosixPath:
    """``<gif_dir>/<SetId>-sprite.<ext>``: the sprite sheet and its frame list."""
    return PurePosixPath(paths.gif_dir) / f"{set_id}-sprite.{ext}"
