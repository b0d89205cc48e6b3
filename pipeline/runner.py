"""Scheduling: which sets need work, running them (in parallel), and the report.

A set is planned in the main process from the manifest alone (no decoding); only
sets with stale outputs, or frames never probed, go to a worker. Workers get data
(paths, the frozen config, a manifest slice), never shared state, and return data,
so behaviour is the same under ``fork`` and ``spawn``. A worker decodes each frame
of its set once and derives every output from that decode (a frame never probed
before is read twice: once for the crop box, once for its pixels); it holds at
most one full-size frame at a time, and at most ``jobs`` sets are in memory.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import queue
import stat
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from pipeline import check as checks
from pipeline import cleanup, lifeline
from pipeline.config import Config
from pipeline.crop import shared_crop
from pipeline.errors import FrameError, PipelineError, UnknownSetError
from pipeline.frames import Box, FrameInfo, decode, read_pixels
from pipeline.lock import EncoderSlots, encoder_slots
from pipeline.manifest import Manifest, fingerprint
from pipeline.outputs import OutputSpec, Written, resolve_inside
from pipeline.sets import Defect, SourceSet, discover
from pipeline.stages import SetPixels, Stage, all_stages

Status = Literal["built", "up-to-date", "stale", "failed"]


@dataclass(frozen=True)
class SetProgress:
    """How far a worker is through one set: sent once it has planned the set's
    stale outputs (``done`` 0), then after each output it writes."""

    set_id: str
    done: int
    total: int


ProgressSink = Callable[[SetProgress], None]


@dataclass(frozen=True)
class SetJob:
    """Everything a worker needs for one set: plain, picklable data."""

    source: SourceSet
    cfg: Config
    stages: tuple[str, ...]
    force: bool
    dry_run: bool
    slice: Manifest
    # Shared with the other workers of the build: a bound on ffmpeg processes.
    encoders: EncoderSlots | None = None
    # Outputs that differ from the plan only by encoder versions count as current.
    accept_versions: bool = False
    # Where to report progress output by output (picklable: a queue's ``put``).
    progress: ProgressSink | None = None


@dataclass
class SetResult:
    """What happened to one set; ``written`` lists only files written this run."""

    set_id: str
    status: Status
    defects: list[Defect] = field(default_factory=list)
    error: str | None = None
    detail: str | None = None  # traceback, shown with --verbose
    written: list[Written] = field(default_factory=list)
    stale: list[OutputSpec] = field(default_factory=list)
    outputs: list[Written] = field(default_factory=list)  # every current output
    slice: Manifest = field(default_factory=Manifest)
    seconds: float = 0.0
    # Seconds per step ("hash", "probe", "decode", "crop", then one per stage), for reports
    # and the benchmark.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # The same stage time split by output kind ("variants/png", "variants/webp"...).
    kind_seconds: dict[str, float] = field(default_factory=dict)
    # Recorded outputs of this set that the plan no longer makes (``--prune``).
    unplanned: list[str] = field(default_factory=list)
    # Stale outputs that differ only by encoder versions: relpath ->
    # [(library, version here, version recorded)].
    other_versions: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class BuildReport:
    results: list[SetResult]
    seconds: float
    removed: list[str] = field(default_factory=list)  # pruned outputs (relpaths)

    @property
    def failed(self) -> list[SetResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def files_written(self) -> int:
        return sum(len(r.written) for r in self.results)

    @property
    def bytes_written(self) -> int:
        return sum(w.bytes for r in self.results for w in r.written)


ProgressHook = Callable[[SetResult], None]


def find_sets(cfg: Config, set_ids: Sequence[str] = ()) -> list[SourceSet]:
    """The sets named (all when none are), raising for ids not in the raw folder."""
    try:
        found = discover(cfg.paths.raw, cfg.frames)
    except OSError as exc:
        raise PipelineError(str(exc)) from exc
    if not set_ids:
        return found
    by_id = {s.set_id: s for s in found}
    unknown = [s for s in set_ids if s not in by_id]
    if unknown:
        raise UnknownSetError(unknown, cfg.paths.raw, list(by_id))
    return [by_id[s] for s in dict.fromkeys(set_ids)]


def run(
    cfg: Config,
    set_ids: Sequence[str] = (),
    *,
    stages: Sequence[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    jobs: int | None = None,
    prune: bool = False,
    accept_versions: bool = False,
    on_result: ProgressHook | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: ProgressSink | None = None,
    lock_fd: int | None = None,
) -> BuildReport:
    """Build (or with ``dry_run``, plan) the named sets; the manifest is saved as
    sets finish (at most every 2 s, and always on the way out, interrupted or
    not), so an interrupted build keeps what it completed.

    With ``prune``, outputs recorded for sets no longer in the raw folder, and
    outputs of the built sets that the plan no longer makes, are removed. With
    ``accept_versions``, an output built with other encoder versions but otherwise
    current is left as it is.

    ``on_plan`` gets the number of sets that need a worker, ``on_progress`` each
    :class:`SetProgress` of those sets (in this process, from any worker).

    ``lock_fd`` is the output lock's descriptor: each worker holds a copy, so the
    lock outlives a killed main process until its last worker is gone (see
    :mod:`pipeline.lifeline`)."""
    started = time.perf_counter()
    chosen = tuple(stages) if stages is not None else tuple(all_stages())
    unknown_stages = [s for s in chosen if s not in all_stages()]
    if unknown_stages:
        raise PipelineError(f"unknown stage(s): {', '.join(unknown_stages)}")
    sources = find_sets(cfg, set_ids)
    out_root = cfg.paths.output_root
    manifest = Manifest.load(out_root)
    results: list[SetResult] = []
    pending: list[SetJob] = []

    def finish(result: SetResult) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    by_set = manifest.outputs_by_set()
    for source in sources:
        ledger = _slice(manifest, cfg, source, by_set)
        job = SetJob(source, cfg, chosen, force, dry_run, ledger, accept_versions=accept_versions)
        quick = process_set(job, may_decode=False)
        if quick is None:
            pending.append(job)
        else:
            if not dry_run:
                manifest.merge(quick.slice)
            finish(quick)
    if on_plan:
        on_plan(len(pending))
    workers = max(1, min(jobs or cfg.build.jobs or _default_workers(pending), len(pending)))
    last_save = time.monotonic()
    try:
        with (
            lifeline.line(lock_fd, _start_method_name(cfg)) as line,
            _encoder_slots(cfg, workers) as slots,
            _progress_channel(cfg, workers, on_progress if pending else None, line) as sink,
        ):
            pending = [dataclasses.replace(job, encoders=slots, progress=sink) for job in pending]
            # closing(): on an interrupt the pool is shut down (and its workers
            # gone) before the manifest is saved and the lock is released
            with contextlib.closing(_execute(pending, workers, line)) as done:
                for result in done:
                    if not dry_run:
                        manifest.merge(result.slice)
                        if time.monotonic() - last_save > 2.0:
                            _save(manifest, out_root)
                            last_save = time.monotonic()
                    finish(result)
    finally:
        if not dry_run:
            _save(manifest, out_root)
    removed = _prune(manifest, cfg, results, dry_run) if prune else []
    order = {s.set_id: i for i, s in enumerate(sources)}
    results.sort(key=lambda r: order[r.set_id])
    return BuildReport(results, time.perf_counter() - started, removed)


# What one worker holds, besides its frames: the interpreter and libraries, and
# the ffmpeg it runs (a VP9 encoder with alpha: about 170 MB). A whole --jobs 1
# build of 1000x1000 sets peaks at 281 MiB (bench/build.py, main process
# included).
_WORKER_BASE = 250 << 20


def _default_workers(pending: Sequence[SetJob]) -> int:
    """One worker per core, but no more than the available memory can hold.

    A worker needs about ``_WORKER_BASE`` plus, for its set's frames of W x H
    pixels, 12 bytes a pixel while one frame is decoded, normalised to RGBA and
    measured, plus 16 bytes a pixel for the cropped frames it keeps (16 RGBA
    frames, estimated at a quarter of the canvas each: renders leave most of
    it empty). The largest set decides; the frame size is read from the first
    frame's header."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = _available_memory()
    if available is None or not pending:
        return cores or 1
    pixels = max(_frame_pixels(job.source) for job in pending)
    need = _WORKER_BASE + 28 * pixels
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


