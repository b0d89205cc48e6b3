"""``check`` as a CI gate and the pre-commit hook that runs it."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.runner import run
from tests.conftest import MakeConfig, write_set

REPO = Path(__file__).resolve().parent.parent


def _config_file(raw: Path, out: Path) -> Path:
    path = raw.parent / "pipeline.yaml"
    path.write_text(f"paths:\n  raw: {raw}\n  output: {out}\nbuild:\n  jobs: 1\n")
    return path


def test_check_passes_when_built_and_lists_each_stale_output(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    run(make_config())
    config = _config_file(raw, out)
    runner = CliRunner()

    clean = runner.invoke(main, ["check", "--config", str(config)])
    assert clean.exit_code == 0, clean.output

    (out / "muscles/png/Leg-Soleus-2-thumb.png").unlink()
    (out / "muscles/png/Leg-Soleus-9.webp").write_bytes(b"not the built file")
    stale = runner.invoke(main, ["check", "--config", str(config)])
    assert stale.exit_code == 1
    assert f"{out / 'muscles/png/Leg-Soleus-2-thumb.png'}: stale or missing" in stale.output
    assert f"{out / 'muscles/png/Leg-Soleus-9.webp'}: stale or missing" in stale.output
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
    assert stale.returncode == 1 and "stale or missing" in stale.stderr
    run(make_config())
    clean = run_hook()
    assert clean.returncode == 0, clean.stderr
