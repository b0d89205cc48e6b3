"""``muscle-assets init`` on a fresh Jekyll site, then a build, then Jekyll.

The install from a wheel (``pip install .`` into a fresh venv) takes about a
minute, so that test runs only with ``MUSCLE_ASSETS_TEST_INSTALL=1`` (``make
test-install``, which ``.ci/run`` calls).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.site.init import IGNORED, init_site
from pipeline.site.kit import SITE_FILES, kit_bytes
from tests.conftest import write_set
from tests.site_kit import LAYOUT, REPO, jekyll_build, resolved_urls, site_program

SET_ID = "Leg-Soleus"


def _empty_site(root: Path) -> Path:
    """What ``jekyll new --blank`` leaves that matters here: a config and a layout."""
    (root / "_layouts").mkdir(parents=True)
    (root / "_layouts" / "page.html").write_text(LAYOUT, encoding="utf-8")
    (root / "_config.yml").write_text("title: atlas\nurlimg: /assets/images/\n", "utf-8")
    return root


def test_init_writes_the_kit_and_reports_each_file(tmp_path: Path) -> None:
    site = _empty_site(tmp_path / "site")
    result = CliRunner().invoke(main, ["init", str(site)])
    assert result.exit_code == 0, result.output
    for name in SITE_FILES:
        assert (site / name).read_bytes() == kit_bytes(name)
        assert f"{site / name}: created" in result.output
    assert (site / "_muscle-assets" / "raw").is_dir()
    assert "next steps:" in result.output
    config = (site / "_muscle-assets" / "pipeline.yaml").read_text("utf-8")
    assert "site: .." in config and "# " in config  # commented, pointing into the site
    assert (site / ".gitignore").read_text("utf-8").splitlines()[1:] == list(IGNORED)


def test_init_never_replaces_a_changed_file_without_force(tmp_path: Path) -> None:
    site = _empty_site(tmp_path / "site")
    (site / ".gitignore").write_text("_site/\n.muscle-assets.lock", "utf-8")  # no final newline
    gallery = site / "_includes" / "gallery"
    gallery.parent.mkdir()
    gallery.write_text("the site's own gallery\n", "utf-8")
    report = init_site(site)
    assert gallery.read_text("utf-8") == "the site's own gallery\n"
    assert f"{gallery}: kept: differs from the shipped file (--force replaces it)" in [
        s.describe() for s in report.steps
    ]
    lines = (site / ".gitignore").read_text("utf-8").splitlines()
    assert lines[:2] == ["_site/", ".muscle-assets.lock"]
    assert lines.count(".muscle-assets.lock") == 1 and IGNORED[1] in lines
    again = init_site(site)
    assert {s.action for s in again.steps} == {"unchanged", "kept"}
    forced = init_site(site, force=True)
    assert gallery.read_bytes() == kit_bytes("_includes/gallery")
    assert [s.action for s in forced.steps if s.path == gallery] == ["replaced"]


def test_init_refuses_a_folder_that_is_not_a_jekyll_site(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{tmp_path}: not a Jekyll site (no _config.yml): " + (
        "name the site's root folder"
    )
    assert list(tmp_path.iterdir()) == []


def _check_built_site(site: Path) -> None:
    """Every asset of the set is on its page, and every URL resolves."""
    built = jekyll_build(site_program("jekyll", "MUSCLE_ASSETS_JEKYLL"), site)
    seen = resolved_urls(built)
    expected = [f"/assets/images/muscles/gif/{SET_ID}.{ext}" for ext in ("gif", "webm", "mp4")]
    for k in range(1, 17):
        expected.append(f"/assets/images/muscles/png/{SET_ID}-{k}.png")
        expected.append(f"/assets/images/muscles/png/{SET_ID}-{k}-thumb.png")
    assert not set(expected) - set(seen), sorted(set(expected) - set(seen))


@pytest.mark.e2e  # the build runs everywhere; the Jekyll part skips without jekyll
def test_init_build_and_jekyll_show_every_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _empty_site(tmp_path / "site")
    init_site(site)
    write_set(site / "_muscle-assets" / "raw", SET_ID)
    monkeypatch.chdir(site)  # the config is found in _muscle-assets/ from the site's root
    result = CliRunner().invoke(main, ["build", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "pages: 1 created" in result.output
    page = site / "pages" / "muscles" / "muscle_leg-soleus.md"
    assert page.is_file()
    _check_built_site(site)


@pytest.mark.skipif(
    not os.environ.get("MUSCLE_ASSETS_TEST_INSTALL"),
    reason="pip install into a fresh venv takes a minute: make test-install (.ci/run) runs it",
)
def test_pip_install_then_init_and_build(tmp_path: Path) -> None:
    """The wheel alone (no repository files) sets up and builds a site."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-c", str(REPO / "requirements.lock"), str(REPO)], check=True)
    cli = str(venv / "bin" / "muscle-assets")
    site = _empty_site(tmp_path / "site")
    subprocess.run([cli, "init", str(site)], check=True, cwd=tmp_path)
    write_set(site / "_muscle-assets" / "raw", SET_ID)
    subprocess.run([cli, "build", "-j", "1"], check=True, cwd=site)
    _check_built_site(site)
