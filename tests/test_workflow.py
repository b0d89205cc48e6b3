"""``check`` as a CI gate and the pre-commit hook that runs it."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import PIL
import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement

from pipeline.build import build
from pipeline.cli import main
from pipeline.codecs.video import ffmpeg_exe, ffmpeg_version
from pipeline.state.manifest import MANIFEST_NAME
from tests.conftest import MakeConfig, draw_frame, write_set

REPO = Path(__file__).resolve().parent.parent


def _config_file(raw: Path, out: Path) -> Path:
    path = raw.parent / "pipeline.yaml"
    path.write_text(f"paths:\n  raw: {raw}\n  output: {out}\nbuild:\n  jobs: 1\n")
    return path


def test_check_passes_when_built_and_lists_each_stale_output(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    build(make_config())
    config = _config_file(raw, out)
    runner = CliRunner()

    clean = runner.invoke(main, ["check", "--config", str(config)])
    assert clean.exit_code == 0, clean.output

    (out / "muscles/png/Leg-Soleus-2-thumb.png").unlink()
    (out / "muscles/png/Leg-Soleus-9.webp").write_bytes(b"not the built file")
    stale = runner.invoke(main, ["check", "--config", str(config)])
    assert stale.exit_code == 1
    assert f"{out / 'muscles/png/Leg-Soleus-2-thumb.png'}: missing" in stale.output
    changed = f"{out / 'muscles/png/Leg-Soleus-9.webp'}: stale: its sources or config changed"
    assert changed in stale.output
    assert "2 stale output(s)" in stale.output


def test_check_fails_on_an_invalid_set(raw: Path, out: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", frames=[k for k in range(1, 17) if k != 5])
    result = CliRunner().invoke(
        main, ["check", "--inputs-only", "--config", str(_config_file(raw, out))]
    )
    assert result.exit_code == 1
    assert (
        f"{raw / 'Leg-Soleus-5.png'}: missing frame number(s) 5 of set Leg-Soleus" in result.output
    )


def test_pre_commit_hook_runs_the_check(raw: Path, out: Path, make_config: MakeConfig) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "muscle-assets-check"]
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    program, *args = shlex.split(hook["entry"])
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert program in scripts  # pre-commit installs this package, so the script exists

    # Run the entry as pre-commit would: the installed script, in the site's folder.
    executable = Path(sys.executable).parent / program
    write_set(raw, "Leg-Soleus")
    command = [str(executable), *args, "--config", str(_config_file(raw, out))]

    def run_hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=raw.parent, capture_output=True, text=True, timeout=120)

    stale = run_hook()
    assert stale.returncode == 1 and ": missing" in stale.stderr
    build(make_config())
    clean = run_hook()
    assert clean.returncode == 0, clean.stderr


def _build_with_pillow_reporting(version: str, config: Path) -> None:
    """A build in a process whose Pillow calls itself ``version``: what a CI or
    pre-commit environment with another Pillow records in the manifest."""
    code = (
        f"import PIL.Image; PIL.__version__ = {version!r}\n"
        "from pipeline.cli import main\n"
        f"main(['build', '-q', '--config', {str(config)!r}])"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_check_tells_other_encoder_versions_from_stale(raw: Path, out: Path) -> None:
    write_set(raw, "Leg-Soleus")
    config = _config_file(raw, out)
    _build_with_pillow_reporting("9.9.9", config)
    gif = out / "muscles/gif/Leg-Soleus.gif"
    runner = CliRunner()

    strict = runner.invoke(main, ["check", "--config", str(config)])
    assert strict.exit_code == 1
    here = PIL.__version__
    assert strict.stderr.splitlines() == [
        f"{gif}: built with other encoder versions (Pillow {here} here, 9.9.9 recorded); "
        "--accept-versions accepts it"
    ]
    accepting = runner.invoke(main, ["check", "--accept-versions", "--config", str(config)])
    assert accepting.exit_code == 0, accepting.output

    # A changed source is stale whatever the versions.
    draw_frame(4).save(raw / "Leg-Soleus-3.png")
    changed = runner.invoke(main, ["check", "--accept-versions", "--config", str(config)])
    assert changed.exit_code == 1
    assert f"{gif}: stale: its sources or config changed" in changed.stderr


def test_a_manifest_without_versions_stays_current(raw: Path, out: Path) -> None:
    """Manifests written before versions were kept apart: their fingerprints hold
    the versions, so nothing is rebuilt; the next build records them."""
    write_set(raw, "Leg-Soleus")
    config = _config_file(raw, out)
    runner = CliRunner()
    runner.invoke(main, ["build", "--config", str(config)])
    manifest = out / MANIFEST_NAME
    data = json.loads(manifest.read_text("utf-8"))
    recorded = {k: v.pop("versions") for k, v in data["outputs"].items() if "versions" in v}
    assert recorded["muscles/gif/Leg-Soleus.gif"]["pillow"] == PIL.__version__
    manifest.write_text(json.dumps(data), "utf-8")
    assert runner.invoke(main, ["check", "--config", str(config)]).exit_code == 0
    rebuilt = runner.invoke(main, ["build", "--config", str(config)])
    assert "0 file(s) written" in rebuilt.output
    again = json.loads(manifest.read_text("utf-8"))["outputs"]
    assert {k: v["versions"] for k, v in again.items() if "versions" in v} == recorded
    animation = [f"muscles/gif/Leg-Soleus.{ext}" for ext in ("gif", "mp4", "webm")]
    # palette PNGs (the default png.mode) record libimagequant's version too
    pngs = [f"muscles/png/Leg-Soleus-{k}{s}.png" for k in range(1, 17) for s in ("", "-thumb")]
    assert sorted(recorded) == sorted(animation + pngs)


def _runtime_requirements() -> set[str]:
    """Every package the installed muscle-assets needs at run time, transitively."""
    names: set[str] = set()
    todo = ["muscle-assets"]
    while todo:
        for text in importlib.metadata.requires(todo.pop()) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra's, or another platform's (colorama on Windows)
            key = _canonical(requirement.name)
            if key not in names:
                names.add(key)
                todo.append(requirement.name)
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_hook_pins_the_locked_runtime_versions() -> None:
    """The pre-commit hook installs what make and CI install (requirements.lock)."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "muscle-assets-check"]
    lock = {}
    for line in (REPO / "requirements.lock").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[_canonical(name)] = version
    pins = dict(pin.split("==") for pin in hook["additional_dependencies"])
    assert {_canonical(n): v for n, v in pins.items()} == {
        name: lock[name] for name in _runtime_requirements()
    }


