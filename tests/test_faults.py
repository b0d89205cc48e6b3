"""Faults: an output folder that cannot be written, a full disk, a build killed with
SIGKILL, two builds at once. Whatever happens, previous outputs stay intact, no
partial or temporary file is left, and a rerun ends consistent with the manifest."""

from __future__ import annotations

import errno
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
import yaml

from pipeline.config import config_from_dict
from pipeline.errors import LockError, OutputError
from pipeline.site import frontmatter
from pipeline.stages import thumbnails
from pipeline.state.lock import LOCK_NAME, output_lock
from pipeline.state.manifest import MANIFEST_NAME
from pipeline.state.outputs import resolve_inside
from tests.faultkit import (
    Corpus,
    Untouched,
    assert_built,
    assert_consistent,
    assert_decodes,
    cli,
    cli_process,
    cli_while_chmod,
    error_lines,
    load_manifest,
    lock_held_elsewhere,
    make_corpus,
    permissions_enforceable,
    temp_files,
    tree_hashes,
    write_config,
)

BUILD = (sys.executable, "-m", "pipeline", "build")
PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return make_corpus(tmp_path, 4)


def outputs(out: Path) -> dict[str, str]:
    """Hashes of the outputs, without the lock file (its content is the holder's pid)."""
    return {k: v for k, v in tree_hashes(out).items() if not k.endswith(LOCK_NAME)}


# -- output folder not writable ----------------------------------------------------------


def test_output_folder_not_writable(corpus: Corpus, untouched: Untouched) -> None:
    if reason := permissions_enforceable():
        pytest.skip(reason)
    corpus.write("Other")
    assert corpus.build().exit_code == 0
    untouched.watch(corpus.raw)
    before = outputs(corpus.out)
    png = corpus.out / "muscles" / "png"
    args = ("build", "--force", "--config", str(corpus.config), "-j", "1")
    result = cli_while_chmod(png, 0o555, *args)
    assert result.returncode == 1
    assert error_lines(result.stderr, corpus.root) == [
        f"{png / f'{set_id}-1-thumb.png'}: permission denied (is the output folder writable?)"
        for set_id in ("Good", "Other")
    ]
    assert outputs(corpus.out) == before
    assert_consistent(corpus.out)


def test_output_root_not_writable(corpus: Corpus) -> None:
    if reason := permissions_enforceable():
        pytest.skip(reason)
    corpus.out.mkdir()
    result = cli_while_chmod(corpus.out, 0o555, "build", "--config", str(corpus.config))
    assert result.returncode == 1
    assert error_lines(result.stderr, corpus.root) == [
        f"{corpus.out}: permission denied (is the output folder writable?)"
    ]
    assert not any(corpus.out.iterdir())


# -- disk full ------------------------------------------------------------------------


