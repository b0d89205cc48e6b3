"""The contact sheet: every set, its thumbnails, animation, sizes and warnings."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from pipeline.build import build
from pipeline.cli import main
from pipeline.site.preview import preview_path, render_preview, write_preview
from tests.conftest import MakeConfig, write_set


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "poster") and value:
                self.refs.append((tag, value))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def _animation(out: Path, set_id: str) -> dict[str, bytes]:
    """The animation stage's files as the build wrote them."""
    gif_dir = out / "muscles" / "gif"
    return {ext: (gif_dir / f"{set_id}.{ext}").read_bytes() for ext in ("gif", "webm")}


def test_preview_lists_sets_thumbnails_sizes_and_warnings(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    write_set(raw, "Arm-Biceps", transparent=False)
    cfg = make_config()
    build(cfg)
    write_set(raw, "Leg-Plantaris", frames=range(1, 16))  # frame 16 missing: invalid
    (out / "muscles/png/Arm-Biceps-4.webp").unlink()  # stale: an output is missing

    path = write_preview(cfg, build(cfg, dry_run=True))

    assert path == out / "preview" / "index.html"
    html = path.read_text(encoding="utf-8")
    parsed = _parse(html)
    # every relative reference resolves to a file in the output root
    local = [ref for tag, ref in parsed.refs if not ref.startswith("#")]
    assert local and all((path.parent / ref).resolve().is_file() for ref in local), local
    for set_id in ("Leg-Soleus", "Arm-Biceps"):
        for k in range(1, 17):
            assert f"../muscles/png/{set_id}-{k}-thumb.png" in local
    assert '<source src="../muscles/gif/Leg-Soleus.webm" type="video/webm">' in html
    assert '<img src="../muscles/gif/Leg-Soleus.gif"' in html
    # sizes: the thumbnail row adds up to the thumbnails' bytes on disk
    thumbs = sum(p.stat().st_size for p in (out / "muscles/png").glob("Leg-Soleus-*-thumb.png"))
    text = " ".join(parsed.text)
    kib = f"{thumbs / 1024:.1f} KiB"
    section = html[html.index('id="set-Leg-Soleus"') :]
    assert re.search(
        rf"<td>thumb</td><td>png</td><td>16</td><td>[0-9x]+</td><td>{kib}</td>", section
    )
    # warnings: the broken set's defect and the stale output, as check words them
    assert f"{raw / 'Leg-Plantaris-16.png'}: missing frame number(s) 16" in text
    assert f"{out / 'muscles/png/Arm-Biceps-4.webp'}: stale or missing" in text
    assert "3 set(s), 1 up to date, 1 need a build, 1 invalid" in text


def test_embedded_preview_is_one_file(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    animation = _animation(out, "Leg-Soleus")

    html = render_preview(cfg, build(cfg, dry_run=True), embed=True)

    refs = [ref for _, ref in _parse(html).refs if not ref.startswith("#")]
    assert len(refs) == 17 and all(ref.startswith("data:") for ref in refs)
    thumb = (out / "muscles/png/Leg-Soleus-7-thumb.png").read_bytes()
    assert f"data:image/png;base64,{base64.b64encode(thumb).decode()}" in refs
    assert f"data:video/webm;base64,{base64.b64encode(animation['webm']).decode()}" in refs


def test_preview_command_writes_the_page(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    config_file = raw.parent / "pipeline.yaml"
    config_file.write_text(f"paths:\n  raw: {raw}\n  output: {out}\nbuild:\n  jobs: 1\n")

    stale = len(build(cfg, dry_run=True).results[0].stale)  # 64 with thumbs and variants alone

    result = CliRunner().invoke(main, ["preview", "--config", str(config_file)])

    assert result.exit_code == 0, result.output
    assert f"wrote {preview_path(cfg)}: 1 set(s), {stale} warning(s)" in result.output
    html = preview_path(cfg).read_text(encoding="utf-8")
    assert f"needs build ({stale} outputs)" in html and "no animation" in html
    assert f"... and {stale - 8} more stale or missing output(s)" in html
    assert '<span class="missing"' in html  # not built yet: no thumbnails to show
