"""The shipped Jekyll includes in a real Jekyll build and a real headless Chromium.

A small site is assembled from fixture pages (the site's front matter), the
includes in ``pipeline/site/kit/`` and the pipeline's outputs; ``jekyll build`` must succeed
and every image and video URL in the HTML must resolve to a file. Then Chromium
loads a muscle page from a loopback server: no request may fail, the WebM must
play, every thumbnail must load and dragging the viewer must turn the muscle.

Needs Debian's ``jekyll`` and ``chromium``: without them these tests skip, with
the reason in pytest's summary; ``.ci/run`` installs them and sets
``MUSCLE_ASSETS_REQUIRE_SITE=1``, which turns a missing program into a failure.
``MUSCLE_ASSETS_SKIP_E2E=1`` skips them even when the programs are there.
The screenshot goes to ``$MUSCLE_ASSETS_ARTIFACTS`` (default
``output/test-artifacts/``).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.build import build
from pipeline.config import config_from_dict
from tests.cdp import Browser, Page
from tests.conftest import draw_frame, write_set
from tests.site_kit import (
    REPO,
    assemble_site,
    html_pages,
    img_attributes,
    jekyll_build,
    page_text,
    resolved_urls,
    site_program,
    write_sprite_stand_in,
)

pytestmark = pytest.mark.e2e

SOLEUS = "Leg-Soleus"
REGION = "Leg"
SPRITE = "muscles/gif/Leg-sprite.webp"  # as the animation stage names it
SPRITE_COLUMNS = 4
SITE_CONFIG = """title: Muscle atlas test site
urlimg: /assets/images/
baseurl: ""
muscle_assets:
  avif: true
  thumb_box: 120
