"""The CLI through click's CliRunner: exit codes, messages, summaries."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import write_set


def _config(tmp_path: Path) -> Path:
    (tmp_path / "raw").mkdir(exist_ok=True)
    path = tmp_path / "pipeline.yaml"
    path.write_text("paths:\n  raw: raw\n  output: out\nbuild:\n  jobs: 1\n")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_build_then_list_then_noop(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    code, out, _ = invoke("build", "--config", cfg)
    assert code == 0
    assert out.strip().startswith("1 set(s) built, 0 up to date, 0 failed; 67 file(s) written")
    code, out, _ = invoke("list", "--config", cfg)
    assert code == 0 and "Leg-Soleus      16  up to date" in out
    code, out, _ = invoke("build", "--config", cfg)
    assert code == 0 and out.startswith("0 set(s) built, 1 up to date")


def test_unknown_set_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    code, _, err = invoke("build", "Neck-Xyz", "Arm-Nope", "--config", cfg)
    assert code == 2
    assert err.strip() == f"{tmp_path / 'raw'}: unknown set id(s): Neck-Xyz, Arm-Nope"


def test_one_stage_command_writes_only_its_outputs(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    code, _, _ = invoke("thumbs", "Leg-Soleus", "--config", cfg)
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "out/muscles/png").iterdir())
    assert len(written) == 32  # each thumbnail as PNG and as its WebP copy
    assert all(n.endswith(("-thumb.png", "-thumb.webp")) for n in written)


def test_defective_set_fails_build_with_one_line_per_problem(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus", frames=range(1, 16))
    write_set(tmp_path / "raw", "Leg-Plantaris")
    code, out, err = invoke("build", "--config", cfg, "-q")
    assert code == 1
    assert err.splitlines() == [
        f"{tmp_path / 'raw/Leg-Soleus-16.png'}: missing frame number(s) 16 of set Leg-Soleus"
    ]
    assert out == ""
    assert (tmp_path / "out/muscles/png/Leg-Plantaris-1.png").is_file()


def test_check_is_a_gate_for_stale_outputs(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    code, out, err = invoke("check", "--config", cfg)
    assert code == 1 and "stale output(s)" in out
    assert f"{tmp_path / 'out/muscles/png/Leg-Soleus-1.png'}: missing" in err
    code, _, _ = invoke("check", "--inputs-only", "--config", cfg)
    assert code == 0
    invoke("build", "--config", cfg)
    code, out, err = invoke("check", "--config", cfg)
    assert code == 0 and err == ""
    assert out.strip() == "checked 1 set(s): 1 valid, 0 invalid, 0 stale output(s) or page(s)"


def test_dry_run_lists_files_and_writes_nothing(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    code, out, _ = invoke("build", "--dry-run", "--config", cfg)
    assert code == 0
    assert "would write muscles/png/Leg-Soleus-16-thumb.png" in out
    assert not (tmp_path / "out").exists()


def test_force_rewrites(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    invoke("build", "--config", cfg)
    code, out, _ = invoke("build", "--force", "--config", cfg)
    assert code == 0 and "67 file(s) written" in out


def test_bad_config_exits_2_listing_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("thumbs:\n  width: -1\n  colour: red\n")
    code, _, err = invoke("list", "--config", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: thumbs.colour: unknown key"
        " (known: height, png_mode, png_quality_max, resample, width)",
        f"{path}: paths.raw: folder does not exist: {tmp_path / 'raw'}",
        f"{path}: thumbs.width: must be positive",
    ]


def test_verbose_lists_every_file(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    write_set(tmp_path / "raw", "Leg-Soleus")
    code, out, _ = invoke("variants", "--config", cfg, "-v")
    assert code == 0
    assert "Leg-Soleus: built" in out and "wrote muscles/png/Leg-Soleus-7.webp" in out
