"""One test per validation defect: each names the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.build import build
from tests.conftest import MakeConfig, draw_frame, write_set


def _defects(cfg_maker: MakeConfig) -> list[str]:
    report = build(cfg_maker(), dry_run=True)
    return [str(d) for r in report.results for d in r.defects]


def test_missing_frame_numbers_are_named(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", frames=[k for k in range(1, 17) if k not in (4, 9)])
    (line,) = _defects(make_config)
    assert line == f"{raw / 'Leg-Soleus-4.png'}: missing frame number(s) 4, 9 of set Leg-Soleus"


def test_extra_frame_number(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", frames=range(1, 18))
    (line,) = _defects(make_config)
    assert line == f"{raw / 'Leg-Soleus-17.png'}: extra frame number 17 (expected 1..16)"


def test_frame_zero_is_extra(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", frames=range(0, 17))
    (line,) = _defects(make_config)
    assert line.startswith(f"{raw / 'Leg-Soleus-0.png'}: extra frame number 0")


def test_zero_padded_number_is_reported(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", frames=[k for k in range(1, 17) if k != 7])
    draw_frame(7).save(raw / "Leg-Soleus-07.png")
    (line,) = _defects(make_config)
    assert line == f"{raw / 'Leg-Soleus-07.png'}: zero-padded frame number '07' (rename to 7)"


def test_zero_padded_copy_beside_the_frame_is_a_duplicate(
    raw: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus")
    draw_frame(7).save(raw / "Leg-Soleus-07.png")
    (line,) = _defects(make_config)
    assert line == (
        f"{raw / 'Leg-Soleus-07.png'}: duplicate frame number 7: zero-padded '07', "
        "and Leg-Soleus-7.png exists"
    )


def test_frames_of_different_sizes(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    draw_frame(5, size=100).save(raw / "Leg-Soleus-5.png")
    (line,) = _defects(make_config)
    assert line.startswith(f"{raw / 'Leg-Soleus-5.png'}: frame is 100x100 but Leg-Soleus-1.png")


def test_frames_of_different_kinds(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    draw_frame(6, transparent=False).save(raw / "Leg-Soleus-6.png")
    (line,) = _defects(make_config)
    assert line.startswith(f"{raw / 'Leg-Soleus-6.png'}: frame has no transparency")


def test_undecodable_frame(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    path = raw / "Leg-Soleus-3.png"
    path.write_bytes(path.read_bytes()[:200])
    (line,) = _defects(make_config)
    assert line.startswith(f"{path}: cannot decode PNG")


def test_fully_transparent_frame(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus")
    Image.new("RGBA", (120, 120), (0, 0, 0, 0)).save(raw / "Leg-Soleus-2.png")
    (line,) = _defects(make_config)
    assert line == f"{raw / 'Leg-Soleus-2.png'}: nothing visible: the frame is fully transparent"


def test_flat_colour_frame(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", transparent=False)
    Image.new("RGB", (120, 120), (200, 30, 30)).save(raw / "Leg-Soleus-2.png")
    (line,) = _defects(make_config)
    assert line == f"{raw / 'Leg-Soleus-2.png'}: nothing visible: the frame is one flat colour"


def test_blank_white_frame_in_opaque_set(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-Soleus", transparent=False)
    noisy = np.full((120, 120, 3), 255, np.uint8)
    noisy[0, 0] = (252, 252, 252)  # within the background tolerance
    Image.fromarray(noisy, "RGB").save(raw / "Leg-Soleus-8.png")
    (line,) = _defects(make_config)
    assert line.endswith("nothing visible: no pixel differs from the background colour")


def test_a_defective_set_does_not_stop_the_others(
    raw: Path, out: Path, make_config: MakeConfig
) -> None:
    write_set(raw, "Leg-Soleus", frames=range(1, 16))
    write_set(raw, "Leg-Plantaris")
    report = build(make_config())
    status = {r.set_id: r.status for r in report.results}
    assert status == {"Leg-Soleus": "failed", "Leg-Plantaris": "built"}
    assert not report.ok
    assert (out / "muscles/png/Leg-Plantaris-16.png").is_file()
    assert not list(out.rglob("Leg-Soleus*"))


def test_set_id_with_a_dot_is_refused(raw: Path, make_config: MakeConfig) -> None:
    write_set(raw, "Leg-So.leus")
    (line,) = _defects(make_config)
    assert "set id 'Leg-So.leus' is not allowed" in line
