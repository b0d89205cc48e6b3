"""Parallel builds make the same bytes as serial ones, under every start method."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath

import pytest

from pipeline.build import build, in_turn
from pipeline.errors import ConfigError
from pipeline.plan import StepTimer
from pipeline.stages import all_stages
from pipeline.state.lock import LOCK_NAME, EncoderSlots
from pipeline.state.manifest import MANIFEST_NAME
from pipeline.state.outputs import Output
from tests.conftest import MakeConfig, write_set


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST_NAME, LOCK_NAME)
    }


def recorded(root: Path) -> dict[str, tuple[str, str]]:
    """Each output's fingerprint and content hash from the manifest (mtimes differ)."""
    outputs = json.loads((root / MANIFEST_NAME).read_text())["outputs"]
    return {k: (v["fingerprint"], v["sha256"]) for k, v in outputs.items()}


@pytest.fixture
def three_sets(raw: Path) -> Path:
    write_set(raw, "Leg-Soleus")
    write_set(raw, "Arm-Biceps", transparent=False)
    write_set(raw, "Leg", size=100)
    return raw


def test_jobs_2_writes_the_same_bytes_as_jobs_1(
    three_sets: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    one = build(make_config(paths={"output": str(serial)}, build={"jobs": 1}))
    two = build(make_config(paths={"output": str(parallel)}, build={"jobs": 2}))
    assert one.ok and two.ok and two.count("built") == 3
    assert one.files_written == two.files_written == 3 * 67
    assert tree_bytes(serial) == tree_bytes(parallel)
    assert recorded(serial) == recorded(parallel)
    assert [r.set_id for r in two.results] == ["Arm-Biceps", "Leg", "Leg-Soleus"]


def test_encoder_slots_let_count_holders_in_at_once(tmp_path: Path) -> None:
    slots = EncoderSlots(str(tmp_path), 1)
    entered = threading.Event()

    def second() -> None:
        with slots.take(wait=True) or contextlib.nullcontext():
            entered.set()

    first = slots.take(wait=False)
    assert first is not None
    with first:
        assert slots.take(wait=False) is None  # the one slot is taken
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.3)
    assert entered.wait(10)  # and free once released
    waiter.join()

    (tmp_path / "two").mkdir()
    two = EncoderSlots(str(tmp_path / "two"), 2)
    a, b = two.take(wait=False), two.take(wait=False)
    assert a is not None and b is not None  # two slots: both held at once
    assert two.take(wait=False) is None
    a.release()
    c = two.take(wait=False)
    assert c is not None
    b.release()
    c.release()


def rendered(order: Iterator[tuple[Output, AbstractContextManager[object]]]) -> list[str]:
    """Render (here: just name) each output while holding what it must hold."""
    kinds = []
    for output, slot in order:
        with slot:
            kinds.append(output.kind)
    return kinds


def test_videos_take_a_free_slot_and_other_outputs_go_while_none_is(tmp_path: Path) -> None:
    stages = all_stages()

    def spec(stage: str, kind: str, frames: tuple[int, ...]) -> Output:
        return Output(stage, kind, PurePosixPath(f"{kind}{frames}"), frames, 1, 1)

    todo = [spec("thumbs", "thumb", (1,)), spec("variants", "png", (1,))]
    todo += [spec("animate", kind, (1, 2)) for kind in ("gif", "webm", "mp4")]
    slots = EncoderSlots(str(tmp_path), 1)
    timer = StepTimer()
    other = slots.take(wait=False)  # another worker's encoder is running
    assert other is not None
    order = in_turn(todo, stages, slots, timer)
    made = [next(order)[0].kind for _ in range(3)]
    assert made == ["thumb", "png", "gif"]  # everything but the videos, meanwhile
    threading.Timer(0.2, other.release).start()
    output, slot = next(order)  # now it waits for the slot
    assert output.kind == "webm" and "encoder-wait" in timer.seconds
    with slot:
        assert slots.take(wait=False) is None  # held while the video is made
    assert rendered(order) == ["mp4"]
    assert rendered(in_turn(todo, stages, slots, StepTimer())) == [
        "webm",  # a free slot: videos first, then the rest
        "mp4",
        "thumb",
        "png",
        "gif",
    ]
    assert rendered(in_turn(todo, stages, None, StepTimer())) == [
        "thumb",
        "png",
        "gif",
        "webm",
        "mp4",
    ]


def test_encoders_must_be_at_least_one(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError, match=r"build\.encoders: must be at least 1"):
        make_config(build={"encoders": 0})


def build_in_fresh_process(raw: Path, out: Path, method: str) -> None:
    """Run a two-worker build through the CLI in a new interpreter, as a user does:
    ``fork`` is only promised from a process that has not encoded PNGs itself."""
    config = out.parent / f"{method}.yaml"
    data = {"paths": {"raw": str(raw), "output": str(out)}, "build": {"start_method": method}}
    config.write_text(json.dumps(data), encoding="utf-8")
    command = [sys.executable, "-m", "pipeline", "build", "-q", "-j", "2", "--config", str(config)]
    subprocess.run(command, check=True, timeout=120)


def test_spawn_and_fork_write_the_same_bytes(three_sets: Path, tmp_path: Path) -> None:
    forked, spawned = tmp_path / "fork", tmp_path / "spawn"
    build_in_fresh_process(three_sets, forked, "fork")
    build_in_fresh_process(three_sets, spawned, "spawn")
    assert len(tree_bytes(forked)) == 3 * 67
    assert tree_bytes(forked) == tree_bytes(spawned)
    assert recorded(forked) == recorded(spawned)


def test_default_start_method_is_safe_after_in_process_builds(
    three_sets: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    """A library caller that built in-process (jobs=1) and then builds with a pool
    must not hang, and gets the same bytes; per-step timings come back as data."""
    serial, pooled = tmp_path / "serial", tmp_path / "pooled"
    build(make_config(paths={"output": str(serial)}, build={"jobs": 1}))
    report = build(make_config(paths={"output": str(pooled)}, build={"jobs": 2}))
    assert report.count("built") == 3
    assert tree_bytes(serial) == tree_bytes(pooled)
    assert all({"probe", "thumbs", "variants"} <= r.stage_seconds.keys() for r in report.results)


def test_parallel_rebuild_after_a_change_matches_a_serial_one(
    three_sets: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    """Workers return manifest slices; merged, they plan the next build as a serial
    build would: nothing left to do."""
    out = tmp_path / "out"
    cfg = make_config(build={"jobs": 2})
    build(cfg)
    again = build(cfg)
    assert again.files_written == 0 and again.count("up-to-date") == 3
    changed = build(make_config(thumbs={"width": 40, "height": 40}, build={"jobs": 2}))
    assert changed.files_written == 3 * 32
    serial = tmp_path / "serial"
    build(make_config(thumbs={"width": 40, "height": 40}, paths={"output": str(serial)}))
    assert tree_bytes(out) == tree_bytes(serial)
