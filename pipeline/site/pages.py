"""The pages step: write each set's gallery metadata into its Jekyll page.

Runs after the asset stages, from each set's plan (file names and pixel sizes,
:class:`pipeline.plan.SetPlan`), never from pixels, and never naming a file
itself. A page is rewritten only when its managed keys change, so a rebuild with
nothing new leaves every page (and its mtime) alone; a page that does not exist yet
is made from a template. What a person wrote (titles, captions, alt texts, the
body) is kept; see :mod:`pipeline.site.frontmatter` for how the text is edited.
"""

from __future__ import annotations

import difflib
import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.config import Config
from pipeline.errors import ConfigError, PageError, PipelineError
from pipeline.plan import SetPlan
from pipeline.site import frontmatter
from pipeline.site.kit import PAGE_TEMPLATE, kit_bytes
from pipeline.sources.files import NotRegularFileError, open_regular
from pipeline.state.outputs import write_bytes_atomic

PageStatus = Literal["unchanged", "updated", "created", "failed"]

# a placeholder that is a whole value (`key: $title`, `key: '$title'`) becomes a
# YAML scalar, so any title gives valid front matter
_VALUE_PLACEHOLDER = re.compile(
    r"^(?P<lead>[ \t]*(?:-[ \t]+)?[^\s#'\"][^:#\r\n]*:[ \t]+)"
    r"(?P<q>['\"]?)\$(?:\{(?P<braced>\w+)\}|(?P<name>\w+))(?P=q)"
    r"(?P<tail>[ \t]*(?:#[^\r\n]*)?)(?=\r?$)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class SetTitle:
    """What the titles file (``pages.titles``) says about one set."""

    title: str
    alt: str | None = None
    image_id: str | None = None


@dataclass(frozen=True)
class PageResult:
    """What happened (or, in a dry run, would happen) to one page."""

    set_id: str
    path: Path
    status: PageStatus
    message: str | None = None  # ``<file>:<line>: <problem>`` when failed
    diff: str = ""
    written: bool = False

    @property
    def changed(self) -> bool:
        return self.status in ("updated", "created")


def enabled(cfg: Config) -> bool:
    return cfg.paths.pages_dir is not None


def page_path(cfg: Config, set_id: str) -> Path:
    pages = cfg.paths.pages_dir
    if pages is None:
        raise ConfigError("config", ["paths.pages: not set (set paths.pages or paths.site)"])
    name = cfg.pages.pattern.format(set_id=set_id, set_id_lower=set_id.lower())
    return pages / name


def load_titles(path: Path | None) -> dict[str, SetTitle]:
    """``set id -> title`` or ``set id -> {title, alt, image_id}``, all problems at once."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, [f"cannot read titles: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(path, [f"{where}invalid YAML"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, ["must be a mapping of set id to title"])
    titles: dict[str, SetTitle] = {}
    problems: list[str] = []
    for set_id, value in data.items():
        if isinstance(value, str) and value.strip():
            titles[str(set_id)] = SetTitle(value)
            continue
        if not isinstance(value, dict):
            problems.append(f"{set_id}: expected a title or a mapping with 'title'")
            continue
        unknown = sorted(set(value) - {"title", "alt", "image_id"})
        if unknown:
            problems.append(f"{set_id}: unknown key(s) {', '.join(map(str, unknown))}")
        texts = {k: value.get(k) for k in ("title", "alt", "image_id")}
        bad = [k for k, v in texts.items() if v is not None and not isinstance(v, str)]
        if bad or not isinstance(texts["title"], str) or not texts["title"].strip():
            problems.append(f"{set_id}: 'title' is required and every value must be text")
            continue
        titles[str(set_id)] = SetTitle(texts["title"], texts["alt"], texts["image_id"])
    if problems:
        raise ConfigError(path, problems)
    return titles


def derived_title(set_id: str) -> str:
    """``Leg-MedialGastrocnemius`` -> ``Leg - Medial Gastrocnemius``."""
    parts = [p for p in re.split(r"[-_]", set_id) if p]
    words = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", p) for p in parts]
    return " - ".join(words) or set_id


def placeholders(set_id: str, titles: SetTitle | None) -> dict[str, str]:
    """The values a page template can use."""
    parts = [p for p in set_id.split("-") if p]
    region = parts[0].lower()
    muscle = "".join(parts[1:]).lower()
    title = titles.title if titles else derived_title(set_id)
    permalink = f"/muscle/{region}/{muscle}/" if muscle else f"/muscle/{region}/"
    return {
        "title": title,
        "alt": titles.alt if titles and titles.alt else title,
        "set_id": set_id,
        "set_id_lower": set_id.lower(),
        "region": region,
        "muscle": muscle,
        "permalink": permalink,
        "parent": f"/muscle/{region}/" if muscle else "/muscle/",
        "image_id": titles.image_id if titles and titles.image_id else set_id.lower(),
    }


def load_template(cfg: Config) -> tuple[str, str]:
    """The page template's text and its name (for messages)."""
    path = cfg.pages.template
    if path is None:
        return kit_bytes(PAGE_TEMPLATE).decode("utf-8"), "<built-in page template>"
    try:
        return path.read_bytes().decode("utf-8"), str(path)  # line endings as they are
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read page template: {exc}"]) from exc


def fill_template(template: str, name: str, values: Mapping[str, str]) -> str:
    """The template with ``$name`` placeholders filled: a placeholder that is a whole
    front matter value is written as a YAML scalar (quoted as the template quotes
    it), any other one as plain text."""
    try:
        split = frontmatter.split_page(template)
    except frontmatter.FrontMatterError as exc:
        raise PageError(name, exc.line, exc.problem) from exc

    def scalar(match: re.Match[str]) -> str:
        key = match["braced"] or match["name"]
        if key not in values:
            return match[0]  # reported by substitute() below
        style = match["q"] or None
        return match["lead"] + frontmatter.emit_scalar(values[key], style) + match["tail"]

    front = _VALUE_PLACEHOLDER.sub(scalar, split.front)
    try:
        front = string.Template(front).substitute(values)
        body = string.Template(split.body).substitute(values)
    except KeyError as exc:
        raise PageError(name, 1, f"unknown placeholder ${exc.args[0]}") from exc
    except ValueError as exc:
        raise PageError(name, 1, f"bad placeholder: {exc} (write $$ for a dollar sign)") from exc
    return split.bom + split.opening + front + split.closing + body


def block_specs(
    cfg: Config,
    plan: SetPlan,
    page: frontmatter.FrontMatter,
    titles: SetTitle | None,
) -> list[frontmatter.BlockSpec]:
    """What the managed keys of this page should hold: every file name is the
    plan's."""
    pg = cfg.pages
    set_id, count = plan.set_id, cfg.frames.count

    def named(stage: str, kind: str, k: int | None = None) -> str | None:
        output = plan.output(stage, kind, k)
        return str(output.relpath) if output is not None else None

    own = page.data.get("title")
    title = own if isinstance(own, str) and own.strip() else None
    title = title or (titles.title if titles else derived_title(set_id))
    fill = {"title": title, "set_id": set_id, "count": count}
    gif = named("animate", "gif") or ""
    values = placeholders(set_id, titles)
    image: frontmatter.EntrySpec = (
        frontmatter.Field("image_id", values["image_id"], keep=True),
        frontmatter.Field("image_name", gif),
        frontmatter.Field("image_title", pg.image_title.format(**fill, k=""), keep=True),
        frontmatter.Field(
            "image_alt",
            titles.alt if titles and titles.alt else pg.image_alt.format(**fill, k=""),
            keep=True,
        ),
    )
    gallery: list[frontmatter.EntrySpec] = []
    for k in range(1, count + 1):
        full = plan.output("variants", "png", k)
        entry = [
            frontmatter.Field("image_url", str(full.relpath) if full else None),
            frontmatter.Field("caption", pg.caption.format(**fill, k=k), keep=True),
            frontmatter.Field("title", pg.title.format(**fill, k=k), keep=True),
            frontmatter.Field("thumbnail", named("thumbs", "thumb", k) if pg.thumbnail else None),
            frontmatter.Field("webp", named("variants", "webp", k) if pg.webp else None),
            frontmatter.Field("avif", named("variants", "avif", k) if pg.avif else None),
            frontmatter.Field("width", full.width if pg.width and full else None),
            frontmatter.Field("height", full.height if pg.height and full else None),
        ]
        gallery.append(tuple(entry))
    existing = page.data.get("images")
    index = _image_index(existing if isinstance(existing, list) else [], gif, cfg.paths.gif_dir)
    return [
        frontmatter.BlockSpec("images", (image,), start=index, exact=False),
        frontmatter.BlockSpec("gallery", tuple(gallery)),
    ]


def _image_index(entries: Sequence[Any], gif: str, gif_dir: str) -> int:
    """Which ``images`` entry is the rotating image: the one naming this GIF, else
    the first GIF of the animation folder, else a new entry at the end (so other
    images a person listed are never taken over)."""
    names = [e.get("image_name") if isinstance(e, dict) else None for e in entries]
    for i, name in enumerate(names):
        if name == gif:
            return i
    for i, name in enumerate(names):
        if isinstance(name, str) and name.startswith(gif_dir + "/") and name.endswith(".gif"):
            return i
    return len(entries)


@dataclass(frozen=True)
class PageIndex:
    """The site's existing pages by the GIFs they show and by permalink, so that a
    set whose page has another (older) name is found, and no new page takes a
    permalink another page has: Jekyll would build only one of the two."""

    gifs: dict[str, list[Path]]  # images: image_name -> pages
    permalinks: dict[str, list[Path]]


def index_pages(cfg: Config) -> PageIndex:
    """Pages in ``paths.pages`` and its parent (region index pages), and everywhere
    in ``paths.site`` outside ``_``/``.`` folders. A page that cannot be read or
    parsed is left out: it is not this step's to judge unless it is a set's page."""
    pages = cfg.paths.pages_dir
    files = set() if pages is None else {*pages.glob("*.md"), *pages.parent.glob("*.md")}
    if cfg.paths.site is not None:
        site = cfg.paths.site
        files.update(
            p
            for p in site.rglob("*.md")
            if not any(part.startswith(("_", ".")) for part in p.relative_to(site).parts[:-1])
        )
    index = PageIndex({}, {})
    for path in sorted(files):
        data = _front_matter_data(path)
        permalink = data.get("permalink")
        if isinstance(permalink, str):
            index.permalinks.setdefault(_normal_permalink(permalink), []).append(path)
        images = data.get("images")
        for entry in images if isinstance(images, list) else []:
            name = entry.get("image_name") if isinstance(entry, dict) else None
            if isinstance(name, str):
                index.gifs.setdefault(name, []).append(path)
    return index


def _front_matter_data(path: Path) -> dict[str, Any]:
    """A page's values; {} for one that cannot be read (a FIFO or device in a
    page's place is opened without blocking and refused, never waited on)."""
    try:
        with open_regular(path) as handle:
            data = frontmatter.read_values(handle.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, frontmatter.FrontMatterError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _normal_permalink(permalink: str) -> str:
    return "/" + permalink.strip().strip("/") + "/"


def find_page(cfg: Config, plan: SetPlan, index: PageIndex) -> Path:
    """The set's page: the one named by ``pages.pattern`` if it exists, else the one
    page that already shows the set's GIF (an older name), else the pattern's name
    (a page to create)."""
    path = page_path(cfg, plan.set_id)
    if path.exists():
        return path
    gif = plan.output("animate", "gif")
    showing = index.gifs.get(str(gif.relpath), []) if gif is not None else []
    return showing[0] if len(showing) == 1 else path


def _taken_permalink(text: str, path: Path, index: PageIndex) -> PageError | None:
    """The error for a new page whose permalink another page already has."""
    permalink = frontmatter.split_page(text).front
    match = re.search(r"^permalink:[ \t]*['\"]?([^'\"\r\n#]+)", permalink, re.MULTILINE)
    if match is None:
        return None
    others = index.permalinks.get(_normal_permalink(match.group(1)), [])
    if not others:
        return None
    return PageError(
        path,
        1,
        f"not created: {others[0]} already has permalink {match.group(1).strip()} "
        "(to make that page the set's, list the set's GIF in its images: as image_name)",
    )


def update_page(
    cfg: Config,
    plan: SetPlan,
    *,
    titles: Mapping[str, SetTitle],
    template: tuple[str, str],
    dry_run: bool,
    index: PageIndex | None = None,
) -> PageResult:
    """Bring one set's page up to date (or, with ``dry_run``, say how it would change).
    With ``index``, an existing page under another name is found (:func:`find_page`)
    and a new page may not take a permalink another page has."""
    set_id = plan.set_id
    path = page_path(cfg, set_id) if index is None else find_page(cfg, plan, index)
    try:
        target = _edit_target(path)
        data = _read_page(path, target)
        if data is None:
            old = ""
            text = fill_template(*template, placeholders(set_id, titles.get(set_id)))
            name = template[1]
            taken = _taken_permalink(text, path, index) if index is not None else None
            if taken is not None:
                raise taken
        else:
            try:
                old = text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                raise PageError(path, line, "not UTF-8 text") from exc
            name = str(path)
        try:
            page = frontmatter.parse(text)
            specs = block_specs(cfg, plan, page, titles.get(set_id))
            new = frontmatter.update(page, specs)
        except frontmatter.FrontMatterError as exc:
            raise PageError(name, exc.line, exc.problem) from exc
        except RecursionError as exc:  # nesting deeper than Python's stack
            raise PageError(name, 1, "front matter is nested too deeply") from exc
    except PageError as exc:
        return PageResult(set_id, path, "failed", message=str(exc))
    if data is not None and new == old:
        return PageResult(set_id, path, "unchanged")
    status: PageStatus = "created" if data is None else "updated"
    diff = unified_diff(old, new, path, created=data is None)
    if dry_run:
        return PageResult(set_id, path, status, diff=diff)
    try:
        if data is not None and not _writable(target):
            raise PageError(path, 1, "read-only page (no write permission): not rewritten")
        write_bytes_atomic(
            target, new.encode("utf-8"), before_replace=lambda: _unchanged(path, target, data)
        )
    except PipelineError as exc:
        return PageResult(set_id, path, "failed", message=str(exc))
    return PageResult(set_id, path, status, diff=diff, written=True)


def _edit_target(path: Path) -> Path:
    """The file to edit for page ``path``: itself, or the file a symbolic link
    points to (the link is kept, as an editor keeps it). A dangling link is
    refused: writing would replace the link with a file."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise PageError(
            path, 1, "symbolic link to a missing file: not followed (fix or remove the link)"
        ) from exc


def _read_page(path: Path, target: Path) -> bytes | None:
    """The page's bytes, None when there is no page yet (a FIFO is refused)."""
    try:
        with open_regular(target) as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except NotRegularFileError as exc:
        raise PageError(path, 1, str(exc.strerror)) from exc
    except OSError as exc:
        raise PageError(path, 1, f"cannot read page: {exc.strerror or exc}") from exc


def _writable(target: Path) -> bool:
    """A page without any write bit is one its author locked: even root leaves it.
    (A page gone meanwhile is left to the check before the replace.)"""
    try:
        mode = target.stat().st_mode
    except OSError:
        return True
    return bool(mode & 0o222) and os.access(target, os.W_OK)


def _unchanged(path: Path, target: Path, data: bytes | None) -> None:
    """Raise if the page is no longer what the build read (the author saved it, or
    made it, meanwhile): their version wins. Called just before the replace; a save
    in the microseconds between this check and the rename is not caught."""
    try:
        same = _read_page(path, target) == data
    except PageError:
        same = False
    if not same:
        raise PageError(path, 1, "page changed while the build ran: not rewritten (run again)")


def update_pages(
    cfg: Config, plans: Sequence[SetPlan], *, dry_run: bool = False
) -> list[PageResult]:
    """Update the page of every set planned without a problem (a failed set's page
    is left alone). One bad page does not stop the others."""
    titles = load_titles(cfg.pages.titles)
    template = load_template(cfg)
    chosen = [p for p in plans if p.ok and p.complete]
    # Read the other pages only when a set's page is not where the pattern says.
    index = (
        index_pages(cfg)
        if any(not page_path(cfg, r.set_id).exists() for r in chosen)
        else PageIndex({}, {})
    )
    paths = {r.set_id: find_page(cfg, r, index) for r in chosen}
    owners: dict[Path, list[str]] = {}
    for r in chosen:
        owners.setdefault(paths[r.set_id], []).append(r.set_id)
    out: list[PageResult] = []
    for r in chosen:
        path = paths[r.set_id]
        if len(owners[path]) > 1:  # e.g. Leg-Soleus and leg-soleus: they would take turns
            sets = " and ".join(owners[path])
            message = f"{path}:1: sets {sets} have the same page; rename one"
            out.append(PageResult(r.set_id, path, "failed", message=message))
            continue
        out.append(
            update_page(cfg, r, titles=titles, template=template, dry_run=dry_run, index=index)
        )
    return out


def unified_diff(old: str, new: str, path: Path, *, created: bool = False) -> str:
    lines = difflib.unified_diff(
        _lines(old),
        _lines(new),
        fromfile="/dev/null" if created else str(path),
        tofile=str(path),
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _lines(text: str) -> list[str]:
    """Lines as Jekyll and YAML see them: split at '\n' only (str.splitlines also
    splits at form feeds and Unicode separators)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)
