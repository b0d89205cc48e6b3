"""The pages step through the library and the CLI, on real sets and real page files.

Pages written here are read back with PyYAML's safe loader (YAML 1.1, as Jekyll's
Psych reads them) and compared with what was meant to be written.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from PIL import Image

from pipeline.build import BuildReport, build
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.plan import SetPlan
from pipeline.site import frontmatter
from pipeline.site.pages import update_pages
from tests.conftest import MakeConfig, write_set

REPO = Path(__file__).resolve().parent.parent
SMALL = 40  # frame size: the pages step needs names and sizes, not detail


def write_config(tmp_path: Path, **sections: dict[str, Any]) -> Path:
    """A config file for CLI runs: raw, out and pages folders in ``tmp_path``."""
    data: dict[str, Any] = {k: dict(v) for k, v in sections.items()}
    paths = data.setdefault("paths", {})
    paths.setdefault("raw", str(tmp_path / "raw"))
    paths.setdefault("output", str(tmp_path / "out"))
    paths.setdefault("pages", str(tmp_path / "pages"))
    data.setdefault("build", {}).setdefault("jobs", 1)
    data.setdefault("png", {}).setdefault("optimize_level", 0)
    data.setdefault("variants", {}).setdefault("webp", False)
    (tmp_path / "raw").mkdir(exist_ok=True)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [args[0], "--config", str(config), *args[1:]])


def front(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(frontmatter.split_page(path.read_text(encoding="utf-8")).front)
    assert isinstance(data, dict)
    return data


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def expected_gallery(set_id: str, title: str, count: int = 16) -> list[dict[str, Any]]:
    return [
        {
            "image_url": f"muscles/png/{set_id}-{k}.png",
            "caption": f"{title} - orientation {k}",
            "title": f"{title} - orientation {k}",
        }
        for k in range(1, count + 1)
    ]


HAND_PAGE = (
    "---\n\nlayout: page\npermalink: /muscle/leg/soleus/\n\n"
    "title: 'The soleus muscle'\n\ntags: leg\n\n"
    "images:\n  - image_id: 'soleus'\n    image_name: 'muscles/gif/Leg-Soleus.gif'\n"
    "    image_title: 'The soleus muscle'\n    image_alt: 'Soleus, turning' \n\n"
    "gallery:\n  - image_url: muscles/png/Old-1.png\n    caption: 'Front view'\n"
    "    title: 'The soleus muscle - orientation 1'\n\n---\n\nProse.\n\n"
    '{% include page-image im_id="soleus" %}\n\n{% include gallery %}\n'
)


def test_build_creates_missing_pages_and_a_rebuild_changes_nothing(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    config = write_config(tmp_path)
    result = cli(config, "build")
    assert result.exit_code == 0, result.output
    assert "pages: 1 created, 0 updated, 0 unchanged, 0 failed" in result.output
    page = tmp_path / "pages" / "muscle_leg-soleus.md"
    data = front(page)
    assert data["title"] == "Leg - Soleus"
    assert data["permalink"] == "/muscle/leg/soleus/"
    assert data["images"] == [
        {
            "image_id": "leg-soleus",
            "image_name": "muscles/gif/Leg-Soleus.gif",
            "image_title": "Leg - Soleus",
            "image_alt": "Leg - Soleus",
        }
    ]
    assert data["gallery"] == expected_gallery("Leg-Soleus", "Leg - Soleus")
    for entry in data["gallery"]:  # every gallery image exists and decodes
        with Image.open(tmp_path / "out" / entry["image_url"]) as image:
            assert image.width > 0
    body = '{% include page-image im_id="leg-soleus" %}\n\n{% include gallery %}\n'
    assert page.read_text().endswith(body)
    before = snapshot(tmp_path / "pages")
    again = cli(config, "build")
    assert again.exit_code == 0, again.output
    assert "pages: 0 created, 0 updated, 1 unchanged, 0 failed" in again.output
    assert snapshot(tmp_path / "pages") == before


def test_human_text_is_kept_and_sizes_come_from_the_built_images(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    (tmp_path / "pages").mkdir()
    page = tmp_path / "pages" / "muscle_leg-soleus.md"
    page.write_text(HAND_PAGE, encoding="utf-8")
    config = write_config(tmp_path, pages={"width": True, "height": True, "thumbnail": True})
    result = cli(config, "build")
    assert result.exit_code == 0, result.output
    assert "1 updated" in result.output
    data = front(page)
    with Image.open(tmp_path / "out/muscles/png/Leg-Soleus-1.png") as full:
        size = full.size
    gallery = data["gallery"]
    assert len(gallery) == 16
    assert gallery[0]["caption"] == "Front view"  # a person wrote it
    assert gallery[1]["caption"] == "The soleus muscle - orientation 2"  # the page's title
    assert data["images"][0]["image_alt"] == "Soleus, turning"
    for k, entry in enumerate(gallery, start=1):
        assert entry["image_url"] == f"muscles/png/Leg-Soleus-{k}.png"
        assert (entry["width"], entry["height"]) == size
        assert entry["thumbnail"] == f"muscles/png/Leg-Soleus-{k}-thumb.png"
        assert (tmp_path / "out" / entry["thumbnail"]).is_file()
    text = page.read_text(encoding="utf-8")
    assert text.startswith(HAND_PAGE[: HAND_PAGE.index("gallery:")])  # trailing space kept
    assert text.endswith(HAND_PAGE[HAND_PAGE.index("\n---\n") :])


def test_dry_run_prints_a_diff_and_writes_nothing(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    write_set(tmp_path / "raw", "Leg", size=SMALL)
    (tmp_path / "pages").mkdir()
    page = tmp_path / "pages" / "muscle_leg-soleus.md"
    page.write_text(HAND_PAGE, encoding="utf-8")
    before = snapshot(tmp_path / "pages")
    config = write_config(tmp_path)
    result = cli(config, "pages", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"--- {page}\n+++ {page}\n" in result.output
    assert "-  - image_url: muscles/png/Old-1.png\n" in result.output
    assert "+  - image_url: muscles/png/Leg-Soleus-1.png\n" in result.output
    assert "+  - image_url: muscles/png/Leg-Soleus-16.png\n" in result.output
    created = tmp_path / "pages" / "muscle_leg.md"
    assert f"--- /dev/null\n+++ {created}\n" in result.output
    assert "pages: 1 would be created, 1 would be updated, 0 unchanged, 0 failed" in result.output
    assert snapshot(tmp_path / "pages") == before
    # build --dry-run shows the same diffs and writes no page either
    result = cli(config, "build", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"--- {page}\n+++ {page}\n" in result.output
    assert snapshot(tmp_path / "pages") == before


def test_check_names_stale_and_missing_pages(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    write_set(tmp_path / "raw", "Leg", size=SMALL)
    config = write_config(tmp_path)
    assert cli(config, "build").exit_code == 0
    assert cli(config, "check").exit_code == 0
    soleus = tmp_path / "pages" / "muscle_leg-soleus.md"
    soleus.write_text(soleus.read_text().replace("Leg-Soleus-4.png", "Leg-Soleus-44.png"))
    (tmp_path / "pages" / "muscle_leg.md").unlink()
    result = cli(config, "check")
    assert result.exit_code == 1
    assert f"{soleus}: stale\n" in result.output
    assert f"{tmp_path / 'pages' / 'muscle_leg.md'}: stale (missing)\n" in result.output
    assert "2 stale output(s) or page(s)" in result.output
    assert cli(config, "check", "--inputs-only").exit_code == 0
    assert cli(config, "pages").exit_code == 0
    assert cli(config, "check").exit_code == 0


MALFORMED = {
    "Leg-A": ("---\ntitle: x\n\nno closing marker\n", 1, "front matter has no closing '---'"),
    "Leg-B": ("---\ntitle: x\ngallery:\n\t- image_url: a\n---\n", 4, "tab used for indentation"),
    "Leg-C": ("---\ntitle: 'x\n---\nbody\n", 3, "invalid YAML"),
    "Leg-D": ("---\n- a\n- b\n---\n", 2, "must be a block mapping of keys, not a list"),
    "Leg-E": ("---\ntitle: x\n\xe9\n---\n", 3, "not UTF-8 text"),  # Latin-1 bytes
}


def test_malformed_pages_fail_alone_with_file_and_line(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for set_id, (text, _, _) in MALFORMED.items():
        write_set(tmp_path / "raw", set_id, size=SMALL)
        (pages / f"muscle_{set_id.lower()}.md").write_bytes(text.encode("latin-1"))
    write_set(tmp_path / "raw", "Leg-Good", size=SMALL)
    before = snapshot(pages)
    result = cli(write_config(tmp_path), "pages")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith(str(pages))]
    expected = {
        f"{pages / f'muscle_{s.lower()}.md'}:{line}:": problem
        for s, (_, line, problem) in MALFORMED.items()
    }
    assert len(errors) == len(expected)
    for prefix, problem in expected.items():
        (line,) = [e for e in errors if e.startswith(prefix + " ")]
        assert problem in line
    after = snapshot(pages)
    assert {k: v for k, v in after.items() if k in before} == before  # untouched
    assert front(pages / "muscle_leg-good.md")["gallery"] == expected_gallery(
        "Leg-Good", "Leg - Good"
    )
    assert "pages: 1 created, 0 updated, 0 unchanged, 5 failed" in result.output


def test_a_failed_set_leaves_its_page_alone(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL, frames=range(1, 10))
    write_set(tmp_path / "raw", "Leg", size=SMALL)
    result = cli(write_config(tmp_path), "build")
    assert result.exit_code == 1
    assert "missing frame number(s)" in result.output
    assert [p.name for p in (tmp_path / "pages").iterdir()] == ["muscle_leg.md"]


def test_sets_sharing_a_page_fail_instead_of_taking_turns(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    write_set(tmp_path / "raw", "leg-soleus", size=SMALL)
    write_set(tmp_path / "raw", "Leg", size=SMALL)
    result = cli(write_config(tmp_path), "pages")
    assert result.exit_code == 1
    # discovery already fails both sets, so neither takes the shared page
    assert "set id 'Leg-Soleus' differs from 'leg-soleus' only in case" in result.output
    assert "set id 'leg-soleus' differs from 'Leg-Soleus' only in case" in result.output
    assert [p.name for p in (tmp_path / "pages").iterdir()] == ["muscle_leg.md"]


def test_pages_without_a_pages_folder_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, paths={"pages": None})
    result = cli(config, "pages")
    assert result.exit_code == 2
    assert "paths.pages: not set" in result.output
    unknown = cli(write_config(tmp_path), "pages", "No-Such-Set")
    assert unknown.exit_code == 2
    assert "unknown set id(s): No-Such-Set" in unknown.output


TRICKY_TITLE = "yes: no #1 'q' \"dq\" – 12:30"  # noqa: RUF001


def test_titles_file_and_template_from_config(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    titles = tmp_path / "muscles.yaml"
    titles.write_text(
        yaml.safe_dump(
            {"Leg-Soleus": {"title": TRICKY_TITLE, "alt": "on", "image_id": "soleus"}},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    template = tmp_path / "page.md"
    template.write_text(
        "---\r\ntitle: $title\r\nsub: '${title}'\r\nlink: $permalink # url\r\n"
        "gallery:\r\n---\r\n$title costs $$5 {% include gallery %}\r\n",
        encoding="utf-8",
    )
    config = write_config(
        tmp_path,
        pages={"titles": str(titles), "template": str(template), "caption": "{k}/{count}"},
    )
    result = cli(config, "pages")
    assert result.exit_code == 0, result.output
    page = tmp_path / "pages" / "muscle_leg-soleus.md"
    data = front(page)
    assert data["title"] == data["sub"] == TRICKY_TITLE
    assert data["link"] == "/muscle/leg/soleus/"
    assert data["images"][0] == {
        "image_id": "soleus",
        "image_name": "muscles/gif/Leg-Soleus.gif",
        "image_title": TRICKY_TITLE,
        "image_alt": "on",
    }
    assert [e["caption"] for e in data["gallery"]] == [f"{k}/16" for k in range(1, 17)]
    assert data["gallery"][0]["title"] == f"{TRICKY_TITLE} - orientation 1"
    raw = page.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")  # the template's CRLF throughout
    assert raw.endswith(f"{TRICKY_TITLE} costs $5 {{% include gallery %}}\r\n".encode())


def test_writes_keep_the_mode_and_leave_no_temporary_files(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    (tmp_path / "pages").mkdir()
    page = tmp_path / "pages" / "muscle_leg-soleus.md"
    page.write_text(HAND_PAGE, encoding="utf-8")
    page.chmod(0o640)
    assert cli(write_config(tmp_path), "pages").exit_code == 0
    assert stat.S_IMODE(page.stat().st_mode) == 0o640
    assert [p.name for p in (tmp_path / "pages").iterdir()] == [page.name]


def test_pages_config_is_validated(tmp_path: Path, make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(
            pages={"webp": True, "pattern": "{nope}.md", "caption": "{title} {x}"},
            variants={"webp": False},
        )
    text = str(caught.value)
    assert "pages.webp: needs variants.webp" in text
    assert "pages.pattern" in text and "pages.caption" in text
    with pytest.raises(ConfigError, match=r"pages\.template: file does not exist"):
        make_config(pages={"template": str(tmp_path / "missing.md")})
    titles = tmp_path / "bad.yaml"
    titles.write_text("Leg-Soleus: {title: 'x', colour: red}\nLeg: [1]\n")
    write_set(tmp_path / "raw", "Leg", size=SMALL)
    cfg = make_config(paths={"pages": str(tmp_path / "pages")}, pages={"titles": str(titles)})
    with pytest.raises(ConfigError) as bad:
        update_pages(cfg, plans(build(cfg, dry_run=True)))
    assert "Leg-Soleus: unknown key(s) colour" in str(bad.value)
    assert "Leg: expected a title" in str(bad.value)


def test_committed_sample_pages_are_up_to_date(tmp_path: Path) -> None:
    """``make run`` must leave the committed sample pages byte-identical."""
    cfg = load_config(REPO / "config" / "pipeline.yaml", **{"paths.output": tmp_path})
    assert cfg.paths.pages_dir == REPO / "examples" / "site" / "pages" / "muscles"
    results = update_pages(cfg, plans(build(cfg, dry_run=True)), dry_run=True)
    assert sorted(r.path.name for r in results) == [
        "muscle_sample-bipennate.md",
        "muscle_sample-fusiform.md",
    ]
    assert [r.status for r in results] == ["unchanged", "unchanged"], [r.diff for r in results]
    for result in results:
        data = front(result.path)
        assert [e["image_url"] for e in data["gallery"]] == [
            f"muscles/png/{result.set_id}-{k}.png" for k in range(1, 17)
        ]


def legacy_page(set_id: str, title: str, permalink: str, gif: str | None) -> str:
    """A hand-written page in the published site's style, under an older name: the
    images entry, captions ending in the bare number, prose in the body."""
    images = (
        f"images:\n  - image_id: 'old'\n    image_name: '{gif}'\n"
        f"    image_title: '{title}'\n    image_alt: '{title}' \n"
        if gif
        else "images:\n"
    )
    gallery = "".join(
        f"  - image_url: muscles/png/{set_id}-{k}.png\n    caption: '{title} {k}'\n"
        f"    title: '{title} {k}'\n"
        for k in (1, 2)
    )
    return (
        f"---\n\nlayout: page\npermalink: {permalink}\n\ntitle: '{title}'\n\n"
        f"{images}\ngallery:\n{gallery}\n---\n\nWritten by hand.\n\n"
        '{% include page-image im_id="old" %}\n\n{% include gallery %}\n'
    )


def test_a_page_under_an_older_name_is_updated_not_doubled(tmp_path: Path) -> None:
    set_id = "Leg-MedialGastrocnemius"
    write_set(tmp_path / "raw", set_id, size=SMALL)
    write_set(tmp_path / "raw", "Leg", size=SMALL)
    pages = tmp_path / "site" / "pages" / "muscles"
    pages.mkdir(parents=True)
    old = pages / "muscle_leg_medialheadofgastrocnemius.md"
    title = "The medial head of the gastrocnemius"
    old.write_text(
        legacy_page(set_id, title, "/muscle/leg/medialgastrocnemius/", f"muscles/gif/{set_id}.gif"),
        encoding="utf-8",
    )
    # The region's index page lives one folder up, as on the site.
    region = pages.parent / "muscle_leg.md"
    region.write_text(legacy_page("Leg", "The leg", "/muscle/leg/", "muscles/gif/Leg.gif"), "utf-8")
    config = write_config(tmp_path, paths={"pages": str(pages)})

    result = cli(config, "pages")
    assert result.exit_code == 0, result.output
    assert "pages: 0 created, 2 updated" in result.output
    assert sorted(p.name for p in pages.iterdir()) == [old.name]
    data = front(old)
    assert [e["image_url"] for e in data["gallery"]] == [
        f"muscles/png/{set_id}-{k}.png" for k in range(1, 17)
    ]
    assert data["gallery"][1]["caption"] == f"{title} 2"  # people's text is kept
    assert data["images"][0]["image_id"] == "old"
    assert old.read_text("utf-8").endswith(
        "---\n\nWritten by hand.\n\n"
        + ('{% include page-image im_id="old" %}\n\n{% include gallery %}\n')
    )
    assert len(front(region)["gallery"]) == 16


def test_a_new_page_never_takes_a_permalink_in_use(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SMALL)
    write_set(tmp_path / "raw", "Leg-Plantaris", size=SMALL)
    pages = tmp_path / "pages"
    pages.mkdir()
    other = pages / "soleus.md"  # shows no GIF of the set, but has its permalink
    text = legacy_page("Leg-Soleus", "Soleus", "/muscle/leg/soleus/", None)
    other.write_text(text, encoding="utf-8")
    config = write_config(tmp_path)

    result = cli(config, "pages")
    assert result.exit_code == 1
    new = pages / "muscle_leg-soleus.md"
    assert result.stderr.splitlines() == [
        f"{new}:1: not created: {other} already has permalink /muscle/leg/soleus/ "
        "(to make that page the set's, list the set's GIF in its images: as image_name)"
    ]
    assert not new.exists() and other.read_text("utf-8") == text
    assert (pages / "muscle_leg-plantaris.md").is_file()  # the other set is not stopped


def plans(report: BuildReport) -> list[SetPlan]:
    return [r.plan for r in report.results if r.ok]
