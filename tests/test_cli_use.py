"""The CLI as people use it: page weight and its budget, ``--json``, pipes, typos,
stage commands, the progress bar, what ``check`` and ``clean`` say and do, options a
command does not take, and the preview's thumbnails. Through click's CliRunner, or
a real process where a pipe or a terminal matters."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from pipeline.cli import main
from pipeline.state.outputs import human_size
from tests.conftest import write_set

SET = "Leg-Soleus"


def _write_config(root: Path, **sections: dict[str, Any]) -> None:
    data: dict[str, Any] = {"paths": {"raw": "raw", "output": "out"}, "build": {"jobs": 1}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    (root / "pipeline.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--config", "pipeline.yaml"])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One set built by the CLI; tests get a copy (mtimes kept, so it stays up to date)."""
    root = tmp_path_factory.mktemp("built")
    write_set(root / "raw", SET)
    _write_config(root)
    result = CliRunner().invoke(main, ["build", "--config", str(root / "pipeline.yaml")])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def site(built_once: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built set, as the working folder."""
    root = tmp_path / "site"
    shutil.copytree(built_once, root)
    monkeypatch.chdir(root)
    return root


def _view_files(root: Path) -> dict[str, int]:
    """What a page view downloads with the site's includes: the WebM and the
    thumbnail PNGs (sizes from disk, not from the manifest)."""
    png = root / "out/muscles/png"
    files = {f"muscles/gif/{SET}.webm": (root / f"out/muscles/gif/{SET}.webm").stat().st_size}
    for k in range(1, 17):
        files[f"muscles/png/{SET}-{k}-thumb.png"] = (png / f"{SET}-{k}-thumb.png").stat().st_size
    return files


# -- page weight and its budget ------------------------------------------------------


def test_page_weight_is_reported_by_build_and_list(site: Path) -> None:
    weight = sum(_view_files(site).values())
    (site / f"out/muscles/png/{SET}-3.webp").unlink()  # one stale output: a small build
    code, out, _ = invoke("build")
    assert code == 0
    clicks = sum((site / f"out/muscles/png/{SET}-{k}.png").stat().st_size for k in range(1, 17))
    assert (
        f"page weight: {human_size(weight)} a view (heaviest {SET}); clicking every "
        f"thumbnail adds at most {human_size(clicks)} of full-size PNGs"
    ) in out.splitlines()
    code, out, _ = invoke("list")
    assert code == 0
    assert re.search(rf"^{SET}\s+16\s+up to date\s+{re.escape(human_size(weight))}$", out, re.M)


def test_check_fails_for_a_page_over_the_budget_naming_its_biggest_files(site: Path) -> None:
    files = _view_files(site)
    weight = sum(files.values())
    budget = weight // 1024 - 1  # just under the page's weight
    _write_config(site, pages={"budget_kib": budget})
    code, _, err = invoke("check")
    assert code == 1
    biggest = sorted(files.items(), key=lambda item: (-item[1], item[0]))[:3]
    named = ", ".join(f"{path} {human_size(size)}" for path, size in biggest)
    assert err.splitlines() == [
        f"{SET}: page weighs {human_size(weight)} a view, over pages.budget_kib "
        f"({budget} KiB); biggest: {named}"
    ]
    code, out, _ = invoke("list")
    assert f"{human_size(weight)} (over {budget} KiB)" in out
    _write_config(site, pages={"budget_kib": weight // 1024 + 1})
    code, _, err = invoke("check")
    assert (code, err) == (0, "")


def test_budget_line_names_the_page_file_when_pages_are_written(site: Path) -> None:
    _write_config(site, paths={"pages": "pages"}, pages={"budget_kib": 1})
    code, out, err = invoke("build")
    assert code == 0  # a build warns; check is the gate
    assert "warning: pages/muscle_leg-soleus.md: page weighs " in err
    assert "1 page(s) over pages.budget_kib (1 KiB)" in out
    code, _, err = invoke("check")
    assert code == 1
    assert err.startswith("pages/muscle_leg-soleus.md: page weighs ")


def test_budget_must_be_positive(site: Path) -> None:
    _write_config(site, pages={"budget_kib": 0})
    code, _, err = invoke("check")
    assert code == 2
    assert (
        err.strip() == "pipeline.yaml: pages.budget_kib: must be at least 1 (or null for no budget)"
    )


# -- --json --------------------------------------------------------------------------


def test_json_reports_sets_outputs_bytes_and_page_weight(site: Path) -> None:
    (site / f"out/muscles/gif/{SET}.mp4").unlink()
    code, out, _ = invoke("check", "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["command"], report["ok"], report["format"]) == ("check", False, 1)
    (entry,) = report["sets"]
    assert entry["id"] == SET and entry["status"] == "stale"
    assert entry["stale"] == [f"muscles/gif/{SET}.mp4"]

    code, out, _ = invoke("build", "--json")
    assert code == 0
    report = json.loads(out)
    (entry,) = report["sets"]
    assert report["ok"] and entry["status"] == "built"
    assert entry["written"] == [f"muscles/gif/{SET}.mp4"]
    assert len(entry["outputs"]) == 67
    for output in entry["outputs"]:
        assert output["bytes"] == (site / "out" / output["path"]).stat().st_size
    files = _view_files(site)
    weight = entry["page_weight"]
    assert weight["files"] == files and weight["bytes"] == sum(files.values())
    assert weight["missing"] == [] and weight["over_budget"] is False
    assert report["totals"]["files_written"] == 1

    code, out, _ = invoke("list", "--json")
    report = json.loads(out)
    assert code == 0 and report["command"] == "list"
    assert report["sets"][0]["frames"] == 16 and report["sets"][0]["status"] == "up-to-date"


def test_json_lists_defects(site: Path) -> None:
    write_set(site / "raw", "Arm-Biceps", frames=range(1, 16))
    code, out, err = invoke("check", "--json")
    assert code == 1
    failed = next(s for s in json.loads(out)["sets"] if s["id"] == "Arm-Biceps")
    assert failed["status"] == "failed" and failed["page_weight"] is None
    assert failed["defects"] == [
        {
            "path": str(site / "raw/Arm-Biceps-16.png"),
            "problem": "missing frame number(s) 16 of set Arm-Biceps",
        }
    ]
    assert (
        err.splitlines()[0] == "raw/Arm-Biceps-16.png: missing frame number(s) 16 of set Arm-Biceps"
    )


# -- pipes, typos, options -------------------------------------------------------


def test_list_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for n in range(400):  # names are enough: more output than a pipe holds (64 KiB)
        (raw / f"Set{n:03d}{'x' * 200}-1.png").touch()
    _write_config(tmp_path)
    lister = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "list", "--config", "pipeline.yaml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert lister.stdout is not None and lister.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=lister.stdout, capture_output=True, check=True)
    lister.stdout.close()
    err = lister.stderr.read()
    lister.wait(timeout=60)
    assert head.stdout.startswith(b"set ")
    assert err == b""
    assert lister.returncode == 141  # as a shell reports a tool ended by SIGPIPE


def test_wrong_case_set_id_suggests_the_right_one(site: Path) -> None:
    code, _, err = invoke("build", "leg-soleus")
    assert code == 2
    assert err.strip() == "raw: unknown set id(s): leg-soleus (did you mean Leg-Soleus?)"
    code, _, err = invoke("check", "Leg-Solues")
    assert code == 2 and err.strip().endswith("Leg-Solues (did you mean Leg-Soleus?)")


@pytest.mark.parametrize(
    "args",
    [("list", "--force"), ("clean", "-j", "2"), ("check", "--dry-run"), ("list", "-q")],
)
def test_options_a_command_ignores_are_usage_errors(site: Path, args: tuple[str, ...]) -> None:
    code, _, err = invoke(*args)
    assert code == 2
    assert "No such option" in err and args[1] in err


# -- stage commands --------------------------------------------------------------


def test_thumbs_after_a_size_change_remakes_every_thumbnail_format(site: Path) -> None:
    _write_config(site, thumbs={"width": 20, "height": 20})
    code, out, _ = invoke("thumbs")
    assert code == 0 and "32 file(s) written" in out
    for ext in ("png", "webp"):
        with Image.open(site / f"out/muscles/png/{SET}-5-thumb.{ext}") as image:
            assert max(image.size) == 20
    code, out, err = invoke("check")
    assert (code, err) == (0, ""), err


# -- check -----------------------------------------------------------------------


def test_check_shows_relative_paths_and_ends_with_the_fix(site: Path) -> None:
    write_set(site / "raw", "Arm-Biceps")
    (site / f"out/muscles/png/{SET}-2.png").unlink()
    code, out, err = invoke("check")
    assert code == 1
    lines = err.splitlines()
    assert f"out/muscles/png/{SET}-2.png: missing" in lines
    assert "out/muscles/png/Arm-Biceps-1.png: missing" in lines
    assert out.splitlines()[-1] == "run: muscle-assets build --config pipeline.yaml"
    invoke("build", "Arm-Biceps")
    code, out, err = invoke("check")
    assert err.splitlines() == [f"out/muscles/png/{SET}-2.png: missing"]
    assert out.splitlines()[-1] == f"run: muscle-assets build --config pipeline.yaml {SET}"


def test_check_of_an_invalid_set_says_to_fix_the_files(site: Path) -> None:
    (site / f"raw/{SET}-9.png").unlink()
    code, out, err = invoke("check", "--inputs-only")
    assert code == 1
    assert err.splitlines() == [f"raw/{SET}-9.png: missing frame number(s) 9 of set {SET}"]
    assert out.splitlines()[-1] == (
        "fix the files above, then run: muscle-assets check --config pipeline.yaml"
    )


# -- build, clean ----------------------------------------------------------------


def test_build_without_pages_says_it_skipped_them_once(site: Path) -> None:
    write_set(site / "raw", "Arm-Biceps")
    code, out, _ = invoke("build")
    assert code == 0
    assert out.count("pages: skipped") == 1
    assert "pages: skipped (paths.pages and paths.site are not set)" in out.splitlines()
    code, out, _ = invoke("thumbs")
    assert "pages" not in out  # a stage command never writes pages


def test_clean_removes_the_preview_it_wrote_and_nothing_else(site: Path) -> None:
    assert invoke("preview")[0] == 0
    assert (site / "out/preview/index.html").is_file()
    code, out, _ = invoke("clean")
    assert code == 0 and "and the preview" in out
    assert not (site / "out/preview").exists()
    foreign = site / "out/preview/index.html"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("<title>our own notes</title>")
    assert invoke("clean")[0] == 0
    assert foreign.read_text() == "<title>our own notes</title>"


# -- the progress bar --------------------------------------------------------------


def _on_a_terminal(root: Path, *args: str) -> str:
    """Run the CLI with stderr on a pseudo-terminal; return what the terminal got."""
    leader, follower = pty.openpty()
    # a terminal of 30 rows, 120 columns (a pty starts at 0x0, where tqdm draws nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args, "--config", "pipeline.yaml"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_moves_per_output_on_a_terminal(tmp_path: Path) -> None:
    for set_id in ("Arm-Biceps", SET):
        write_set(tmp_path / "raw", set_id, size=48)
    _write_config(tmp_path)  # one worker here; two are in the runner's test below
    shown = _on_a_terminal(tmp_path, "thumbs")
    counts = {int(n) for n in re.findall(r"\b(\d+)/64\b", shown)}  # 2 sets x 32 files
    assert len(counts) > 10, shown  # not once per set
    assert "file" in shown and ("Arm-Biceps" in shown or SET in shown)
    assert "building" not in _on_a_terminal(tmp_path, "thumbs", SET, "--force", "-q")


# -- the preview -----------------------------------------------------------------


def test_preview_links_thumbnails_to_full_size_with_frame_numbers(site: Path) -> None:
    write_set(site / "raw", "Arm-Biceps")
    invoke("build", "Arm-Biceps")
    (site / "raw/Arm-Biceps-4.png").unlink()  # now invalid, its old images still on disk
    assert invoke("preview")[0] == 0
    html = (site / "out/preview/index.html").read_text(encoding="utf-8")
    good = html[html.index(f'id="set-{SET}"') :]
    good = good[: good.index("</section>")]
    for k in (1, 16):
        assert (
            f'<a href="../muscles/png/{SET}-{k}.png"><img src="../muscles/png/{SET}-{k}-thumb.png"'
            in good
        )
        assert f"<figcaption>{k}</figcaption>" in good
    weight = human_size(sum(_view_files(site).values()))
    assert f"page weight: {weight} a view (WebM and thumbnails)" in good
    bad = html[html.index('id="set-Arm-Biceps"') :]
    bad = bad[: bad.index("</section>")]
    assert "Not built: this set is invalid" in bad
    assert "<img" not in bad and "<video" not in bad
    assert "missing frame number(s) 4 of set Arm-Biceps" in bad


@pytest.mark.parametrize("jobs", [1, 2])
def test_runner_reports_progress_output_by_output(tmp_path: Path, jobs: int) -> None:
    from pipeline.build import build
    from pipeline.config import config_from_dict
    from pipeline.runner import SetProgress

    for set_id in ("Arm-Biceps", SET):
        write_set(tmp_path / "raw", set_id, size=48)
    cfg = config_from_dict(
        {"paths": {"raw": "raw", "output": "out"}, "build": {"jobs": jobs}}, tmp_path
    )
    events: list[SetProgress] = []
    report = build(cfg, stages=["thumbs"], on_progress=events.append)
    assert report.files_written == 64
    for set_id in ("Arm-Biceps", SET):
        done = [e.done for e in events if e.set_id == set_id]
        assert done == list(range(33))  # planned (0), then each of its 32 files in turn
        assert {e.total for e in events if e.set_id == set_id} == {32}
