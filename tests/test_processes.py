"""Processes, signals and timeouts, with real processes: the main process killed
alone, SIGTERM and SIGINT, an ffmpeg that never ends, and ffmpegs that exit 0
having written nothing, junk or too few frames (a fake ffmpeg script in front of
the real one, through ``IMAGEIO_FFMPEG_EXE``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.codecs import video
from pipeline.codecs.video import ffmpeg_exe
from pipeline.state.lock import LOCK_NAME
from pipeline.state.manifest import MANIFEST_NAME
from tests.faultkit import (
    Corpus,
    assert_built,
    assert_consistent,
    cli,
    cli_process,
    error_lines,
    load_manifest,
    make_corpus,
    temp_files,
    tree_hashes,
)

BUILD = (sys.executable, "-m", "pipeline", "build")

# A stand-in for ffmpeg: encoders whose output path contains ONLY behave as MODE
# says; every other run (other sets, the decode check, the version query) is the
# real ffmpeg.
_FAKE = """#!{python}
import os, sys
REAL, MODE, ONLY = {real!r}, {mode!r}, {only!r}
args = sys.argv[1:]
out = args[-1]
if "framecrc" in args or args == ["-version"] or ONLY not in out:
    os.execv(REAL, [REAL, *args])
if MODE == "hang":
    os.execv("/bin/sleep", ["sleep", "300"])
if MODE == "short":
    args[args.index("-frames:v") + 1] = "3"
    os.execv(REAL, [REAL, *args])
sys.stdin.buffer.read()
with open(out, "wb") as handle:
    handle.write(b"" if MODE == "empty" else b"not a video!")