"""


@dataclass(frozen=True)
class Site:
    root: Path  # Jekyll source
    built: Path  # _site
    out_root: Path  # pipeline output
    sprite_cells: tuple[Image.Image, ...]  # the region page's sprite, in frame order


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    jekyll = site_program("jekyll", "MUSCLE_ASSETS_JEKYLL")
    base = tmp_path_factory.mktemp("site-e2e")
    raw = base / "raw"
    raw.mkdir()
    for k in range(1, 17):  # a wide set, so that thumbnail sizes are not square
        draw_frame(k, 320).resize((480, 320)).save(raw / f"{SOLEUS}-{k}.png")
    write_set(raw, REGION, size=240, transparent=False)
    out_root = base / "out"
    cfg = config_from_dict(
        {
            "paths": {"raw": str(raw), "output": str(out_root)},
            "variants": {"avif": True, "avif_speed": 10},
            "thumbs": {"width": 120, "height": 120},
            "build": {"jobs": 1},  # in-process: a fork pool after in-process oxipng can hang
        },
        base,
    )
    report = build(cfg)
    assert report.ok, [str(d) for r in report.failed for d in r.defects] + [
        r.error for r in report.failed
    ]
    for set_id in (SOLEUS, REGION):  # the pipeline's own animation, nothing stood in
        for ext in ("gif", "webm", "mp4"):
            assert (out_root / "muscles" / "gif" / f"{set_id}.{ext}").is_file(), (set_id, ext)
    tiles = write_sprite_stand_in(out_root, REGION, SPRITE, 160, SPRITE_COLUMNS)
    frame_w, frame_h = tiles[0].size
    sizes = {}
    for k in range(1, 17):
        with Image.open(out_root / "muscles" / "png" / f"{SOLEUS}-{k}.png") as image:
            sizes[k] = image.size
    soleus_body = (
        "The soleus lies deep to the gastrocnemius.\n\n"
        "[Back\u203a\u203a](/muscle/leg/)\n\n"
        '{% include page-image im_id="soleus" %}\n\n'
        "{% include rotate-viewer %}\n\n"
        "{% include gallery %}"
    )
    region_body = (
        "The leg lies between the knee and the ankle.\n\n"
        '{% include page-image im_id="leg" %}\n\n'
        f'{{% include rotate-viewer sprite="{SPRITE}" columns={SPRITE_COLUMNS} frames=16 '
        f"width={frame_w} height={frame_h} %}}\n\n"
        "{% include gallery picture=false %}"
    )
    pages = {
        "muscle_leg-soleus.md": page_text(
            SOLEUS, "The soleus muscle", "/muscle/leg/soleus/", "soleus", soleus_body, sizes
        ),
        "muscle_leg.md": page_text(
            REGION, "Muscles of the Leg", "/muscle/leg/", "leg", region_body
        ),
        # An animation and no gallery: no poster, no viewer, an empty gallery.
        "muscle_leg-animation.md": page_text(
            REGION,
            "The leg turning",
            "/muscle/leg/animation/",
            "turning",
            '{% include page-image im_id="turning" %}\n\n{% include rotate-viewer %}\n\n'
            "{% include gallery %}",
        ).split("gallery:\n")[0]
        + "\n---\n\n"
        + '{% include page-image im_id="turning" %}\n\n{% include rotate-viewer %}\n\n'
        + "{% include gallery %}\n",
    }
    root = base / "src"
    assemble_site(root, out_root, pages, SITE_CONFIG)
    return Site(root, jekyll_build(jekyll, root), out_root, tuple(tiles))


def test_every_image_and_video_url_resolves(site: Site) -> None:
    seen = resolved_urls(site.built)
    # The page uses every kind of output: a test that found no URLs would prove nothing.
    for suffix in (
        f"{SOLEUS}-3-thumb.png",
        f"{SOLEUS}-3-thumb.webp",
        f"{SOLEUS}-3-thumb.avif",
        f"{SOLEUS}-3.png",
        f"{SOLEUS}-16.webp",
        f"{SOLEUS}.gif",
        f"{SOLEUS}.webm",
        f"{SOLEUS}.mp4",
        f"{REGION}.webm",
        "Leg-sprite.webp",
        "rotate-viewer.js",
    ):
        assert any(p.endswith(suffix) for p in seen), f"no URL ends with {suffix}"


def test_page_without_gallery(site: Site) -> None:
    html = (site.built / "muscle" / "leg" / "animation" / "index.html").read_text("utf-8")
    assert f'<source src="/assets/images/muscles/gif/{REGION}.webm"' in html
    assert "poster=" not in html and "muscle-anim-still" not in html.split("</style>")[-1]
    assert 'class="rotate-viewer"' not in html and "<li>" not in html


def test_gallery_images_carry_their_size(site: Site) -> None:
    soleus = (site.built / "muscle" / "leg" / "soleus" / "index.html").read_text(encoding="utf-8")
    images = img_attributes(soleus)
    for k in range(1, 17):
        with Image.open(site.out_root / "muscles" / "png" / f"{SOLEUS}-{k}-thumb.png") as thumb:
            size = thumb.size
        attrs = images[f"/assets/images/muscles/png/{SOLEUS}-{k}-thumb.png"]
        assert size[0] != size[1]  # else the test could not tell width from height
        assert (attrs["width"], attrs["height"]) == (str(size[0]), str(size[1]))
        assert attrs["loading"] == "lazy"
    # picture=false: each thumbnail <img> is the link's own child, for old lightboxes.
    region_html = (site.built / "muscle" / "leg" / "index.html").read_text(encoding="utf-8")
    gallery = region_html[region_html.index('class="clearing-thumbs') :]
    assert "<picture>" not in gallery and "-thumb.webp" not in gallery
    assert gallery.count('"><img src="/assets/images/muscles/png/Leg-') == 16
    # Without width/height in front matter, the thumbnail box stands in.
    region = (site.built / "muscle" / "leg" / "index.html").read_text(encoding="utf-8")
    attrs = img_attributes(region)[f"/assets/images/muscles/png/{REGION}-5-thumb.png"]
    assert (attrs["width"], attrs["height"]) == ("120", "120")


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on the loopback interface only, on a free port."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[str]:
    with _serve(site.built) as url:
        yield url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    chromium = site_program("chromium", "MUSCLE_ASSETS_CHROMIUM")
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = Browser(chromium, profile)
    try:
        tab = Page(browser)
        for domain in ("Page", "Network", "Runtime"):
            tab.send(f"{domain}.enable")
        tab.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1100, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        yield tab
    finally:
        browser.close()


def _artifacts() -> Path:
    folder = Path(os.environ.get("MUSCLE_ASSETS_ARTIFACTS") or REPO / "output" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _failed_requests(page: Page) -> list[str]:
    urls = {
        e["params"]["requestId"]: e["params"]["request"]["url"]
        for e in page.events("Network.requestWillBeSent")
    }
    failed = [
        f"{e['params'].get('errorText')} {urls.get(e['params']['requestId'], '?')}"
        for e in page.events("Network.loadingFailed")
    ]
    for event in page.events("Network.responseReceived"):
        response = event["params"]["response"]
        if response["status"] >= 400:
            failed.append(f"HTTP {response['status']} {response['url']}")
    return failed


def _drag(page: Page, selector: str, fraction: float, touch: bool = False) -> None:
    page.evaluate(f"document.querySelector({selector!r}).scrollIntoView({{block: 'center'}})")
    page.browser.pump(0.2)
    box = page.evaluate(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; })()"
    )
    x, y = box[0] + box[2] * 0.3, box[1] + box[3] / 2
    end = x + box[2] * fraction
    steps = 12
    if touch:
        page.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
        )
        for i in range(1, steps + 1):
            point = {"x": x + (end - x) * i / steps, "y": y}
            page.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        page.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        return
    common = {"button": "left", "clickCount": 1}
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    page.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y, **common})
    for i in range(1, steps + 1):
        px = x + (end - x) * i / steps
        page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": px, "y": y, "buttons": 1})
    page.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": end, "y": y, **common})


VIEWER_FRAME = "document.querySelector('.rotate-viewer').getAttribute('aria-valuenow')"
VIEWER_IMG_LOADED = (
    "(() => { const i = document.querySelector('.rotate-viewer img');"
    " return i.complete && i.naturalWidth > 0 ? i.currentSrc : ''; })()"
)


def _plays_and_loads(page: Page, set_id: str) -> list[str]:
    """The page's WebM plays and every gallery thumbnail loads; returns the
    thumbnails' chosen URLs."""
    assert page.wait_for("document.querySelector('video').currentTime > 0.3"), "video not playing"
    video = page.evaluate(
        "(() => { const v = document.querySelector('video');"
        " return {src: v.currentSrc, t: v.currentTime, paused: v.paused, w: v.videoWidth}; })()"
    )
    assert video["src"].endswith(f"/{set_id}.webm") and not video["paused"] and video["w"] > 0
    assert page.wait_for(f"document.querySelector('video').currentTime != {video['t']}")
    # Thumbnails are lazy: scroll to them.
    page.evaluate("document.querySelector('.muscle-gallery').scrollIntoView()")
    thumbs: list[str] = page.wait_for(
        "(() => { const all = [...document.querySelectorAll('.muscle-gallery img')];"
        " return all.every(i => i.complete && i.naturalWidth > 0)"
        " && all.map(i => i.currentSrc); })()"
    )
    assert thumbs and len(thumbs) == 16, f"thumbnails not loaded: {thumbs}"
    return thumbs


