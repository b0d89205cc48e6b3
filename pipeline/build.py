"""The build, top to bottom: discover, plan, render, record, pages.

:func:`build` is the library's entry point; the CLI is a thin layer over it.
Each set is planned once, here, from the manifest (:mod:`pipeline.plan`); sets
whose plan needs pixels go to :func:`render_set`, the only thing a worker runs
(:mod:`pipeline.runner` schedules them, locally or on a Dask cluster). What the
workers made is recorded in the manifest as sets finish, and the pages step
writes each set's front matter from its plan.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image

from pipeline import runner
from pipeline.config import Config
from pipeline.errors import PipelineError, UnknownSetError
from pipeline.memory import give_back_memory
from pipeline.plan import (
    BuildOptions,
    SetPlan,
    StepTimer,
    VersionDiff,
    failed,
    plan_set,
    probe_set,
    set_manifest,
    source_key,
)
from pipeline.runner import ProgressSink, SetProgress
from pipeline.site.pages import PageResult, update_pages
from pipeline.sources.frames import read_pixels
from pipeline.sources.sets import Defect, SourceSet, discover
from pipeline.stages import SetPixels, Stage, all_stages
from pipeline.state import cleanup
from pipeline.state.lock import EncoderSlots
from pipeline.state.manifest import Manifest
from pipeline.state.outputs import Output, resolve_inside

Status = Literal["built", "up-to-date", "stale", "failed"]


@dataclass
class SetResult:
    """What happened to one set; ``written`` lists only files written this run."""

    set_id: str
    status: Status
    plan: SetPlan
    defects: list[Defect] = field(default_factory=list)
    error: str | None = None
    detail: str | None = None  # traceback, shown with --verbose
    written: list[Output] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)  # every current output, as recorded
    seconds: float = 0.0
    # Seconds per step ("hash", "probe", "decode", "crop", then one per stage), for reports
    # and the benchmark.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # The same stage time split by output kind ("variants/png", "variants/webp"...).
    kind_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def stale(self) -> list[Output]:
        """Outputs to (re)make; none for a failed set (its plan may list some)."""
        return list(self.plan.stale) if self.ok else []

    @property
    def unplanned(self) -> list[str]:
        return list(self.plan.unplanned)

    @property
    def other_versions(self) -> Mapping[str, list[VersionDiff]]:
        return self.plan.other_versions

    @property
    def manifest(self) -> Manifest:
        return self.plan.manifest


@dataclass
class BuildReport:
    results: list[SetResult]
    seconds: float
    removed: list[str] = field(default_factory=list)  # pruned outputs (relpaths)
    pages: list[PageResult] | None = None  # None: the pages step did not run

    @property
    def failed(self) -> list[SetResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and all(p.status != "failed" for p in self.pages or ())

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def files_written(self) -> int:
        return sum(len(r.written) for r in self.results)

    @property
    def bytes_written(self) -> int:
        return sum(w.bytes for r in self.results for w in r.written)


ResultHook = Callable[[SetResult], None]


def build(
    cfg: Config,
    set_ids: Sequence[str] = (),
    *,
    stages: Sequence[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    jobs: int | None = None,
    prune: bool = False,
    accept_versions: bool = False,
    pages: bool = False,
    on_result: ResultHook | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: ProgressSink | None = None,
    lock_fd: int | None = None,
) -> BuildReport:
    """Build (or with ``dry_run``, plan) the named sets, then, with ``pages``, write
    their pages. The manifest is saved as sets finish (at most every 2 s, and
    always on the way out, interrupted or not), so an interrupted build keeps what
    it completed.

    With ``prune``, outputs recorded for sets no longer in the raw folder, and
    outputs of the built sets that the plan no longer makes, are removed. With
    ``accept_versions``, an output built with other encoder versions but otherwise
    current is left as it is. ``on_plan`` gets the number of sets that need a
    worker, ``on_progress`` each :class:`SetProgress` of those sets (in this
    process, from any worker), ``on_result`` each set's result as it finishes.
    ``lock_fd`` is the output lock's descriptor (see :mod:`pipeline.lifeline`)."""
    started = time.perf_counter()
    options = BuildOptions(_chosen(stages), force, dry_run, accept_versions)
    sources = find_sets(cfg, set_ids)
    manifest = Manifest.load(cfg.paths.output_root)
    plans = plan_sets(cfg, sources, manifest, options)
    results = render_and_record(
        cfg, plans, manifest, dry_run, jobs, on_result, on_plan, on_progress, lock_fd
    )
    removed = _prune(manifest, cfg, results, dry_run) if prune else []
    order = {s.set_id: i for i, s in enumerate(sources)}
    results.sort(key=lambda r: order[r.set_id])
    report = BuildReport(results, time.perf_counter() - started, removed)
    if pages:
        report.pages = update_pages(cfg, [r.plan for r in results if r.ok], dry_run=dry_run)
    return report


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


