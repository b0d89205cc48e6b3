"""Each incremental rule as its own test: a build redoes exactly what changed.

Files written are read from the report and cross-checked on disk (mtimes and
bytes), so an output rewritten without being reported would fail too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from pipeline.build import BuildReport, build
from pipeline.cli import main
from pipeline.config import Config
from pipeline.stages import all_stages
from pipeline.state.lock import LOCK_NAME
from pipeline.state.manifest import MANIFEST_NAME
from tests.conftest import MakeConfig, write_set

Snapshot = dict[str, tuple[int, str]]


def snapshot(out: Path) -> Snapshot:
    """relpath -> (mtime_ns, sha256) of every output (the manifest and lock left out)."""
    return {
        p.relative_to(out).as_posix(): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST_NAME, LOCK_NAME)
    }


def written(report: BuildReport) -> set[str]:
    return {str(w.relpath) for r in report.results for w in r.written}


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    """Files created or rewritten between two snapshots (a rewrite with identical
    bytes still changes the mtime, so it counts)."""
    return {k for k, v in after.items() if before.get(k) != v}


def planned_with_frame(cfg: Config, out: Path, set_id: str, k: int) -> set[str]:
    """Every output any registered stage makes from frame ``k`` of ``set_id``."""
    with Image.open(out / cfg.paths.png_dir / f"{set_id}-1.png") as full:
        size = full.size
    return {
        str(spec.relpath)
        for stage in all_stages().values()
        for spec in stage.plan(set_id, list(range(1, 17)), size, True, cfg)
        if k in spec.frames
    }


def recolour_inside(path: Path) -> None:
    """Change pixels without moving the visible box, so the shared crop stays."""
    with Image.open(path) as opened:
        pixels = np.asarray(opened.convert("RGBA")).copy()
    opaque = pixels[..., 3] == 255
    pixels[opaque, 0] = 255 - pixels[opaque, 0]
    Image.fromarray(pixels, "RGBA").save(path)


def test_touched_frame_rebuilds_only_that_frames_outputs(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    paths = write_set(raw, "Leg-Soleus")
    write_set(raw, "Arm-Biceps", transparent=False)
    cfg = make_config()
    build(cfg)
    before = snapshot(out)
    recolour_inside(paths[4])  # frame 5
    report = build(cfg)
    after = snapshot(out)
    expected = planned_with_frame(cfg, out, "Leg-Soleus", 5)
    assert {"muscles/png/Leg-Soleus-5.png", "muscles/png/Leg-Soleus-5-thumb.png"} <= expected
    assert written(report) == expected
    assert changed(before, after) == expected
    assert report.count("built") == 1 and report.count("up-to-date") == 1
    # the rebuilt frame shows the new pixels: its red channel was inverted
    old = before["muscles/png/Leg-Soleus-5.png"][1]
    assert after["muscles/png/Leg-Soleus-5.png"][1] != old


def test_touch_without_content_change_rebuilds_nothing(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    paths = write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    later = paths[0].stat().st_mtime_ns + 5_000_000_000
    os.utime(paths[0], ns=(later, later))  # a source touched
    output = out / "muscles/png/Leg-Soleus-2.webp"
    os.utime(output, ns=(later, later))  # and an output
    before = snapshot(out)
    report = build(cfg)
    assert report.files_written == 0 and report.count("up-to-date") == 1
    assert snapshot(out) == before
    # the touched files' new mtimes are recorded, so the next plan takes the fast path
    recorded = json.loads((out / MANIFEST_NAME).read_text())
    assert recorded["sources"]["Leg-Soleus-1.png"]["mtime_ns"] == later
    assert recorded["outputs"]["muscles/png/Leg-Soleus-2.webp"]["mtime_ns"] == later


def test_changed_thumbnail_size_rebuilds_thumbnails_only(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    build(make_config())
    before = snapshot(out)
    report = build(make_config(thumbs={"width": 50, "height": 50}))
    after = snapshot(out)
    thumbs = {k for k in before if "-thumb." in k}
    assert len(thumbs) == 32  # PNG and WebP thumbnail of each of 16 frames
    assert written(report) == thumbs == changed(before, after)
    with Image.open(out / "muscles/png/Leg-Soleus-7-thumb.png") as thumb:
        assert max(thumb.size) == 50


def test_changed_webp_quality_rebuilds_webp_only(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    build(make_config())
    before = snapshot(out)
    report = build(make_config(variants={"webp_quality": 40}))
    webps = {k for k in before if k.endswith(".webp")}
    assert written(report) == webps == changed(before, snapshot(out))


def test_deleted_output_is_rebuilt(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    before = snapshot(out)
    (out / "muscles/png/Leg-Soleus-4-thumb.png").unlink()
    report = build(cfg)
    after = snapshot(out)
    assert written(report) == {"muscles/png/Leg-Soleus-4-thumb.png"}
    assert (
        after["muscles/png/Leg-Soleus-4-thumb.png"][1]
        == before["muscles/png/Leg-Soleus-4-thumb.png"][1]
    )


def test_hand_edited_output_is_rebuilt(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    target = out / "muscles/png/Leg-Soleus-9.png"
    original = target.read_bytes()
    with Image.open(target) as image:
        edited = image.convert("RGBA")
    edited.putpixel((0, 0), (1, 2, 3, 255))
    edited.save(target)
    assert target.read_bytes() != original
    report = build(cfg)
    assert written(report) == {"muscles/png/Leg-Soleus-9.png"}
    assert target.read_bytes() == original


def test_same_size_edit_is_caught_by_content_hash(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    target = out / "muscles/png/Leg-Soleus-3.webp"
    original = target.read_bytes()
    target.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))  # same size
    report = build(cfg)
    assert written(report) == {"muscles/png/Leg-Soleus-3.webp"}
    assert target.read_bytes() == original


def test_probe_cache_follows_background_settings(
    raw: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    """A changed tolerance moves the visible box of an opaque set; the cached probe
    must not hide that, so the incremental result equals a fresh build."""
    raw.mkdir(exist_ok=True)
    for k in range(1, 17):
        image = Image.new("RGB", (120, 120), (255, 255, 255))
        image.paste((240, 240, 240), (5, 5, 115, 115))  # a faint halo
        image.paste((200, 40, 40), (50, 40, 70, 80))  # the object
        image.save(raw / f"Arm-Faint-{k}.png")
    build(make_config())
    strict = {"background_tolerance": 20}
    build(make_config(frames=strict))
    fresh = tmp_path / "fresh"
    build(make_config(frames=strict, paths={"output": str(fresh)}))
    incremental = snapshot(tmp_path / "out")
    assert {k: v[1] for k, v in incremental.items()} == {
        k: v[1] for k, v in snapshot(fresh).items()
    }


def test_clean_removes_only_what_the_manifest_records(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    out.mkdir()
    (out / "logo.png").write_bytes(b"not ours")
    build(cfg)
    (out / "muscles/png/notes.txt").write_text("a person's file", encoding="utf-8")
    (out / "muscles/other").mkdir()
    result = CliRunner().invoke(main, ["clean", "--output", str(out), "--config", _cfg(cfg)])
    assert result.exit_code == 0, result.output
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left == ["logo.png", "muscles", "muscles/other", "muscles/png", "muscles/png/notes.txt"]
    # a second clean finds nothing to do and still succeeds
    again = CliRunner().invoke(main, ["clean", "--output", str(out), "--config", _cfg(cfg)])
    assert again.exit_code == 0 and "removed 0 file(s)" in again.output


def test_clean_removes_folders_it_emptied(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    result = CliRunner().invoke(main, ["clean", "--config", _cfg(cfg)])
    assert result.exit_code == 0, result.output
    assert out.is_dir() and list(out.iterdir()) == []


def test_clean_dry_run_removes_nothing(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    before = snapshot(out)
    result = CliRunner().invoke(main, ["clean", "--dry-run", "--config", _cfg(cfg)])
    assert result.exit_code == 0
    assert "would remove 67 file(s)" in result.output
    assert snapshot(out) == before and (out / MANIFEST_NAME).is_file()


def test_prune_removes_outputs_of_vanished_sets(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    gone = write_set(raw, "Arm-Biceps", transparent=False)
    cfg = make_config()
    build(cfg)
    (out / "muscles/png/Arm-Biceps-notes.txt").write_text("mine", encoding="utf-8")
    for path in gone:
        path.unlink()
    plain = build(cfg)  # without --prune nothing is deleted
    assert plain.removed == [] and (out / "muscles/png/Arm-Biceps-1.png").is_file()
    keep = snapshot(out)
    result = CliRunner().invoke(main, ["build", "--prune", "--config", _cfg(cfg)])
    assert result.exit_code == 0, result.output
    prefixes = ("muscles/png/Arm-Biceps-", "muscles/gif/Arm-Biceps.")
    ours = {k for k in keep if k.startswith(prefixes) and k[-4:] != ".txt"}
    assert len(ours) == 67
    # the set's outputs are gone; Leg-Soleus and the person's file are untouched
    assert snapshot(out) == {k: v for k, v in keep.items() if k not in ours}
    assert "muscles/png/Arm-Biceps-notes.txt" in keep
    recorded = json.loads((out / MANIFEST_NAME).read_text())
    assert {e["set"] for e in recorded["outputs"].values()} == {"Leg-Soleus"}
    assert not any(k.startswith("Arm-Biceps") for k in recorded["sources"])


def test_prune_removes_outputs_no_longer_planned(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    build(make_config(variants={"widths": [40]}))
    narrow = out / "muscles/png/Leg-Soleus-6-40w.webp"
    assert narrow.is_file()
    cfg = make_config()
    build(cfg)
    assert narrow.is_file()  # kept (and still recorded) until asked to prune
    dry = build(cfg, prune=True, dry_run=True)
    assert len(dry.removed) == 16 and narrow.is_file()
    report = build(cfg, prune=True)
    assert len(report.removed) == 16 and not narrow.exists()
    assert report.files_written == 0
    assert not list(out.rglob("*-40w.webp"))


def test_prune_in_a_one_stage_run_leaves_other_stages_alone(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    cfg = make_config()
    build(cfg)
    before = snapshot(out)
    report = build(cfg, stages=["thumbs"], prune=True)
    assert report.removed == [] and snapshot(out) == before


def _cfg(cfg: Config) -> str:
    """Write ``cfg``'s paths to a YAML file so the CLI can be pointed at it."""
    path = cfg.paths.raw.parent / "pipeline.yaml"
    data = {
        "paths": {"raw": str(cfg.paths.raw), "output": str(cfg.paths.output_root)},
        "build": {"jobs": 1},
    }
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return str(path)


def test_interrupted_build_keeps_what_it_finished(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    """Ctrl-C after the first set: the manifest still records it, so the next build
    does only the other set."""
    write_set(raw, "Arm-Biceps")
    write_set(raw, "Leg-Soleus")
    cfg = make_config()

    def interrupt(result: object) -> None:
        raise KeyboardInterrupt

    try:
        build(cfg, on_result=interrupt)
    except KeyboardInterrupt:
        pass
    else:  # pragma: no cover - the hook always raises
        raise AssertionError("the build was not interrupted")
    report = build(cfg)
    assert [r.status for r in report.results] == ["up-to-date", "built"]
    assert report.files_written == 67  # 16 frames x 4 files + 3 animations