def test_muscle_page_plays_loads_and_rotates(server: str, page: Page) -> None:
    page.navigate(f"{server}/muscle/leg/soleus/")

    thumbs = _plays_and_loads(page, SOLEUS)
    assert all(src.endswith("-thumb.avif") for src in thumbs), thumbs

    # The viewer: mouse drag, touch drag and arrow keys each turn it.
    assert page.evaluate(VIEWER_FRAME) == "1"
    _drag(page, ".rotate-viewer", 0.25)
    after_mouse = page.evaluate(VIEWER_FRAME)
    assert after_mouse != "1", "mouse drag did not change the frame"
    shown = page.wait_for(VIEWER_IMG_LOADED)
    assert shown.endswith(f"/{SOLEUS}-{after_mouse}.webp"), shown
    page.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
    _drag(page, ".rotate-viewer", -0.25, touch=True)
    after_touch = page.evaluate(VIEWER_FRAME)
    assert after_touch != after_mouse, "touch drag did not change the frame"
    page.evaluate("document.querySelector('.rotate-viewer').focus()")
    key = {"key": "ArrowRight", "code": "ArrowRight", "windowsVirtualKeyCode": 39}
    page.send("Input.dispatchKeyEvent", {"type": "keyDown", **key})
    page.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})
    assert page.evaluate(VIEWER_FRAME) == str(int(after_touch) % 16 + 1)
    assert page.wait_for(VIEWER_IMG_LOADED)

    page.evaluate("window.scrollTo(0, 0)")
    page.browser.pump(0.5)
    page.screenshot(_artifacts() / "muscle-page.png")
    assert not _failed_requests(page), _failed_requests(page)


def test_reduced_motion_shows_a_still(server: str, page: Page) -> None:
    page.send(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]},
    )
    page.navigate(f"{server}/muscle/leg/soleus/")
    still = page.wait_for(
        "(() => { const i = document.querySelector('.muscle-anim-still img');"
        " return i.complete && i.naturalWidth > 0 && i.currentSrc; })()"
    )
    assert still and still.endswith(f"/{SOLEUS}-1.avif"), still
    state = page.evaluate(
        "(() => { const v = document.querySelector('video');"
        " return {paused: v.paused, shown: v.getClientRects().length > 0}; })()"
    )
    assert state == {"paused": True, "shown": False}
    page.screenshot(_artifacts() / "muscle-page-reduced-motion.png")
    # Without a gallery there is no still: the video stays, paused.
    page.navigate(f"{server}/muscle/leg/animation/")
    page.browser.pump(0.5)
    state = page.evaluate(
        "(() => { const v = document.querySelector('video');"
        " return {paused: v.paused, shown: v.getClientRects().length > 0}; })()"
    )
    assert state == {"paused": True, "shown": True}
    assert not _failed_requests(page), _failed_requests(page)