def plan_sets(
    cfg: Config, sources: Sequence[SourceSet], manifest: Manifest, options: BuildOptions
) -> list[SetPlan]:
    """Every set's plan, each with its part of the manifest."""
    by_set = manifest.outputs_by_set()
    return [
        plan_set(source, cfg, set_manifest(manifest, cfg, source, by_set), options)
        for source in sources
    ]


def render_and_record(
    cfg: Config,
    plans: Sequence[SetPlan],
    manifest: Manifest,
    dry_run: bool,
    jobs: int | None,
    on_result: ResultHook | None,
    on_plan: Callable[[int], None] | None,
    on_progress: ProgressSink | None,
    lock_fd: int | None,
) -> list[SetResult]:
    """Render the plans that need pixels (on workers), and record every set's part
    of the manifest as it finishes (not in a dry run)."""
    results: list[SetResult] = []

    def record(result: SetResult) -> None:
        if not dry_run:
            manifest.merge(result.manifest)
        results.append(result)
        if on_result:
            on_result(result)

    for plan in plans:
        if not plan.needs_worker:
            record(finished(plan))
    pending = [plan for plan in plans if plan.needs_worker]
    if on_plan:
        on_plan(len(pending))
    last_save = time.monotonic()
    try:
        work = runner.run_sets(
            pending, render_set, cfg=cfg, jobs=jobs, lock_fd=lock_fd, on_progress=on_progress
        )
        # closing(): on an interrupt the workers are gone before the manifest is
        # saved and the lock is released
        with contextlib.closing(work) as done:
            for result in done:
                record(result)
                if not dry_run and time.monotonic() - last_save > 2.0:
                    _save(manifest, cfg.paths.output_root)
                    last_save = time.monotonic()
    finally:
        if not dry_run:
            _save(manifest, cfg.paths.output_root)
    return results


def render_set(
    plan: SetPlan, encoders: EncoderSlots | None = None, progress: ProgressSink | None = None
) -> SetResult:
    """The only thing a worker runs: probe what the plan could not, then decode the
    frames the stale outputs need (one full-size frame at a time, cropped at once)
    and render those outputs from their settings, recording each in the plan's
    manifest. ``encoders`` bounds the ffmpeg processes of the build; ``progress``
    hears of each output written."""
    started = time.perf_counter()
    give_back_memory()  # what the worker's previous set left in the heap
    probed: dict[int, Image.Image] = {}  # frames the probe decoded, when they are small
    try:
        plan = probe_set(plan, keep=None if plan.options.dry_run else probed)
        if not plan.ok or plan.options.dry_run or not plan.stale:
            return finished(plan, started)
        return _render(plan, encoders, progress or _ignore, started, probed)
    except Exception as exc:  # one broken set must not stop the others
        return finished(failed(plan, exc), started)
    finally:
        probed.clear()


def finished(plan: SetPlan, started: float | None = None) -> SetResult:
    """The result of a set with nothing to render (failed, stale in a dry run, or
    up to date)."""
    seconds = _since(started) if started is not None else sum(plan.seconds.values())
    timings = dict(plan.seconds)
    if not plan.ok:
        return SetResult(
            plan.set_id,
            "failed",
            plan,
            list(plan.defects),
            plan.error,
            plan.detail,
            seconds=seconds,
            stage_seconds=timings,
        )
    status: Status = "stale" if plan.stale else "up-to-date"
    return SetResult(
        plan.set_id, status, plan, outputs=_recorded(plan), seconds=seconds, stage_seconds=timings
    )