def _available_memory() -> int | None:
    """Bytes the kernel could give without swapping (``MemAvailable``), or ``None``
    where that cannot be read."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _prune(manifest: Manifest, cfg: Config, results: list[SetResult], dry_run: bool) -> list[str]:
    """Outputs of vanished sets, and unplanned outputs of sets that planned cleanly."""
    everything = find_sets(cfg)
    existing = {s.set_id for s in everything}
    doomed = [r for result in results if result.ok for r in result.unplanned]
    doomed += [
        relpath
        for relpath, entry in manifest.outputs.items()
        if str(entry.get("set")) not in existing
    ]
    out_root = cfg.paths.output_root
    removed = cleanup.prune(manifest, out_root, doomed, dry_run=dry_run)
    if not dry_run:
        keys = [_source_key(cfg, p) for s in everything for p in s.frames.values()]
        manifest.forget_sources_except(keys)
        _save(manifest, out_root)
    return removed


def _save(manifest: Manifest, out_root: Path) -> None:
    """Write the manifest if anything changed (a no-op build leaves it alone)."""
    if not manifest.dirty:
        return
    out_root.mkdir(parents=True, exist_ok=True)
    manifest.save(out_root)


def _slice(
    manifest: Manifest,
    cfg: Config,
    source: SourceSet,
    by_set: dict[str, dict[str, dict[str, Any]]],
) -> Manifest:
    keys = (_source_key(cfg, p) for p in source.frames.values())
    return manifest.slice_for(source.set_id, keys, by_set)


def _probe_key(cfg: Config) -> str:
    """What a frame probe depends on besides the file's bytes."""
    f = cfg.frames
    return fingerprint([f.background, f.background_tolerance, f.max_pixels])[:16]