"""


def fake_ffmpeg(folder: Path, mode: str, only: str = "") -> Path:
    script = folder / f"ffmpeg-{mode}"
    real = ffmpeg_exe()
    script.write_text(_FAKE.format(python=sys.executable, real=real, mode=mode, only=only))
    script.chmod(0o755)
    return script


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    corpus = make_corpus(tmp_path, 4)
    corpus.write("Other")
    return corpus


def outputs(out: Path) -> dict[str, str]:
    skip = (LOCK_NAME, MANIFEST_NAME)
    return {k: v for k, v in tree_hashes(out).items() if not k.endswith(skip)}


# -- the process tree --------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid``, mapped to its parent."""
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for kid in _children(parent):
            found[kid] = parent
            todo.append(kid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def writers(main: int, tree: dict[int, int]) -> list[int]:
    """The processes that write outputs: workers and encoders, not multiprocessing's
    forkserver or resource tracker (children of the main process that write nothing)."""
    helpers = {
        pid
        for pid, parent in tree.items()
        if parent == main and ("forkserver" in cmdline(pid) or "resource_tracker" in cmdline(pid))
    }
    return [pid for pid in tree if pid not in helpers]


def wait_for_line(build: subprocess.Popen[str], start: str) -> None:
    """Read the build's stdout (on a thread: a read may block) until a line starts
    with ``start``; fail after 60 s."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert build.stdout is not None
        for line in build.stdout:
            lines.put(line)
            if line.startswith(start):
                return
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    while True:
        line = lines.get(timeout=60)
        assert line, f"the build ended with no line starting {start!r}"
        if line.startswith(start):
            return


def until_gone(tree: dict[int, int]) -> Iterator[None]:
    """Yield every 10 ms until every process of ``tree`` has ended; fail after 20 s."""
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in tree):
        assert time.monotonic() < deadline, [(pid, cmdline(pid)) for pid in tree if alive(pid)]
        yield
        time.sleep(0.01)


def lock_is_free(out: Path) -> bool:
    fd = os.open(out / LOCK_NAME, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def build_in_background(corpus: Corpus, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    build = subprocess.Popen(
        [*BUILD, "--config", str(corpus.config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        yield build
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left, for the next test
            os.killpg(build.pid, signal.SIGKILL)
        build.communicate()


def wait_for_encoder(build: subprocess.Popen[str]) -> dict[int, int]:
    """Wait until the build runs a (fake, hanging) encoder; return its process tree."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tree = descendants(build.pid)
        if any(cmdline(pid).startswith("sleep 300") for pid in tree):
            return tree
        assert build.poll() is None, build.communicate()
        time.sleep(0.02)
    raise AssertionError("no encoder started")


# -- 1. the main process killed alone ----------------------------------------------------


@pytest.mark.parametrize(
    ("start_method", "jobs"), [("forkserver", "2"), ("fork", "2"), ("spawn", "2"), (None, "1")]
)
def test_killing_only_the_main_process_takes_every_worker_and_encoder_with_it(
    corpus: Corpus, start_method: str | None, jobs: str
) -> None:
    """SIGKILL to the main pid alone (what the OOM killer does) while workers run
    and an encoder hangs: workers, forkserver and ffmpeg all die, the lock is held
    until the last worker or encoder is gone, and a rerun gives the clean tree."""
    corpus.configure(build={"start_method": start_method, "encoders": 2})
    hang = fake_ffmpeg(corpus.root, "hang")
    with build_in_background(corpus, "-j", jobs, IMAGEIO_FFMPEG_EXE=str(hang)) as build:
        tree = wait_for_encoder(build)
        writing = writers(build.pid, tree)  # named while their command lines are readable
        assert len(writing) >= int(jobs)  # the encoder, and the workers
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
        for _ in until_gone(tree):
            if lock_is_free(corpus.out):  # never while a worker or encoder still runs
                assert not [p for p in writing if alive(p)], tree
    rerun = cli_process("build", "--config", str(corpus.config), "-j", jobs)
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(corpus.out)
    clean = corpus.root / "clean"
    assert corpus.build("--output", str(clean)).exit_code == 0
    assert outputs(corpus.out) == outputs(clean)


# -- 3. SIGTERM and SIGINT ----------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_stops_the_build_as_ctrl_c_does(corpus: Corpus, signum: signal.Signals) -> None:
    """While ``Other``'s encoder hangs, the signal stops the build: exit 1 with a
    message, ``Good`` (finished) recorded in the manifest, no temporary file, no
    process and no encoder-slot folder left behind. Two encoder slots: with one,
    ``Good`` could wait for the slot ``Other``'s hanging encoder holds."""
    corpus.configure(build={"encoders": 2})
    hang = fake_ffmpeg(corpus.root, "hang", only="Other")
    with build_in_background(corpus, "-v", "-j", "2", IMAGEIO_FFMPEG_EXE=str(hang)) as build:
        tree = wait_for_encoder(build)
        wait_for_line(build, "Good: built")  # -v prints each set as the main process gets it
        os.kill(build.pid, signum)
        _, stderr = build.communicate(timeout=60)
    assert build.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    if signum == signal.SIGTERM:
        assert "muscle-assets: stopped by SIGTERM" in stderr
    assert "Aborted!" in stderr
    for _ in until_gone(tree):
        pass
    assert not temp_files(corpus.out)
    recorded = load_manifest(corpus.out)["outputs"]
    assert any("Good.webm" in relpath for relpath in recorded)
    assert not any("Other" in relpath and relpath.endswith(".webm") for relpath in recorded)
    assert_consistent(corpus.out)
    assert not list(Path(tempfile.gettempdir()).glob(f"muscle-assets-encoders-{build.pid}-*"))


def test_a_killed_builds_encoder_folder_is_removed_by_the_next_build(corpus: Corpus) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid whose process has ended
    tmp = Path(tempfile.gettempdir())
    stale = tmp / f"muscle-assets-encoders-{gone.pid}-abcd1234"
    stale.mkdir()
    (stale / "slot-0").write_bytes(b"")
    live = tmp / f"muscle-assets-encoders-{os.getpid()}-abcd1234"  # ours: in use
    live.mkdir()
    try:
        assert corpus.build().exit_code == 0
        assert not stale.exists()
        assert live.is_dir()
    finally:
        live.rmdir()


# -- 4. an encoder that never ends -------------------------------------------------------


def test_an_encoder_past_its_timeout_fails_its_set_and_the_rest_is_built(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus.configure(build={"encoder_timeout": 1})
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(fake_ffmpeg(corpus.root, "hang", "Other")))
    result = corpus.build()
    assert result.exit_code == 1
    webm = corpus.out / "muscles" / "gif" / "Other.webm"
    assert error_lines(result.stderr, corpus.root) == [
        f"{webm}: ffmpeg did not finish within 1 s and was stopped (build.encoder_timeout)"
    ]
    assert_built(corpus)
    assert (corpus.out / "muscles" / "gif" / "Good.webm").is_file()
    assert not webm.exists()
    assert_consistent(corpus.out)


@pytest.mark.parametrize("value", [0, -5, "soon", 100_000])
def test_encoder_timeout_is_validated(corpus: Corpus, value: object) -> None:
    corpus.configure(build={"encoder_timeout": value})
    result = corpus.build()
    assert result.exit_code == 2
    assert "build.encoder_timeout" in result.stderr
    assert not corpus.out.exists()


# -- 13. an encoder that exits 0 with a bad file --------------------------------------------


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("empty", "ffmpeg wrote an empty file"),
        ("junk", "ffmpeg wrote no readable video: "),
        ("short", "ffmpeg wrote a wrong video: 3 frame(s) of "),
    ],
)
def test_an_encoder_output_that_does_not_decode_right_is_not_kept(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, mode: str, problem: str
) -> None:
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(fake_ffmpeg(corpus.root, mode, "Other")))
    result = corpus.build()
    assert result.exit_code == 1
    webm = corpus.out / "muscles" / "gif" / "Other.webm"
    lines = error_lines(result.stderr, corpus.root)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{webm}: {problem}"), lines
    if mode == "short":
        assert ", expected 4 of " in lines[0], lines
    assert not webm.exists()
    assert not any("Other.webm" in r for r in load_manifest(corpus.out)["outputs"])
    assert_built(corpus)
    assert_consistent(corpus.out)
    # with a sound ffmpeg, the next build makes it
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
    assert cli("build", "--config", str(corpus.config), "-j", "1").exit_code == 0
    assert webm.is_file()


def test_an_ffmpeg_that_hangs_even_on_its_version_is_unusable_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning asks the binary its version: one that never answers is stopped
    (and named unusable) instead of stalling the plan."""
    hang = tmp_path / "ffmpeg-silent"
    hang.write_text("#!/bin/sh\nexec sleep 300\n")
    hang.chmod(0o755)
    monkeypatch.setattr(video, "VERSION_TIMEOUT", 0.5)
    reported = video.ffmpeg_version(str(hang))
    assert reported.startswith("unusable (") and "timed out after 0.5 seconds" in reported