def _render(
    plan: SetPlan,
    encoders: EncoderSlots | None,
    report: ProgressSink,
    started: float,
    probed: dict[int, Image.Image],
) -> SetResult:
    source, cfg, crop = plan.source, plan.cfg, plan.crop
    assert crop is not None
    timer = StepTimer(plan.seconds)
    report(SetProgress(plan.set_id, 0, len(plan.stale)))
    needed = sorted({k for o in plan.stale for k in o.frames})
    cropped: dict[int, Image.Image] = {}
    for k in needed:
        image = probed.pop(k, None)  # decoded by this worker's probe
        if image is None:
            with timer("decode"):
                image, _ = read_pixels(source.frames[k], cfg.frames)  # probed when planned
        with timer("crop"):
            cropped[k] = image.crop(crop)
        del image  # freed before the next: one full-size frame at a time, unless kept
        give_back_memory()
    probed.clear()  # frames no stale output needs
    pixels = SetPixels(plan.set_id, plan.has_alpha, cropped)
    stages = all_stages()
    out_root = cfg.paths.output_root
    timeout = cfg.build.encoder_timeout
    written: list[Output] = []
    kinds = StepTimer()
    for output, slot in in_turn(frame_by_frame(plan.stale), stages, encoders, timer):
        with slot:
            with timer(output.stage), kinds(f"{output.stage}/{output.kind}"):
                done = stages[output.stage].render(output, pixels, out_root, timeout)
            if len(output.frames) > 1:  # an animation's working buffers are free now
                give_back_memory()
        dest = resolve_inside(out_root, output.relpath)
        plan.manifest.record_output(plan.set_id, done.fingerprint, dest, done, done.versions)
        written.append(done)
        report(SetProgress(plan.set_id, len(written), len(plan.stale)))
    return SetResult(
        plan.set_id,
        "built",
        plan,
        written=written,
        outputs=_recorded(plan),
        seconds=_since(started),
        stage_seconds=timer.seconds,
        kind_seconds=kinds.seconds,
    )


def _recorded(plan: SetPlan) -> list[Output]:
    """The manifest's record of each output of the chosen stages that has one."""
    return [w for o in plan.chosen() if (w := plan.manifest.written(str(o.relpath)))]


def in_turn(
    todo: list[Output],
    stages: Mapping[str, Stage],
    slots: EncoderSlots | None,
    timer: StepTimer,
) -> Iterator[tuple[Output, contextlib.AbstractContextManager[object]]]:
    """The outputs to render, each with what to hold while rendering it (an encoder
    slot for a video). A video goes as soon as a slot is free; while none is, the
    worker makes its other outputs, and waits only when videos are all that is left."""
    pending = list(todo)

    def is_video(output: Output) -> bool:
        return slots is not None and output.kind in stages[output.stage].ENCODER_KINDS

    while pending:
        videos = [i for i, output in enumerate(pending) if is_video(output)]
        slot = None
        if videos and slots is not None:
            if len(videos) < len(pending):
                slot = slots.take(wait=False)
            else:
                with timer("encoder-wait"):
                    slot = slots.take(wait=True)
        if slot is not None:
            yield pending.pop(videos[0]), slot
        else:
            first = next(i for i, output in enumerate(pending) if not is_video(output))
            yield pending.pop(first), contextlib.nullcontext()


def frame_by_frame(stale: Sequence[Output]) -> list[Output]:
    """Every single-frame output of a frame together (stages in order), then the
    outputs made from several frames: outputs of one frame share its resizes
    (:meth:`SetPixels.resized`), which are kept for one frame at a time."""
    return sorted(stale, key=lambda o: (1, 0) if len(o.frames) != 1 else (0, o.frames[0]))


def _chosen(stages: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(stages) if stages is not None else tuple(all_stages())
    unknown = [s for s in chosen if s not in all_stages()]
    if unknown:
        raise PipelineError(f"unknown stage(s): {', '.join(unknown)}")
    return chosen


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
        keys = [source_key(cfg, p) for s in everything for p in s.frames.values()]
        manifest.forget_sources_except(keys)
        _save(manifest, out_root)
    return removed


def _save(manifest: Manifest, out_root: Path) -> None:
    """Write the manifest if anything changed (a no-op build leaves it alone)."""
    if not manifest.dirty:
        return
    out_root.mkdir(parents=True, exist_ok=True)
    manifest.save(out_root)


def _ignore(_: SetProgress) -> None:
    pass


def _since(started: float) -> float:
    return time.perf_counter() - started


__all__ = ["BuildReport", "SetResult", "build", "find_sets", "render_set"]
