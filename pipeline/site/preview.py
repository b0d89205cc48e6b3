"""A contact sheet of every set: ``<output root>/preview/index.html``.

One page to look over a whole build before publishing it: each set's thumbnails,
its animation, what its outputs weigh and what ``check`` would complain about.
The page is self-contained in the sense that it needs nothing but the output
folder: CSS is inline, nothing is fetched from the network, and images are
referenced relatively (``../muscles/png/...``), so the page works from a file
manager, a CI artifact of the output folder or the site's own server. With
``embed`` the thumbnails and the animation are inlined as ``data:`` URIs instead,
so the single HTML file can be mailed or attached on its own (it is larger).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pipeline.config import Config
from pipeline.errors import OutputError
from pipeline.plan import SetPlan
from pipeline.site.weight import result_weight
from pipeline.state.cleanup import remove_empty_folders
from pipeline.state.outputs import Output, human_size, write_bytes_atomic

if TYPE_CHECKING:
    from pipeline.build import BuildReport, SetResult

PREVIEW_DIR = "preview"
_TITLE_PREFIX = "muscle-assets preview: "  # also how clean knows the page is ours
MAX_STALE_LISTED = 8
ANIMATION_FORMATS = ("webm", "mp4", "gif")
MIME = {
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
    "webm": "video/webm",
    "mp4": "video/mp4",
}


@dataclass(frozen=True)
class SizeRow:
    """Outputs of one kind and format for one set."""

    kind: str
    format: str
    files: int
    dimensions: str
    bytes: int


def preview_path(cfg: Config) -> Path:
    return cfg.paths.output_root / PREVIEW_DIR / "index.html"


def remove_preview(cfg: Config, *, dry_run: bool = False) -> Path | None:
    """Remove the contact sheet (for ``clean``) if this tool wrote it, and its folder
    when that leaves it empty; return the file removed (or that would be)."""
    dest = preview_path(cfg)
    try:
        with dest.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return None
    if _TITLE_PREFIX.encode() not in head:  # a page someone else put there
        return None
    if not dry_run:
        try:
            dest.unlink()
        except OSError as exc:
            raise OutputError(dest, f"cannot remove: {exc.strerror or exc}") from exc
        remove_empty_folders(dest.parent, cfg.paths.output_root)
    return dest


def write_preview(cfg: Config, report: BuildReport, *, embed: bool = False) -> Path:
    """Write the contact sheet for ``report`` (a dry run, so nothing is built)."""
    dest = preview_path(cfg)
    write_bytes_atomic(dest, render_preview(cfg, report, embed=embed).encode("utf-8"))
    return dest


def render_preview(cfg: Config, report: BuildReport, *, embed: bool = False) -> str:
    out_root = cfg.paths.output_root
    rows = [size_rows(cfg, result, out_root) for result in report.results]
    sections = [
        _set_section(cfg, result, rows_of_set, out_root, embed)
        for result, rows_of_set in zip(report.results, rows, strict=True)
    ]
    warnings = sum(warning_count(r) for r in report.results)
    total = sum(row.bytes for rows_of_set in rows for row in rows_of_set)
    summary = (
        f"{len(report.results)} set(s), {report.count('up-to-date')} up to date, "
        f"{report.count('stale')} need a build, {len(report.failed)} invalid; "
        f"{warnings} warning(s); outputs on disk {human_size(total)}"
    )
    index = "".join(
        f'<a href="#{_anchor(r.set_id)}" class="{_status_class(r)}">{_e(r.set_id)}</a> '
        for r in report.results
    )
    return _PAGE.format(
        title=_e(f"{_TITLE_PREFIX}{out_root}"),
        css=_CSS,
        summary=_e(summary),
        index=index,
        sections="\n".join(sections) or "<p>No sets found.</p>",
    )


def warning_count(result: SetResult) -> int:
    """Problems ``check`` finds in this set: defects, a failure, stale outputs."""
    return len(result.defects) + (1 if result.error else 0) + len(result.stale)


def warnings_for(result: SetResult, out_root: Path) -> list[str]:
    """What ``check`` reports for this set, one line each."""
    lines = [str(d) for d in result.defects]
    if result.error:
        lines.append(result.error)
    stale = [str(out_root / spec.relpath) for spec in result.stale]
    lines += [f"{path}: stale or missing" for path in stale[:MAX_STALE_LISTED]]
    if len(stale) > MAX_STALE_LISTED:
        lines.append(f"... and {len(stale) - MAX_STALE_LISTED} more stale or missing output(s)")
    return lines


def size_rows(cfg: Config, result: SetResult, out_root: Path) -> list[SizeRow]:
    """Outputs grouped by kind and format, from the manifest's records, plus the
    animation files beside the GIF when no stage recorded them."""
    records = list(result.outputs)
    known = {w.relpath for w in records}
    for relpath in animation_files(result.plan, out_root).values():
        if relpath not in known:
            size = (out_root / relpath).stat().st_size
            records.append(Output("animation", "animation", relpath, (), 0, 0, bytes=size))
    groups: dict[tuple[str, str], list[Output]] = {}
    for written in records:
        groups.setdefault((written.kind, written.format), []).append(written)
    rows = []
    for (kind, file_format), items in sorted(groups.items()):
        dims = sorted({(w.width, w.height) for w in items if w.width})
        rows.append(
            SizeRow(
                kind,
                file_format,
                len(items),
                ", ".join(f"{w}x{h}" for w, h in dims[:3]) + (" ..." if len(dims) > 3 else ""),
                sum(w.bytes for w in items),
            )
        )
    return rows


def animation_files(plan: SetPlan, out_root: Path) -> dict[str, PurePosixPath]:
    """The planned animation files that exist on disk, by format."""
    found = {}
    for kind in ANIMATION_FORMATS:
        output = plan.output("animate", kind)
        if output is not None and (out_root / output.relpath).is_file():
            found[kind] = output.relpath
    return found


def _set_section(
    cfg: Config, result: SetResult, rows: list[SizeRow], out_root: Path, embed: bool
) -> str:
    if result.status == "failed":  # its files on disk are not of these sources: say why
        row = (
            '<p class="why">Not built: this set is invalid. Fix the problems listed below, '
            "then build it again.</p>"
        )
        rows = []
    else:
        frames = range(1, cfg.frames.count + 1)
        thumbs = "".join(_thumb(result.plan, k, out_root, embed) for k in frames)
        anim = animation_files(result.plan, out_root)
        animation = (
            _animation(anim, out_root, embed) if anim else '<p class="none">no animation</p>'
        )
        row = (
            f'<div class="row"><div class="anim">{animation}</div>\n'
            f'<div class="thumbs">{thumbs}</div></div>'
        )
    table = "".join(
        f"<tr><td>{_e(r.kind)}</td><td>{_e(r.format)}</td><td>{r.files}</td>"
        f"<td>{_e(r.dimensions)}</td><td>{human_size(r.bytes)}</td></tr>"
        for r in rows
    )
    total = sum(r.bytes for r in rows)
    sizes = (
        "<table><thead><tr><th>kind</th><th>format</th><th>files</th><th>size (px)</th>"
        f'<th>bytes</th></tr></thead><tbody>{table}</tbody><tfoot><tr><td colspan="4">total'
        f"</td><td>{human_size(total)}</td></tr></tfoot></table>"
        if rows
        else '<p class="none">no outputs recorded</p>'
    )
    warnings = warnings_for(result, out_root)
    warning_list = (
        '<ul class="warnings">' + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"
        if warnings
        else '<p class="ok">no warnings</p>'
    )
    return f"""<section id="{_anchor(result.set_id)}" class="{_status_class(result)}">
