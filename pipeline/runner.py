"""Scheduling: how many workers, running the sets' renders on them, and progress.

Only the sets whose plan needs pixels come here (:func:`pipeline.build.build`
plans every set first). Each goes to a worker process as its plan, plain
picklable data, and comes back as its result, so behaviour is the same under
``fork`` and ``spawn``; at most ``jobs`` sets are in memory at once. Video
encoders are bounded across workers by encoder slots (``build.encoders``), and
workers report progress output by output through a channel this process reads.
With ``build.scheduler`` the sets go to a Dask cluster instead
(:mod:`pipeline.distributed`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import queue
import stat
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from typing import TYPE_CHECKING

from PIL import Image

from pipeline import lifeline
from pipeline.config import Config
from pipeline.memory import available_memory, tune_memory
from pipeline.plan import KEEP_PROBED_BYTES
from pipeline.sources.sets import SourceSet
from pipeline.state.lock import EncoderSlots, encoder_slots

if TYPE_CHECKING:
    from pipeline.build import SetResult
    from pipeline.plan import SetPlan


@dataclass(frozen=True)
class SetProgress:
    """How far a worker is through one set: sent once it has planned the set's
    stale outputs (``done`` 0), then after each output it writes."""

    set_id: str
    done: int
    total: int


ProgressSink = Callable[[SetProgress], None]
# What a worker runs for one set (pipeline.build.render_set): picklable, top level.
Render = Callable[["SetPlan", EncoderSlots | None, ProgressSink | None], "SetResult"]


def run_sets(
    plans: Sequence[SetPlan],
    render: Render,
    *,
    cfg: Config,
    jobs: int | None = None,
    lock_fd: int | None = None,
    on_progress: ProgressSink | None = None,
) -> Generator[SetResult, None, None]:
    """``render`` each plan on a worker, yielding results as sets finish.

    ``lock_fd`` is the output lock's descriptor: each worker holds a copy, so the
    lock outlives a killed main process until its last worker is gone (see
    :mod:`pipeline.lifeline`). Closing the generator (an interrupt) stops the
    workers, and their encoders, before it returns."""
    if not plans:
        return
    workers = max(1, min(jobs or cfg.build.jobs or _default_workers(plans), len(plans)))
    with (
        lifeline.line(lock_fd, _start_method_name(cfg)) as line,
        _encoder_slots(cfg, workers) as slots,
        _progress_channel(cfg, workers, on_progress, line) as sink,
    ):
        yield from _execute(list(plans), render, cfg, workers, line, slots, sink)


# What one worker holds, besides its frames: the interpreter and libraries, and
# the ffmpeg it runs (a VP9 encoder with alpha: about 170 MB). A whole --jobs 1
# build of 1000x1000 sets peaks at 281 MiB (bench/build.py, main process
# included).
_WORKER_BASE = 250 << 20


def _default_workers(plans: Sequence[SetPlan]) -> int:
    """One worker per core, but no more than the available memory can hold.

    A worker needs about ``_WORKER_BASE`` plus, for its set's frames of W x H
    pixels, 12 bytes a pixel while one frame is decoded, normalised to RGBA and
    measured, plus 16 bytes a pixel for the cropped frames it keeps (16 RGBA
    frames, estimated at a quarter of the canvas each: renders leave most of
    it empty), plus, when they are small enough to be kept
    (``KEEP_PROBED_BYTES``), the full frames its probe decoded. The largest set
    decides; the frame size is read from the first frame's header."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = available_memory()
    if available is None or not plans:
        return cores or 1
    sizes = [(_frame_pixels(plan.source), len(plan.source.frames)) for plan in plans]
    pixels = max(px for px, _ in sizes)
    probed = max(4 * px * count for px, count in sizes)
    need = _WORKER_BASE + 28 * pixels + (probed if probed <= KEEP_PROBED_BYTES else 0)
    return max(1, min(cores or 1, available // need))


def _frame_pixels(source: SourceSet) -> int:
    """Width x height of the set's first frame from its header (0 if unreadable:
    the worker will report why)."""
    path = source.frames[min(source.frames)] if source.frames else None
    with contextlib.suppress(Exception):
        if path is not None and stat.S_ISREG(path.stat().st_mode):
            with Image.open(path) as image:
                return int(image.width) * int(image.height)
    return 0


def _execute(
    plans: list[SetPlan],
    render: Render,
    cfg: Config,
    workers: int,
    line: lifeline.Line,
    slots: EncoderSlots | None,
    sink: ProgressSink | None,
) -> Generator[SetResult, None, None]:
    scheduler = cfg.build.scheduler
    if scheduler is not None and not plans[0].options.dry_run:  # a dry run only probes
        from pipeline import distributed  # Dask is an optional extra

        yield from distributed.execute(plans, scheduler)
        return
    if workers == 1:
        for plan in plans:
            yield render(plan, slots, sink)
        return
    context = multiprocessing.get_context(_start_method(cfg))
    with cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(line.lifeline,),
    ) as pool:
        futures = [pool.submit(render, plan, slots, sink) for plan in plans]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        except BaseException:
            for pending in futures:
                pending.cancel()
            line.cut()  # the workers kill themselves (and their encoders) now
            raise


@contextlib.contextmanager
def _encoder_slots(cfg: Config, workers: int) -> Iterator[EncoderSlots | None]:
    """The build's encoder slots (``build.encoders``, by default half the workers),
    or ``None`` when every worker may run its encoder at once anyway."""
    count = cfg.build.encoders or max(1, workers // 2)
    if count >= workers:
        yield None
        return
    with encoder_slots(count) as slots:
        yield slots


@contextlib.contextmanager
def _progress_channel(
    cfg: Config, workers: int, on_progress: ProgressSink | None, line: lifeline.Line
) -> Iterator[ProgressSink | None]:
    """A sink workers can report to, delivering to ``on_progress`` here: the hook
    itself when sets run in this process, else a managed queue's ``put`` (picklable,
    unlike a plain queue) drained by a thread of this process. The manager's
    process holds the lifeline as the workers do, so it dies with the build."""
    if on_progress is None or workers == 1:
        yield on_progress
        return
    manager = SyncManager(ctx=multiprocessing.get_context(_start_method(cfg)))
    manager.start(_helper_init, (line.lifeline,))
    with manager:
        events: queue.Queue[SetProgress | None] = manager.Queue()

        def deliver() -> None:
            # the manager gone (a signal to the process group) ends the progress only
            with contextlib.suppress(OSError, EOFError):
                while (event := events.get()) is not None:
                    on_progress(event)

        reader = threading.Thread(target=deliver, name="muscle-assets-progress", daemon=True)
        reader.start()
        try:
            yield events.put
        finally:
            with contextlib.suppress(OSError, EOFError):  # must not hide what is raised
                events.put(None)
            reader.join()


def _start_method_name(cfg: Config) -> str:
    """The start method the build's processes will use, by name."""
    return multiprocessing.get_context(_start_method(cfg)).get_start_method()


def _start_method(cfg: Config) -> str | None:
    """``forkserver`` unless configured: oxipng's thread pool does not survive a
    ``fork``, so forking a process that has already encoded a PNG in-process (a
    library caller building twice) would hang its workers. ``fork`` is safe from a
    fresh process such as the CLI, and makes the same bytes."""
    if cfg.build.start_method is not None:
        return cfg.build.start_method
    available = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in available else None


def _helper_init(line: lifeline.Lifeline) -> None:
    """A helper process of the build (the progress queue's manager) dies with it."""
    line.hold()
    lifeline.worker_signals()


def _worker_init(line: lifeline.Lifeline) -> None:
    """Tie the worker to the main process as every helper process is, then tune
    its allocator (:func:`pipeline.memory.tune_memory`)."""
    _helper_init(line)
    tune_memory()


__all__ = ["ProgressSink", "SetProgress", "run_sets"]