def _source_key(cfg: Config, path: Path) -> str:
    # String prefix, not Path.relative_to: this runs for every frame of every set
    # on a no-op build, where pathlib's parsing was a fifth of the time.
    text, prefix = str(path), str(cfg.paths.raw) + os.sep
    return text[len(prefix) :] if text.startswith(prefix) else text


def _execute(
    jobs: list[SetJob], workers: int, line: lifeline.Line
) -> Generator[SetResult, None, None]:
    if not jobs:
        return
    scheduler = jobs[0].cfg.build.scheduler
    if scheduler is not None and not jobs[0].dry_run:  # a dry run only probes: kept here
        from pipeline import distributed  # Dask is an optional extra

        yield from distributed.execute(jobs, scheduler)
        return
    if workers == 1:
        for job in jobs:
            yield _run_job(job)
        return
    context = multiprocessing.get_context(_start_method(jobs[0].cfg))
    with cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(line.lifeline,),
    ) as pool:
        futures = {pool.submit(_run_job, job): job for job in jobs}
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
    its allocator (:func:`tune_memory`)."""
    _helper_init(line)
    tune_memory()


def tune_memory() -> None:
    """Fix glibc's mmap threshold (at 9 MiB) in a worker. By default glibc raises
    it, and its heap trim threshold with it (to twice as much), after the first
    large buffer is freed; from then on freed frames stay in the worker's heap and
    it sits at its high-water mark, about 25 MB more each, while it feeds ffmpeg.
    Once set, the trim threshold stays at 128 KiB, so memory freed at the top of
    the heap goes back to the OS. 9 MiB keeps the quantiser's 8 MB buffers in
    the heap: a lower threshold maps them anew each time, and the page faults
    cost about 7 % of a build (measured). Elsewhere than glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 9 << 20)