<h2>{_e(result.set_id)} <small>{_e(_status(result))}</small></h2>
{row}
{_weight(cfg, result)}
{sizes}
{warning_list}
</section>"""


def _weight(cfg: Config, result: SetResult) -> str:
    """What a view of the set's page downloads (see :mod:`pipeline.site.weight`)."""
    weight = result_weight(result)
    if weight is None:
        return ""
    if weight.missing:
        return '<p class="none">page weight: not all of its files are built</p>'
    budget = cfg.pages.budget_kib
    over = f", over the budget of {budget} KiB" if weight.over(budget) else ""
    return (
        f'<p class="{"why" if over else "weight"}">page weight: {human_size(weight.bytes)} a view '
        f"(WebM and thumbnails){over}; full-size PNGs on click: "
        f"{human_size(weight.click_bytes)}</p>"
    )


def _thumb(plan: SetPlan, k: int, out_root: Path, embed: bool) -> str:
    """Thumbnail ``k`` under its frame number, linking to the full-size image (not
    when embedded: the mailed file carries thumbnails only)."""
    set_id = plan.set_id
    thumb, full_output = plan.output("thumbs", "thumb", k), plan.output("variants", "png", k)
    if thumb is None or full_output is None:
        return f'<span class="missing">{k}</span>'
    relpath, full = thumb.relpath, full_output.relpath
    if not (out_root / relpath).is_file():
        return f'<span class="missing" title="{_e(str(relpath))}">{k}</span>'
    image = (
        f'<img src="{_src(out_root, relpath, embed)}" alt="{_e(set_id)} {k}" '
        f'title="orientation {k}" loading="lazy">'
    )
    if not embed and (out_root / full).is_file():
        image = f'<a href="{_src(out_root, full, embed)}">{image}</a>'
    return f"<figure>{image}<figcaption>{k}</figcaption></figure>"


