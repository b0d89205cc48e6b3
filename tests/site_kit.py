"""A tiny Jekyll site around the shipped includes, for the integration tests.

Builds what the real site has that the includes rely on (``site.urlimg``, a
``page`` layout, pages in ``pages/muscles/`` with the site's front matter and the
pipeline's outputs under ``assets/images/``) and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from pipeline.codecs.encode import fit_size
from pipeline.site.kit import SITE_FILES, kit_bytes

REPO = Path(__file__).resolve().parent.parent
REQUIRE_ENV = "MUSCLE_ASSETS_REQUIRE_SITE"  # set by .ci/run: a missing program fails
SKIP_ENV = "MUSCLE_ASSETS_SKIP_E2E"  # skip the site tests even when the programs are there

LAYOUT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page.title }}</title>
<link rel="icon" href="data:,">
<style>body{font-family:sans-serif;margin:1em auto;max-width:960px;background:#fafafa}
.clearing-thumbs{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:8px}</style>
</head>
<body>
<h1>{{ page.title }}</h1>
<p>{{ page.subheadline }}</p>
{{ content }}
</body>
</html>
"""


def page_text(
    set_id: str,
    title: str,
    permalink: str,
    image_id: str,
    body: str,
    sizes: dict[int, tuple[int, int]] | None = None,
) -> str:
    """A page in the site's hand-written style (see CONTEXT.md); ``sizes`` adds the
    optional per-entry ``width``/``height`` fields."""
    lines = [
        "---",
        "",
        "layout: page",
        f"permalink: {permalink}",
        "",
        f"title: '{title}'",
        "subheadline: 'Images and description.'",
        "",
        "header: no",
        "",
        "images:",
        f"  - image_id: '{image_id}'",
        f"    image_name: 'muscles/gif/{set_id}.gif'",
        f"    image_title: '{title}'",
        f"    image_alt: '{title}' ",
        "",
        "gallery:",
    ]
    for k in range(1, 17):
        lines += [
            f"  - image_url: muscles/png/{set_id}-{k}.png",
            f"    caption: '{title} - orientation {k}'",
            f"    title: '{title} - orientation {k}'",
        ]
        if sizes:
            lines += [f"    width: {sizes[k][0]}", f"    height: {sizes[k][1]}"]
    lines += ["", "---", "", body, ""]
    return "\n".join(lines)


def write_sprite_stand_in(
    out_root: Path, set_id: str, dest: str, box: int, columns: int
) -> list[Image.Image]:
    """A sprite sheet of the set's frames, ``columns`` per row, as the animation
    stage lays it out; returns the cells in frame order."""
    png = out_root / "muscles" / "png"
    tiles = []
    for k in range(1, 17):
        with Image.open(png / f"{set_id}-{k}.png") as image:
            tile = image.convert("RGB")
        tiles.append(tile.resize(fit_size(tile.width, tile.height, box, box)))
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (w * columns, h * rows), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i % columns * w, i // columns * h))
    target = out_root / dest
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target, lossless=True)
    return tiles


def site_program(name: str, env: str) -> str:
    """The program for a site test (``$env`` or on PATH). Missing, the test skips
    and says why, so ``make test`` passes on a machine with only Python; under
    ``$MUSCLE_ASSETS_REQUIRE_SITE`` (CI) it fails instead."""
    if os.environ.get(SKIP_ENV):
        pytest.skip(f"{SKIP_ENV} is set")
    found = os.environ.get(env) or shutil.which(name)
    if found:
        return found
    why = f"{name} not found (install Debian's {name}, as .ci/run does, or set {env})"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{why}; {REQUIRE_ENV} is set", pytrace=False)
    pytest.skip(why)


def assemble_site(root: Path, out_root: Path, pages: dict[str, str], config: str) -> None:
    """The Jekyll source tree: config, layout, the shipped includes and scripts,
    pages and the pipeline's outputs under ``assets/images``."""
    (root / "_layouts").mkdir(parents=True)
    (root / "_layouts" / "page.html").write_text(LAYOUT, encoding="utf-8")
    (root / "_config.yml").write_text(config, encoding="utf-8")
    for name in SITE_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(kit_bytes(name))
    shutil.copytree(out_root, root / "assets" / "images", dirs_exist_ok=True)
    pages_dir = root / "pages" / "muscles"
    pages_dir.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (pages_dir / name).write_text(text, encoding="utf-8")


def jekyll_build(jekyll: str, root: Path) -> Path:
    dest = root / "_site"
    result = subprocess.run(
        [jekyll, "build", "--safe", "--source", str(root), "--destination", str(dest)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
    )
    if result.returncode != 0:
        raise AssertionError(f"jekyll build failed:\n{result.stdout}\n{result.stderr}")
    return dest


class _ImgCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img" and values.get("src"):
            self.images[str(values["src"])] = values


def img_attributes(html: str) -> dict[str, dict[str, str | None]]:
    """Each ``<img>``'s attributes, by its ``src``."""
    collector = _ImgCollector()
    collector.feed(html)
    return collector.images


class _UrlCollector(HTMLParser):
    """Every URL an image, video, sprite or script would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag.attribute, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value:
                continue
            where = f"{tag}.{name}"
            if name in ("src", "poster", "data-sprite"):
                self.urls.append((where, value))
            elif name == "srcset":
                self.urls += [(where, part.split()[0]) for part in value.split(",") if part.strip()]
            elif name == "data-frames" and "/" in value:
                self.urls += [(where, url) for url in value.split()]
            elif name == "href" and tag == "a" and value.startswith("/assets/"):
                self.urls.append((where, value))


def media_urls(html: str) -> list[tuple[str, str]]:
    collector = _UrlCollector()
    collector.feed(html)
    return collector.urls


def html_pages(site: Path) -> Iterator[Path]:
    yield from sorted(site.rglob("*.html"))


def resolved_urls(built: Path) -> list[str]:
    """Every media URL of every built page, asserting each is a file in ``built``."""
    seen: list[str] = []
    for page in html_pages(built):
        for where, url in media_urls(page.read_text(encoding="utf-8")):
            path = unquote(urlsplit(url).path)
            assert path.startswith("/"), f"{page}: {where} {url!r} is not site-absolute"
            target = built / path.lstrip("/")
            assert target.is_file(), f"{page.relative_to(built)}: {where} {url} -> no file"
            seen.append(path)
    return seen