_M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>


def _give_back_memory() -> None:
    """Return free heap memory to the OS (glibc's ``malloc_trim``; elsewhere a
    no-op): after a set's full frames are cropped, and after each animation,
    whatever their size."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _run_job(job: SetJob) -> SetResult:
    _give_back_memory()  # what the worker's previous set left in the heap
    result = process_set(job, may_decode=True)
    assert result is not None
    return result


def process_set(job: SetJob, *, may_decode: bool) -> SetResult | None:
    """Plan one set and render what is stale. With ``may_decode`` False, return
    ``None`` as soon as pixels would be needed, so the caller can hand the job to
    a worker; everything cheaper (hashing, planning) is done here either way."""
    started = time.perf_counter()
    source, cfg, ledger = job.source, job.cfg, job.slice
    set_id = source.set_id
    timer = _StepTimer()
    try:
        if source.defects:
            return SetResult(set_id, "failed", list(source.defects), seconds=_since(started))
        with timer("hash"):
            shas, unreadable = _hash_sources(source, cfg, ledger)
        if unreadable:
            return SetResult(set_id, "failed", unreadable, slice=ledger, seconds=_since(started))
        probe = _probe_key(cfg)
        infos: dict[int, FrameInfo] = {}
        defects: list[Defect] = []
        for k, path in sorted(source.frames.items()):
            info = ledger.frame_info(shas[k], probe)
            if info is None:
                if not may_decode:
                    return None
                try:
                    # A first pass for the crop box: the frame is measured and
                    # dropped (decoded again below), so a worker never holds more
                    # than one full-size frame. Probes are cached by content hash,
                    # so only a new or changed frame is read twice.
                    with timer("probe"):
                        info = decode(path, k, cfg.frames).info
                except FrameError as exc:
                    defects.append(Defect(path, exc.problem))
                    continue
                ledger.record_frame_info(shas[k], probe, info)
            infos[k] = info
        defects.extend(checks.set_defects(infos, source.frames))
        if defects:
            return SetResult(
                set_id,
                "failed",
                defects,
                slice=ledger,
                seconds=_since(started),
                stage_seconds=timer.seconds,
            )
        first = infos[min(infos)]
        boxes = [i.bbox for i in infos.values() if i.bbox is not None]
        crop = shared_crop(boxes, first.width, first.height, cfg.crop)
        size = (crop[2] - crop[0], crop[3] - crop[1])
        out_root = cfg.paths.output_root
        stages = all_stages()
        planned: list[tuple[OutputSpec, str]] = []
        for name in job.stages:
            stage = stages[name]
            for spec in stage.plan(set_id, sorted(source.frames), size, cfg):
                fp = _output_fingerprint(spec, stage.VERSION, shas, crop, first.has_alpha)
                planned.append((spec, fp))
        unplanned = _unplanned(ledger, set_id, planned, job.stages, stages)
        stale: list[tuple[OutputSpec, str]] = []
        other_versions: dict[str, list[tuple[str, Any, Any]]] = {}
        for spec, fp in planned:
            relpath, where = str(spec.relpath), _planned_path(out_root, spec)
            if not job.force and ledger.output_current(relpath, fp, where):
                ledger.note_versions(relpath, spec.versions)
                continue
            differ = [] if job.force else _other_versions(ledger, spec, where, shas, crop, first)
            if differ and job.accept_versions:
                continue
            if differ:
                other_versions[relpath] = differ
            stale.append((spec, fp))
        if job.dry_run or not stale:
            status: Status = "stale" if stale else "up-to-date"
            current = [w for spec, _ in planned if (w := ledger.written(str(spec.relpath)))]
            return SetResult(
                set_id,
                status,
                stale=[spec for spec, _ in stale],
                outputs=current,
                slice=ledger,
                seconds=_since(started),
                stage_seconds=timer.seconds,
                unplanned=unplanned,
                other_versions=other_versions,
            )
        if not may_decode:
            return None
        report = job.progress or _ignore
        report(SetProgress(set_id, 0, len(stale)))
        needed = sorted({k for spec, _ in stale for k in spec.frames})
        cropped: dict[int, Image.Image] = {}
        for k in needed:
            with timer("decode"):
                image, _ = read_pixels(source.frames[k], cfg.frames)  # probed above
            with timer("crop"):
                cropped[k] = image.crop(crop)
            del image  # freed before the next decode: one full-size frame at a time
            _give_back_memory()
        pixels = SetPixels(set_id, first.has_alpha, cropped)
        written: list[Written] = []
        kinds = _StepTimer()
        for spec, fp, slot in _in_turn(_frame_by_frame(stale), stages, job.encoders, timer):
            with slot:
                with timer(spec.stage), kinds(f"{spec.stage}/{spec.kind}"):
                    out = stages[spec.stage].render(spec, pixels, cfg, out_root)
                if len(spec.frames) > 1:  # an animation's working buffers are free now
                    _give_back_memory()
            dest = resolve_inside(out_root, spec.relpath)
            ledger.record_output(set_id, fp, dest, out, spec.versions)
            written.append(out)
            report(SetProgress(set_id, len(written), len(stale)))
        current = [w for spec, _ in planned if (w := ledger.written(str(spec.relpath)))]
        return SetResult(
            set_id,
            "built",
            written=written,
            outputs=current,
            slice=ledger,
            seconds=_since(started),
            stage_seconds=timer.seconds,
            kind_seconds=kinds.seconds,
            unplanned=unplanned,
        )
    except FrameError as exc:
        return SetResult(
            set_id,
            "failed",
            [Defect(Path(exc.path), exc.problem)],
            slice=ledger,
            seconds=_since(started),
        )
    except PipelineError as exc:
        return SetResult(set_id, "failed", error=str(exc), slice=ledger, seconds=_since(started))
    except Exception as exc:  # one broken set must not stop the others
        return SetResult(
            set_id,
            "failed",
            error=f"{set_id}: unexpected error: {type(exc).__name__}: {exc}",
            detail=traceback.format_exc(),
            slice=ledger,
            seconds=_since(started),
        )


def _hash_sources(
    source: SourceSet, cfg: Config, ledger: Manifest
) -> tuple[dict[int, str], list[Defect]]:
    """Content hashes of a set's frames; a frame that cannot be read is a defect of
    that file (permissions, a folder with a frame's name), not a crash of the set."""
    shas: dict[int, str] = {}
    defects: list[Defect] = []
    for k, path in sorted(source.frames.items()):
        try:
            shas[k] = ledger.source_sha(_source_key(cfg, path), path)
        except IsADirectoryError:
            defects.append(Defect(path, "not a file (a folder has a frame's name)"))
        except PermissionError:
            defects.append(Defect(path, "cannot read file: permission denied"))
        except OSError as exc:
            defects.append(Defect(path, f"cannot read file: {exc.strerror or exc}"))
    return shas, defects


class _StepTimer:
    """Adds up wall time per named step of one set."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


def _unplanned(
    ledger: Manifest,
    set_id: str,
    planned: list[tuple[OutputSpec, str]],
    chosen: Sequence[str],
    registered: Mapping[str, Any],
) -> list[str]:
    """Recorded outputs of the set that no chosen stage plans any more. When only
    some stages run, outputs of the others are not theirs to judge."""
    making = {str(spec.relpath) for spec, _ in planned}
    everything = set(chosen) >= set(registered)
    return sorted(
        relpath
        for relpath, entry in ledger.outputs_of(set_id).items()
        if relpath not in making and (everything or entry.get("written", {}).get("stage") in chosen)
    )


def _planned_path(out_root: Path, spec: OutputSpec) -> str:
    """Where a planned output is, for a read-only stat. Plans are built from
    validated config (no ``..``, no absolute parts), and every write still goes
    through :func:`resolve_inside`; resolving symlinks twice per output here made
    two thirds of a no-op build's time."""
    return os.path.join(out_root, spec.relpath)  # noqa: PTH118 - see above


def _in_turn(
    todo: list[tuple[OutputSpec, str]],
    stages: Mapping[str, Stage],
    slots: EncoderSlots | None,
    timer: _StepTimer,
) -> Iterator[tuple[OutputSpec, str, contextlib.AbstractContextManager[object]]]:
    """The outputs to render, each with what to hold while rendering it (an encoder
    slot for a video). A video goes as soon as a slot is free; while none is, the
    worker makes its other outputs, and waits only when videos are all that is left."""
    pending = list(todo)

    def is_video(spec: OutputSpec) -> bool:
        return slots is not None and spec.kind in stages[spec.stage].ENCODER_KINDS

    while pending:
        videos = [i for i, (spec, _) in enumerate(pending) if is_video(spec)]
        slot = None
        if videos and slots is not None:
            if len(videos) < len(pending):
                slot = slots.take(wait=False)
            else:
                with timer("encoder-wait"):
                    slot = slots.take(wait=True)
        if slot is not None:
            spec, fp = pending.pop(videos[0])
            yield spec, fp, slot
        else:
            first = next(i for i, (spec, _) in enumerate(pending) if not is_video(spec))
            spec, fp = pending.pop(first)
            yield spec, fp, contextlib.nullcontext()


def _frame_by_frame(stale: list[tuple[OutputSpec, str]]) -> list[tuple[OutputSpec, str]]:
    """Every single-frame output of a frame together (stages in order), then the
    outputs made from several frames: outputs of one frame share its resizes
    (:meth:`SetPixels.resized`), which are kept for one frame at a time."""
    return sorted(
        stale, key=lambda item: (1, 0) if len(item[0].frames) != 1 else (0, item[0].frames[0])
    )


def _other_versions(
    ledger: Manifest, spec: OutputSpec, path: str, shas: dict[int, str], crop: Box, first: FrameInfo
) -> list[tuple[str, Any, Any]]:
    """``[(library, version here, version recorded)]`` when the recorded output would
    be current but for its encoder versions; ``[]`` when it is stale for any other
    reason (sources, config, a changed or missing file)."""
    relpath = str(spec.relpath)
    recorded = ledger.recorded_versions(relpath)
    if not recorded or set(recorded) != {name for name, _ in spec.versions}:
        return []
    theirs = tuple((name, recorded[name]) for name, _ in spec.versions)
    version = all_stages()[spec.stage].VERSION
    fp = _output_fingerprint(spec, version, shas, crop, first.has_alpha, versions=theirs)
    if theirs == spec.versions or not ledger.output_current(relpath, fp, path):
        return []
    return [(name, here, recorded[name]) for name, here in spec.versions if recorded[name] != here]


def _output_fingerprint(
    spec: OutputSpec,
    version: int,
    shas: dict[int, str],
    crop: Box,
    has_alpha: bool,
    versions: tuple[tuple[str, Any], ...] | None = None,
) -> str:
    """The output's fingerprint; ``versions`` replaces the plan's encoder versions
    (to ask whether a recorded output differs by those alone). The versions follow
    the settings, as when they were one list, so earlier manifests stay current."""
    versions = spec.versions if versions is None else versions
    return fingerprint(
        {
            "stage": spec.stage,
            "version": version,
            "kind": spec.kind,
            "relpath": str(spec.relpath),
            "size": [spec.width, spec.height],
            "params": [[k, v] for k, v in (*spec.params, *versions)],
            "sources": [shas[k] for k in spec.frames],
            "crop": list(crop),
            "has_alpha": has_alpha,
        }
    )


def _ignore(_: SetProgress) -> None:
    pass


def _since(started: float) -> float:
    return time.perf_counter() - started


__all__ = [
    "BuildReport",
    "SetJob",
    "SetProgress",
    "SetResult",
    "find_sets",
    "process_set",
    "run",
]