def _animation(files: dict[str, PurePosixPath], out_root: Path, embed: bool) -> str:
    if embed:  # one format is enough in a mailed file: the smallest that browsers play
        smallest = next(f for f in ANIMATION_FORMATS if f in files)
        files = {smallest: files[smallest]}
    sources = "".join(
        f'<source src="{_src(out_root, files[f], embed)}" type="{MIME[f]}">'
        for f in ("webm", "mp4")
        if f in files
    )
    gif = files.get("gif")
    fallback = f'<img src="{_src(out_root, gif, embed)}" alt="animation">' if gif else ""
    if not sources:
        return fallback
    return f"<video autoplay loop muted playsinline>{sources}{fallback}</video>"


def _src(out_root: Path, relpath: PurePosixPath, embed: bool) -> str:
    if embed:
        data = base64.b64encode((out_root / relpath).read_bytes()).decode("ascii")
        return f"data:{MIME.get(relpath.suffix[1:], 'application/octet-stream')};base64,{data}"
    return _e("../" + str(relpath))  # relative to <output root>/preview/


def _status(result: SetResult) -> str:
    if result.status == "failed":
        return "invalid"
    if result.status == "stale":
        return f"needs build ({len(result.stale)} outputs)"
    return "up to date"


def _status_class(result: SetResult) -> str:
    return {"failed": "invalid", "stale": "stale"}.get(result.status, "ok")


def _anchor(set_id: str) -> str:
    return "set-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in set_id)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#f6f6f6;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin:0 0 .5em}h2 small{font-weight:normal;color:#666}
nav a{display:inline-block;margin:0 .4em .3em 0;padding:.1em .5em;border-radius:3px;
background:#e3f1e3;color:#222;text-decoration:none}
nav a.stale{background:#fff2cc}nav a.invalid{background:#f8d7da}
section{background:#fff;border-left:6px solid #5cb85c;margin:1em 0;padding:1em;border-radius:4px}
section.stale{border-color:#f0ad4e}section.invalid{border-color:#d9534f}
.row{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap}
.anim video,.anim img{max-width:240px;max-height:240px;background:#fff}
.anim{min-width:120px}.none{color:#999}
.thumbs{display:grid;grid-template-columns:repeat(8,minmax(40px,96px));gap:4px;flex:1}
.thumbs figure{margin:0;text-align:center}.thumbs figcaption{font-size:.75em;color:#666}
.why{color:#a00;font-weight:bold}
.thumbs img{width:100%;height:auto;
background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/12px 12px}
.missing{display:flex;align-items:center;justify-content:center;aspect-ratio:1;background:#f8d7da;
color:#a00;font-size:.8em}
table{border-collapse:collapse;margin:.7em 0;font-size:.9em}
td,th{padding:.15em .7em;border-bottom:1px solid #eee;text-align:left}
td:nth-child(3),td:nth-child(5){text-align:right}tfoot td{font-weight:bold}
.warnings{color:#a00;font-family:monospace;font-size:.85em;margin:.3em 0;padding-left:1.2em}
.ok{color:#3c763d;margin:.3em 0}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
<nav>{index}</nav>
{sections}
</body>
</html>
"""
