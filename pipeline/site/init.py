"""``muscle-assets init``: make a Jekyll site ready for the pipeline.

Writes what a site needs and the wheel ships (:mod:`pipeline.site.kit`): the
commented config and the page template under ``_muscle-assets/``, the Liquid
includes and the viewer script at the paths the pages use, and the ``.gitignore``
lines for the pipeline's scratch files. A file the site changed is never replaced
without ``force``: the site's copy may hold its own fixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.config import SITE_CONFIG, SITE_CONFIG_DIR
from pipeline.errors import FileError
from pipeline.site.kit import CONFIG_TEMPLATE, PAGE_TEMPLATE, SITE_FILES, kit_bytes
from pipeline.site.preview import PREVIEW_DIR
from pipeline.state.lock import LOCK_NAME
from pipeline.state.outputs import write_bytes_atomic

Action = Literal["created", "unchanged", "kept", "replaced", "appended"]

# The lock is per machine; the preview is a local contact sheet. The manifest
# (.muscle-assets-manifest.json) is committed with the outputs it describes.
IGNORED = (LOCK_NAME, f"/assets/images/{PREVIEW_DIR}/")
_IGNORE_HEADER = "# muscle-assets: build lock and local preview (commit the manifest)"


@dataclass(frozen=True)
class InitStep:
    """What ``init`` did to one file, for the per-file report."""

    path: Path
    action: Action
    detail: str = ""

    def describe(self) -> str:
        text: str = self.action
        if self.action == "kept":
            text = "kept: differs from the shipped file (--force replaces it)"
        return f"{self.path}: {text}{self.detail}"


@dataclass(frozen=True)
class InitReport:
    site: Path
    steps: list[InitStep]

    @property
    def config(self) -> Path:
        return self.site / SITE_CONFIG

    def next_steps(self) -> list[str]:
        raw = self.site / SITE_CONFIG_DIR / "raw"
        return [
            f"put each set's renders in {raw} as <SetId>-<k>.png (k = 1..16)",
            f"cd {self.site} && muscle-assets build    (reads {SITE_CONFIG})",
            'show a set on its page: {% include page-image im_id="<image_id>" %} and '
            "{% include gallery %} (new pages get both from the page template)",
            "commit assets/images (with .muscle-assets-manifest.json), pages/ and "
            f"{SITE_CONFIG_DIR}/",
            "gate CI or pre-commit with: muscle-assets check",
        ]


def init_site(site: Path, *, force: bool = False) -> InitReport:
    """Copy the site kit into ``site`` (a Jekyll source folder); see the module."""
    if not site.is_dir():
        raise FileError(site, "not a folder: create the Jekyll site first (jekyll new)")
    if not any(site.glob("_config.*")):
        raise FileError(site, "not a Jekyll site (no _config.yml): name the site's root folder")
    folder = site / SITE_CONFIG_DIR
    files = {
        site / SITE_CONFIG: kit_bytes(CONFIG_TEMPLATE),
        folder / PAGE_TEMPLATE: kit_bytes(PAGE_TEMPLATE),
        **{site / name: kit_bytes(name) for name in SITE_FILES},
    }
    steps = [_place(path, data, force) for path, data in files.items()]
    raw = folder / "raw"
    steps.append(InitStep(raw, "unchanged" if raw.is_dir() else "created"))
    raw.mkdir(parents=True, exist_ok=True)
    steps.append(_ignore(site / ".gitignore"))
    return InitReport(site, steps)


def _place(path: Path, data: bytes, force: bool) -> InitStep:
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        write_bytes_atomic(path, data)
        return InitStep(path, "created")
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror or exc}") from exc
    if current == data:
        return InitStep(path, "unchanged")
    if not force:
        return InitStep(path, "kept")
    write_bytes_atomic(path, data)
    return InitStep(path, "replaced")


def _ignore(path: Path) -> InitStep:
    """Append the ignore lines the file lacks; lines already there stay as they are."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError(path, f"cannot read: {exc}") from exc
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in IGNORED if line not in present]
    if not missing:
        return InitStep(path, "unchanged")
    lead = "" if not text or text.endswith("\n") else "\n"
    added = "\n".join([_IGNORE_HEADER, *missing]) + "\n"
    write_bytes_atomic(path, (text + lead + added).encode("utf-8"))
    return InitStep(path, "appended" if text else "created", f" ({', '.join(missing)})")
