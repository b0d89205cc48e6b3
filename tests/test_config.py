"""Config: typed, frozen, validated up front, every problem listed at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.site.kit import CONFIG_TEMPLATE, PAGE_TEMPLATE, kit_bytes


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "raw").mkdir(exist_ok=True)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_and_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "paths:\n  raw: raw\n  output: out\n"))
    assert cfg.paths.raw == tmp_path / "raw"
    assert cfg.paths.output_root == tmp_path / "out"
    assert cfg.frames.count == 16 and cfg.thumbs.width == 240
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.thumbs.width = 3  # type: ignore[misc]


def test_site_root_sets_output_and_pages(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    cfg = load_config(_write(tmp_path, "paths:\n  raw: raw\n  site: site\n"))
    assert cfg.paths.output_root == tmp_path / "site/assets/images"
    assert cfg.paths.pages_dir == tmp_path / "site/pages/muscles"


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "paths:\n  raw: nowhere\nthumbs:\n  widht: 3\n  height: big\n"
        "variants:\n  webp_quality: 101\n  widths: [100, x]\nbogus: 1\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    problems = err.value.problems
    assert any(p.startswith("bogus: unknown key") for p in problems)
    assert any(p.startswith("thumbs.widht: unknown key") for p in problems)
    assert "thumbs.height: expected an integer, got 'big'" in problems
    assert any(p.startswith("variants.widths: expected a list of an integer") for p in problems)
    assert f"paths.raw: folder does not exist: {tmp_path / 'nowhere'}" in problems
    assert "variants.webp_quality: must be 0..100" in problems
    assert len(problems) == 6
    assert all(line.startswith(f"{path}: ") for line in str(err.value).splitlines())


def test_semantic_problems_are_listed_together(tmp_path: Path) -> None:
    path = _write(tmp_path, "paths:\n  raw: nowhere\nvariants:\n  webp_quality: 101\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 2
    assert "variants.webp_quality: must be 0..100" in err.value.problems


def test_overrides_win_and_none_is_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, "paths:\n  raw: raw\nbuild:\n  jobs: 3\n")
    assert load_config(path, **{"build.jobs": 1}).build.jobs == 1
    assert load_config(path, **{"build.jobs": None}).build.jobs == 3


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "paths:\n  raw: raw\n thumbs: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: line ")


def test_yaml_object_tags_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "paths: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        load_config(path)


def test_shipped_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "config/pipeline.yaml")
    assert cfg.paths.raw == root / "raw"


def test_configuration_reference_is_up_to_date() -> None:
    """docs/configuration.md is generated; regenerate it after changing a key."""
    from scripts.config_reference import DOC, render

    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is out of date: python -m scripts.config_reference"
    )


def test_site_template_holds_the_defaults(tmp_path: Path) -> None:
    """The template init writes: every value but its paths is the default."""
    (tmp_path / "site").mkdir()
    config = tmp_path / "site" / "_muscle-assets" / "pipeline.yaml"
    config.parent.mkdir()
    config.write_bytes(kit_bytes(CONFIG_TEMPLATE))
    (config.parent / "raw").mkdir()
    (config.parent / "page-template.md").write_bytes(kit_bytes(PAGE_TEMPLATE))
    cfg = load_config(config)
    assert cfg.paths.site == tmp_path / "site"
    assert cfg.paths.output_root == tmp_path / "site" / "assets" / "images"
    defaults = Config()
    assert dataclasses.replace(cfg, paths=defaults.paths) == dataclasses.replace(
        defaults, pages=dataclasses.replace(defaults.pages, template=cfg.pages.template)
    )
