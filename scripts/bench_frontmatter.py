"""Time the front matter rewrite on a site-sized corpus (230 pages of 16 entries).

    .venv/bin/python scripts/bench_frontmatter.py [--pages 230] [--repeat 3]

Pages are made in memory in the site's hand-written style; the pages step reads,
parses and (when needed) rewrites each one, so this is its cost per build without
the file system.
"""

from __future__ import annotations

import argparse
import time

from pipeline.site import frontmatter as fm


def page(set_id: str, title: str, count: int = 16) -> str:
    lines = [
        "---",
        "",
        "layout: page",
        f"title: '{title}'",
        "",
        "images:",
        f"  - image_id: '{set_id.lower()}'",
        f"    image_name: 'muscles/gif/{set_id}.gif'",
        f"    image_title: '{title}'",
        f"    image_alt: '{title}' ",
        "",
        "gallery:",
    ]
    for k in range(1, count + 1):
        lines += [
            f"  - image_url: muscles/png/{set_id}-{k}.png",
            f"    caption: '{title} - orientation {k}'",
            f"    title: '{title} - orientation {k}'",
        ]
    lines += ["", "---", "", "Prose.", "", "{% include gallery %}", ""]
    return "\n".join(lines)


def specs(set_id: str, title: str, count: int = 16) -> list[fm.BlockSpec]:
    image = (
        fm.Field("image_id", set_id.lower(), keep=True),
        fm.Field("image_name", f"muscles/gif/{set_id}.gif"),
        fm.Field("image_title", title, keep=True),
        fm.Field("image_alt", title, keep=True),
    )
    gallery = tuple(
        (
            fm.Field("image_url", f"muscles/png/{set_id}-{k}.png"),
            fm.Field("caption", f"{title} - orientation {k}", keep=True),
            fm.Field("title", f"{title} - orientation {k}", keep=True),
        )
        for k in range(1, count + 1)
    )
    return [fm.BlockSpec("images", (image,), exact=False), fm.BlockSpec("gallery", gallery)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=230)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = [(f"Region-Muscle{i}", f"Muscle number {i}") for i in range(args.pages)]
    cases = {
        "up to date": [(page(s, t), specs(s, t)) for s, t in corpus],
        "all stale (new png_dir)": [
            (page(s, t).replace("muscles/png/", "old/"), specs(s, t)) for s, t in corpus
        ],
    }
    print(f"loader: {fm._LOADER.__name__}")
    for name, items in cases.items():
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            for text, wanted in items:
                fm.update(fm.parse(text), wanted)
            best = min(best, time.perf_counter() - started)
        per_page = best / len(items) * 1000
        print(f"{name}: {len(items)} pages in {best:.3f} s ({per_page:.2f} ms/page)")


if __name__ == "__main__":
    main()