def test_disk_full_mid_build_keeps_previous_outputs(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, untouched: Untouched
) -> None:
    """Every write goes through Path.write_bytes; from the third on, each writes
    half its bytes and fails with ENOSPC, as a filling disk does."""
    assert corpus.build().exit_code == 0
    corpus.write("New")
    corpus.configure(thumbs={"width": 20, "height": 20})  # Good's thumbs are stale now
    untouched.watch(corpus.raw)
    before = outputs(corpus.out)
    real_write_bytes = Path.write_bytes
    calls = 0

    def write_bytes(self: Path, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return real_write_bytes(self, data)
        real_write_bytes(self, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = corpus.build()
    monkeypatch.undo()

    png = corpus.out / "muscles" / "png"
    assert result.exit_code == 1
    assert error_lines(result.stderr, corpus.root) == [
        # A frame's outputs are written together: Good-1's PNG and WebP thumbs fitted.
        f"{png / 'Good-2-thumb.png'}: no space left on device",
        f"{png / 'New-1-thumb.png'}: no space left on device",
        f"{corpus.out / MANIFEST_NAME}: no space left on device",
    ]
    assert not temp_files(corpus.out)
    after = outputs(corpus.out)
    rewritten = {"muscles/png/Good-1-thumb.png", "muscles/png/Good-1-thumb.webp"}
    assert {k: v for k, v in after.items() if k not in rewritten} == {
        k: v for k, v in before.items() if k not in rewritten
    }
    for path in corpus.out.rglob("*.png"):
        assert_decodes(path)

    rerun = corpus.build()  # space again: the build completes and agrees with its manifest
    assert rerun.exit_code == 0, rerun.stderr
    assert_built(corpus, "New")
    assert_consistent(corpus.out)


def test_set_failing_midway_keeps_what_it_wrote(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write fails in the middle of a set: the outputs written before it are in
    the saved manifest, the failed one keeps its old bytes, and the rerun writes only
    what is still stale."""
    assert corpus.build().exit_code == 0
    corpus.configure(thumbs={"width": 20, "height": 20})  # thumbs (png and webp) stale
    png = corpus.out / "muscles" / "png"
    old_thumb3 = (png / "Good-3-thumb.png").read_bytes()
    real_write_bytes = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if self.name.startswith(".Good-3-thumb.png."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = corpus.build()
    monkeypatch.undo()
    assert result.exit_code == 1
    assert error_lines(result.stderr, corpus.root) == [
        f"{png / 'Good-3-thumb.png'}: no space left on device"
    ]
    assert (png / "Good-3-thumb.png").read_bytes() == old_thumb3
    manifest = assert_consistent(corpus.out)
    sizes = {k: v["written"]["width"] for k, v in manifest["outputs"].items()}
    assert sizes["muscles/png/Good-1-thumb.png"] == sizes["muscles/png/Good-2-thumb.png"] == 20
    assert sizes["muscles/png/Good-3-thumb.png"] > 20

    rerun = corpus.build("--verbose")
    assert rerun.exit_code == 0
    wrote = sorted(line.split()[1] for line in rerun.stdout.splitlines() if "wrote" in line)
    # A frame's outputs are written together, so frames 1 and 2 were complete.
    expected = [f"muscles/png/Good-{k}-thumb.{ext}" for k in (3, 4) for ext in ("png", "webp")]
    assert wrote == sorted(expected)
    assert_consistent(corpus.out)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (needs root or CAP_SYS_ADMIN; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_disk_full_on_a_real_small_disk(
    tmp_path: Path, small_disk: Path, untouched: Untouched
) -> None:
    corpus = make_corpus(tmp_path, 4)
    out = small_disk / "out"
    corpus.configure(paths={"output": str(out)})
    assert corpus.build().exit_code == 0
    corpus.write("New")
    untouched.watch(corpus.raw)
    before = outputs(out)
    filler = fill(small_disk)

    result = corpus.build("--force")
    png = out / "muscles" / "png"
    assert result.exit_code == 1
    assert error_lines(result.stderr, tmp_path) == [
        f"{png / 'Good-1-thumb.png'}: no space left on device",
        f"{png / 'New-1-thumb.png'}: no space left on device",
        f"{out / MANIFEST_NAME}: no space left on device",
    ]
    assert outputs(out) == before
    assert not temp_files(out)

    filler.unlink()
    assert corpus.build().exit_code == 0
    assert_consistent(out)


# -- SIGKILL -----------------------------------------------------------------------------


def test_killed_builds_then_a_rerun_leave_everything_consistent(
    tmp_path: Path, untouched: Untouched
) -> None:
    """Kill the whole build (main process and workers) at seeded random moments;
    in between, no output is ever truncated and the manifest never contradicts a
    file; after a rerun the tree is byte-identical to a clean build's."""
    corpus = make_corpus(tmp_path, 16)
    corpus.write("Other")
    pages = tmp_path / "pages"
    pages.mkdir()
    old = {f"muscle_{s.lower()}.md": _stale_page(s).encode() for s in ("Good", "Other")}
    for name, data in old.items():
        (pages / name).write_bytes(data)
    corpus.configure(png={"optimize_level": 2}, paths={"pages": str(pages)})
    # what each page becomes once built: the same build on copies, never killed
    expected = tmp_path / "expected-pages"
    shutil.copytree(pages, expected)
    other = write_config(
        tmp_path / "expected.yaml",
        corpus.raw,
        tmp_path / "expected-out",
        frames={"count": 16},
        paths={"pages": str(expected)},
    )
    assert cli("build", "--config", str(other), "-j", "1").exit_code == 0
    new = {name: (expected / name).read_bytes() for name in old}
    assert new != old
    untouched.watch(corpus.raw)
    rng = random.Random(20261124)
    for attempt in range(4):
        jobs = "2" if attempt % 2 else "1"
        build = subprocess.Popen(
            [*BUILD, "-q", "--config", str(corpus.config), "-j", jobs],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.3, 1.5))
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        for path in corpus.out.rglob("*"):
            if path.suffix in (".png", ".webp") and not path.name.endswith(".tmp"):
                assert_decodes(path)
        if (corpus.out / MANIFEST_NAME).exists():
            for relpath in load_manifest(corpus.out)["outputs"]:
                assert (corpus.out / relpath).is_file()
        for name in old:  # every page is its old or its new version, never half written
            assert (pages / name).read_bytes() in (old[name], new[name]), name
        assert sorted(p.name for p in pages.iterdir()) == sorted(old)  # no temporary files

    rerun = cli_process("build", "--config", str(corpus.config))
    assert rerun.returncode == 0, rerun.stderr
    manifest = assert_consistent(corpus.out)
    assert len(manifest["outputs"]) == 2 * (16 * 4 + 3)  # per frame 4 files, per set 3 animations
    assert {name: (pages / name).read_bytes() for name in old} == new

    clean = tmp_path / "clean"
    reference = cli("build", "--config", str(corpus.config), "--output", str(clean), "-j", "1")
    assert reference.exit_code == 0
    skip = (LOCK_NAME, MANIFEST_NAME)
    assert {k: v for k, v in outputs(corpus.out).items() if not k.endswith(skip)} == {
        k: v for k, v in outputs(clean).items() if not k.endswith(skip)
    }


def _stale_page(set_id: str) -> str:
    """A page in the site's style whose gallery lists only two orientations."""
    entries = "".join(
        f"  - image_url: muscles/png/{set_id}-{k}.png\n"
        f"    caption: 'Orientation {k}, by hand'\n"
        f"    title: '{set_id} - orientation {k}'\n"
        for k in (1, 2)
    )
    return (
        f"---\n\nlayout: page\ntitle: '{set_id}'\n\ngallery:\n{entries}\n---\n\n"
        "Body text.\n\n{% include gallery %}\n"
    )


_ENCODE_THEN_FORK = """
import sys
from tests.faultkit import cli
if __name__ == "__main__":
    config, first, second = sys.argv[1:]
    assert cli("build", "--config", config, "-j", "1", "--output", first).exit_code == 0
    assert cli("build", "--config", config, "-j", "2", "--output", second).exit_code == 0
"""


def test_workers_start_after_an_in_process_build(corpus: Corpus) -> None:
    """oxipng's native threads make a later fork hang its workers; the runner's pool
    therefore uses forkserver. In a child process, so a regression fails on time."""
    corpus.write("Other")
    args = [str(corpus.config), str(corpus.root / "one"), str(corpus.root / "two")]
    done = subprocess.run(
        [sys.executable, "-c", _ENCODE_THEN_FORK, *args],
        cwd=PIPELINE.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert outputs(corpus.root / "one").keys() == outputs(corpus.root / "two").keys()


def test_leftover_temp_files_are_removed_by_the_next_build(corpus: Corpus) -> None:
    assert corpus.build().exit_code == 0
    png = corpus.out / "muscles" / "png"
    leftovers = [
        png / ".Good-1.png.muscle-assets-a1b2c3d4.tmp",
        corpus.out / f".{MANIFEST_NAME}.muscle-assets-zz_9yx8w.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half a file")
    # not ours: a plain name, and a person's (or an editor's) '.<name>.<8 chars>.tmp'
    keep = [png / "notes.tmp", png / ".foo.abcdefgh.tmp", corpus.out / ".Good-1.png.a1b2c3d4.tmp"]
    for path in keep:
        path.write_text("keep me", encoding="utf-8")
    assert corpus.build().exit_code == 0
    assert not any(path.exists() for path in leftovers)
    assert all(path.read_text(encoding="utf-8") == "keep me" for path in keep)


# -- two builds at once --------------------------------------------------------------------


def test_second_build_exits_while_the_first_holds_the_lock(corpus: Corpus) -> None:
    with lock_held_elsewhere(corpus.out) as holder:
        result = corpus.build()
        assert result.exit_code == 1
        assert error_lines(result.stderr, corpus.root) == [
            f"{corpus.out}: another build is running (lock held by pid {holder.pid})"
        ]
        assert not (corpus.out / "muscles").exists()
        # reading commands need no lock
        assert corpus.build("--dry-run").exit_code == 0
        check = ("check", "--inputs-only", "--config", str(corpus.config))
        assert cli(*check).exit_code == 0
        assert cli("list", "--config", str(corpus.config)).exit_code == 0
    assert corpus.build().exit_code == 0
    assert_consistent(corpus.out)


def test_wait_flag_waits_for_the_lock(corpus: Corpus) -> None:
    with lock_held_elsewhere(corpus.out) as holder:
        waiting = subprocess.Popen(
            [*BUILD, "--wait", "-j", "1", "--config", str(corpus.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        ready, _, _ = select.select([waiting.stderr], [], [], 60)
        assert ready, "the waiting build said nothing"
        assert waiting.stderr.readline() == (
            f"{corpus.out}: waiting for another build to finish (lock held by pid {holder.pid})\n"
        )
        assert not (corpus.out / "muscles").exists()
    assert waiting.wait(timeout=60) == 0
    assert_built(corpus)
    assert_consistent(corpus.out)


def test_lock_of_a_killed_build_does_not_block(corpus: Corpus) -> None:
    with lock_held_elsewhere(corpus.out) as holder:
        holder.kill()
        holder.wait()
        assert corpus.build().exit_code == 0
    assert (corpus.out / LOCK_NAME).read_text() == ""  # no pid of a finished build


def test_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    first = output_lock(tmp_path)
    first.__enter__()
    try:
        with pytest.raises(LockError, match="another build is running"), output_lock(tmp_path):
            pass  # pragma: no cover
    finally:
        first.__exit__(None, None, None)
    with output_lock(tmp_path):
        pass


# -- safety ----------------------------------------------------------------------------------


def test_no_shell_and_no_unsafe_yaml_in_the_code() -> None:
    forbidden = re.compile(
        r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.getoutput|"
        r"yaml\.load\(|yaml\.unsafe_load|yaml\.full_load|Loader=yaml\.(Unsafe|Full)?Loader"
    )
    sources = [*PIPELINE.rglob("*.py"), *(PIPELINE.parent / "scripts").rglob("*.py")]
    assert sources
    offending = [
        f"{path}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line) and "Loader=_LOADER" not in line
    ]
    assert offending == []
    # the one loader allowed above is a safe one (libyaml's when available)
    assert frontmatter._LOADER in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", None))


@pytest.mark.parametrize(
    "relpath", ["../escape.png", "muscles/../../escape.png", "/etc/escape.png"]
)
def test_resolve_inside_refuses_escapes(tmp_path: Path, relpath: str) -> None:
    with pytest.raises(OutputError, match="path escapes the output folder"):
        resolve_inside(tmp_path, PurePosixPath(relpath))


def test_planned_paths_of_a_crafted_set_id_cannot_escape(tmp_path: Path) -> None:
    """Discovery refuses such ids; if one got through, writing would still refuse."""
    (tmp_path / "raw").mkdir()
    cfg = config_from_dict(
        {"paths": {"raw": str(tmp_path / "raw"), "output": str(tmp_path / "out")}}, tmp_path
    )
    for spec in thumbnails.plan("../../../evil", [1], (10, 10), True, cfg):
        with pytest.raises(OutputError):
            resolve_inside(cfg.paths.output_root, spec.relpath)