def _ffmpeg_calling_itself(version: str, folder: Path) -> Path:
    """The real ffmpeg behind a script that reports another version: a binary
    swapped through ``IMAGEIO_FFMPEG_EXE`` (a system ffmpeg, another build)."""
    script = folder / "ffmpeg-other"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-version" ]; then echo "ffmpeg version {version} Copyright (c) x"\n'
        "exit 0; fi\n"
        f'exec "{ffmpeg_exe()}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def test_the_videos_depend_on_the_ffmpeg_binary_that_runs(
    raw: Path, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint names the binary's own version, not a package's: swapping the
    binary makes the WebM and MP4 (only) "built with other encoder versions"."""
    write_set(raw, "Leg-Soleus")
    config = _config_file(raw, out)
    runner = CliRunner()
    assert runner.invoke(main, ["build", "--config", str(config)]).exit_code == 0
    here = ffmpeg_version()
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(_ffmpeg_calling_itself("0.0-other", tmp_path)))
    swapped = runner.invoke(main, ["check", "--config", str(config)])
    assert swapped.exit_code == 1
    videos = [out / f"muscles/gif/Leg-Soleus.{ext}" for ext in ("mp4", "webm")]
    assert sorted(swapped.stderr.splitlines()) == [
        f"{video}: built with other encoder versions (ffmpeg 0.0-other here, {here} recorded); "
        "--accept-versions accepts it"
        for video in videos
    ]
    rebuilt = runner.invoke(main, ["build", "-v", "--config", str(config)])
    assert rebuilt.exit_code == 0
    assert sorted(line.split()[1] for line in rebuilt.output.splitlines() if "wrote" in line) == [
        "muscles/gif/Leg-Soleus.mp4",
        "muscles/gif/Leg-Soleus.webm",
    ]
