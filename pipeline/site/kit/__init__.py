"""What a Jekyll site needs from muscle-assets besides the built images, shipped
inside the package so that ``pip install`` users get it too: the commented config
template, the page template, the Liquid includes and the viewer script.

``muscle-assets init`` copies these into a site; the pages stage reads the page
template from here when the config names none.
"""

from __future__ import annotations

from importlib.resources import files

CONFIG_TEMPLATE = "pipeline.yaml"
PAGE_TEMPLATE = "page-template.md"
# Copied to the same relative paths in the site.
SITE_FILES = (
    "_includes/gallery",
    "_includes/page-image",
    "_includes/rotate-viewer",
    "assets/js/rotate-viewer.js",
)


def kit_bytes(name: str) -> bytes:
    """A shipped file's bytes (``name`` relative to this package, ``/``-separated)."""
    return files(__name__).joinpath(*name.split("/")).read_bytes()