def _closest_cell(shot: Image.Image, cells: tuple[Image.Image, ...]) -> int:
    """Index of the sprite cell that the rendered viewer looks most like."""
    shown = np.asarray(shot.convert("RGB").resize(cells[0].size), dtype=np.float64)
    errors = [np.abs(shown - np.asarray(c, dtype=np.float64)).mean() for c in cells]
    return int(np.argmin(errors))


def test_sprite_viewer_and_mp4(site: Site, server: str, page: Page) -> None:
    page.navigate(f"{server}/muscle/leg/")
    page.evaluate("document.querySelector('.rotate-viewer').scrollIntoView()")
    assert page.wait_for("document.querySelector('.rotate-viewer').dataset.frame === '1'")
    page.browser.pump(0.3)  # the sheet is decoded
    shot = Image.open(io.BytesIO(page.capture(".rotate-viewer-sprite")))
    assert _closest_cell(shot, site.sprite_cells) == 0
    for fraction in (0.3, 0.45):  # a multi-row sheet: frames from rows 1 and 2
        _drag(page, ".rotate-viewer", fraction)
        frame = int(page.evaluate(VIEWER_FRAME))
        assert frame != 1
        page.browser.pump(0.2)
        shot = Image.open(io.BytesIO(page.capture(".rotate-viewer-sprite")))
        assert _closest_cell(shot, site.sprite_cells) == frame - 1, frame
    # Debian's chromium also plays the H.264 MP4 (the WebM is preferred on the page).
    mp4 = page.evaluate(
        "(async () => { const v = document.createElement('video'); v.muted = true;"
        f" v.src = '/assets/images/muscles/gif/{REGION}.mp4'; document.body.append(v);"
        " try { await v.play(); } catch (e) { return 'error: ' + e; }"
        " await new Promise(r => setTimeout(r, 600)); return v.currentTime; })()",
        await_promise=True,
    )
    assert isinstance(mp4, float | int) and mp4 > 0, mp4
    page.screenshot(_artifacts() / "region-page.png")
    assert not _failed_requests(page), _failed_requests(page)


def test_a_missing_file_is_reported(server: str, page: Page) -> None:
    """The check above must be able to fail: a 404 shows up in the same list."""
    page.navigate(f"{server}/assets/images/muscles/png/No-Such-Set-1-thumb.png")
    assert any("HTTP 404" in line for line in _failed_requests(page))


SAMPLE_PAGES = REPO / "examples" / "site" / "pages" / "muscles"


def test_bundled_sample_site(tmp_path: Path, page: Page) -> None:
    """The repository's own sample: raw/ through the whole pipeline, the sample
    pages of the pages stage, the shipped includes; every page builds, every URL
    resolves, and each muscle page plays and loads in the browser."""
    if not any(SAMPLE_PAGES.glob("muscle_*.md")):
        pytest.skip(f"no sample pages in {SAMPLE_PAGES.relative_to(REPO)} (pages stage)")
    jekyll = site_program("jekyll", "MUSCLE_ASSETS_JEKYLL")
    pages_dir = tmp_path / "pages"
    shutil.copytree(SAMPLE_PAGES, pages_dir)
    out_root = tmp_path / "out"
    cfg = config_from_dict(
        {
            "paths": {"raw": str(REPO / "raw"), "output": str(out_root), "pages": str(pages_dir)},
            "build": {"jobs": 1},
        },
        tmp_path,
    )
    report = build(cfg)
    assert report.ok, [str(d) for r in report.failed for d in r.defects]
    set_ids = [r.set_id for r in report.results]
    for set_id in set_ids:  # the pipeline's own animation, nothing stood in
        for ext in ("gif", "webm", "mp4"):
            assert (out_root / cfg.paths.gif_dir / f"{set_id}.{ext}").is_file(), (set_id, ext)
    config = (
        "title: sample\nurlimg: /assets/images/\nmuscle_assets:\n"
        f"  webp: {str(cfg.variants.webp).lower()}\n  avif: {str(cfg.variants.avif).lower()}\n"
        f"  thumb_box: {cfg.thumbs.width}\n"
    )
    pages = {p.name: p.read_text(encoding="utf-8") for p in pages_dir.glob("*.md")}
    root = tmp_path / "src"
    assemble_site(root, out_root, pages, config)
    built = jekyll_build(jekyll, root)
    assert resolved_urls(built)

    with _serve(built) as url:
        for set_id in set_ids:
            html = next(
                (p for p in html_pages(built) if f"/{set_id}.gif" in p.read_text("utf-8")), None
            )
            assert html is not None, f"no built page shows {set_id}.gif"
            path = html.parent.relative_to(built).as_posix()
            page.navigate(f"{url}/{path}/")
            _plays_and_loads(page, set_id)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(_artifacts() / f"sample-{set_id}.png")
    assert not _failed_requests(page), _failed_requests(page)
