"""Planning a set: its outputs, what each is made from, and which are stale.

A set is planned once per build, in the main process and from the manifest
alone: the sources' hashes (re-read only when a file's size or mtime changed),
their cached probes, the shared crop, then every output of every stage with its
name, typed settings and fingerprint, and whether the file on disk is current.
Only a frame never probed needs its pixels: such a plan is left incomplete, and
the worker that renders the set probes it first (:func:`probe_set`) and plans its
outputs with the same code. Plans are plain, picklable data: the worker's only
input (:func:`pipeline.build.render_set`), and what ``list``, ``check``,
``preview``, ``--dry-run``, the page weight and the pages step read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.codecs.pixels import Box
from pipeline.config import Config
from pipeline.errors import FrameError, PipelineError
from pipeline.sources import check as checks
from pipeline.sources.crop import shared_crop
from pipeline.sources.frames import FrameInfo, decode
from pipeline.sources.sets import Defect, SourceSet
from pipeline.stages import Stage, all_stages
from pipeline.state.manifest import Manifest, fingerprint
from pipeline.state.outputs import Output

if TYPE_CHECKING:
    from PIL import Image

# What an encoder-version difference is: (library, version here, version recorded).
VersionDiff = tuple[str, Any, Any]


@dataclass(frozen=True)
class BuildOptions:
    """What a build was asked to do, as each set's plan needs it."""

    stages: tuple[str, ...]  # the stages to run, by CLI name
    force: bool = False
    dry_run: bool = False
    # Outputs that differ from the plan only by encoder versions count as current.
    accept_versions: bool = False


@dataclass(frozen=True)
class SetPlan:
    """One set's plan. ``outputs`` lists every output of every stage (names, sizes,
    settings, fingerprints), so the pages step and the page weight read names from
    here; ``stale`` those of the chosen stages to (re)make. A plan with a frame
    never probed has no crop and no outputs yet (``complete`` is false)."""

    source: SourceSet
    cfg: Config
    options: BuildOptions
    # This set's part of the build's manifest: planning and rendering record into
    # it, and the build merges it back.
    manifest: Manifest
    shas: Mapping[int, str] = field(default_factory=dict)
    probes: Mapping[int, FrameInfo] = field(default_factory=dict)
    defects: tuple[Defect, ...] = ()
    error: str | None = None
    detail: str | None = None  # traceback of an unexpected error, shown with --verbose
    crop: Box | None = None
    has_alpha: bool = False
    outputs: tuple[Output, ...] = ()
    stale: tuple[Output, ...] = ()
    # Recorded outputs of this set that the plan no longer makes (``--prune``).
    unplanned: tuple[str, ...] = ()
    # Stale outputs that differ only by encoder versions, by relpath.
    other_versions: Mapping[str, list[VersionDiff]] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)  # "hash", "probe"

    @property
    def set_id(self) -> str:
        return self.source.set_id

    @property
    def ok(self) -> bool:
        return not self.defects and self.error is None

    @property
    def complete(self) -> bool:
        return self.crop is not None

    @property
    def needs_worker(self) -> bool:
        """Whether pixels are needed: a frame to probe, or outputs to make."""
        return self.ok and (not self.complete or (bool(self.stale) and not self.options.dry_run))

    def chosen(self) -> list[Output]:
        """The outputs of the stages this build runs."""
        return [o for o in self.outputs if o.stage in self.options.stages]

    def output(self, stage: str, kind: str, k: int | None = None) -> Output | None:
        """The planned output of ``stage`` of this ``kind`` (made from frame ``k``
        alone, when given): how pages, the page weight and the preview find a name."""
        for o in self.outputs:
            if o.stage == stage and o.kind == kind and (k is None or o.frames == (k,)):
                return o
        return None


class StepTimer:
    """Adds up wall time per named step of one set (for reports and the benchmark)."""

    def __init__(self, seconds: Mapping[str, float] | None = None) -> None:
        self.seconds: dict[str, float] = dict(seconds or {})

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


def plan_set(source: SourceSet, cfg: Config, manifest: Manifest, options: BuildOptions) -> SetPlan:
    """Plan one set without decoding a pixel; ``manifest`` is the set's part of the
    build's manifest (:meth:`Manifest.part_for`). A broken set gets a plan that
    says why (``defects`` or ``error``), never an exception: it must not stop the
    others."""
    plan = SetPlan(source, cfg, options, manifest)
    if source.defects:
        return dataclasses.replace(plan, defects=tuple(source.defects))
    try:
        return _plan_from_manifest(plan)
    except Exception as exc:  # one broken set must not stop the others
        return failed(plan, exc)


def _plan_from_manifest(plan: SetPlan) -> SetPlan:
    """Hashes, then cached probes; the outputs too when every frame has one."""
    source, cfg, manifest = plan.source, plan.cfg, plan.manifest
    timer = StepTimer()
    with timer("hash"):
        shas, unreadable = _hash_sources(source, cfg, manifest)
    plan = dataclasses.replace(plan, shas=shas, seconds=timer.seconds)
    if unreadable:
        return dataclasses.replace(plan, defects=tuple(unreadable))
    key = _probe_key(cfg)
    cached = {k: manifest.frame_info(shas[k], key) for k in source.frames}
    probes = {k: info for k, info in cached.items() if info is not None}
    plan = dataclasses.replace(plan, probes=probes)
    return plan_outputs(plan) if len(probes) == len(source.frames) else plan


# A worker keeps the frames it probed, for the render to crop instead of decoding
# them again, when all of them fit in this (16 frames of 1000x1000 RGBA: 64 MiB);
# larger frames are dropped after their probe and read again, one at a time.
KEEP_PROBED_BYTES = 128 << 20


def probe_set(plan: SetPlan, keep: dict[int, Image.Image] | None = None) -> SetPlan:
    """Complete a plan whose frames were never probed: measure each such frame,
    record the probe in the manifest, then plan the outputs. Probes are cached by
    content hash, so only a new or changed frame is read twice, and not even
    that when ``keep`` is given and the set's frames fit in ``KEEP_PROBED_BYTES``:
    the decoded frames are left in it (otherwise each is dropped at once, so a
    worker never holds more than one full-size frame)."""
    if plan.complete or not plan.ok:
        return plan
    timer = StepTimer(plan.seconds)
    probes = dict(plan.probes)
    defects: list[Defect] = []
    key = _probe_key(plan.cfg)
    kept = 0
    for k, path in sorted(plan.source.frames.items()):
        if k in probes:
            continue
        try:
            with timer("probe"):
                frame = decode(path, k, plan.cfg.frames)
        except FrameError as exc:
            defects.append(Defect(path, exc.problem))
            continue
        info = frame.info
        if keep is not None:
            # this frame and, as large, every one not yet kept: never past the budget
            size = 4 * info.width * info.height
            if kept + size * (len(plan.source.frames) - len(keep)) <= KEEP_PROBED_BYTES:
                keep[k] = frame.image
                kept += size
        del frame
        plan.manifest.record_frame_info(plan.shas[k], key, info)
        probes[k] = info
    plan = dataclasses.replace(plan, probes=probes, seconds=timer.seconds)
    return plan_outputs(plan, defects)


def plan_outputs(plan: SetPlan, defects: Sequence[Defect] = ()) -> SetPlan:
    """The set's crop and every stage's outputs, from its probes; then which
    outputs of the chosen stages are stale."""
    source, cfg, options, manifest = plan.source, plan.cfg, plan.options, plan.manifest
    infos = plan.probes
    found = [*defects, *checks.set_defects(infos, source.frames)]
    if found:
        return dataclasses.replace(plan, defects=tuple(found))
    first = infos[min(infos)]
    boxes = [i.bbox for i in infos.values() if i.bbox is not None]
    crop = shared_crop(boxes, first.width, first.height, cfg.crop)
    size = (crop[2] - crop[0], crop[3] - crop[1])
    stages = all_stages()
    outputs: list[Output] = []
    for stage in stages.values():
        for output in stage.plan(source.set_id, sorted(source.frames), size, first.has_alpha, cfg):
            fp = output_fingerprint(output, stage.VERSION, plan.shas, crop, first.has_alpha)
            outputs.append(dataclasses.replace(output, fingerprint=fp))
    plan = dataclasses.replace(plan, crop=crop, has_alpha=first.has_alpha, outputs=tuple(outputs))
    chosen = plan.chosen()
    out_root = cfg.paths.output_root
    stale: list[Output] = []
    other_versions: dict[str, list[VersionDiff]] = {}
    for output in chosen:
        relpath, where = str(output.relpath), _planned_path(out_root, output)
        if not options.force and manifest.output_current(relpath, output.fingerprint, where):
            manifest.note_versions(relpath, output.versions)
            continue
        differ = [] if options.force else _other_versions(plan, output, where)
        if differ and options.accept_versions:
            continue
        if differ:
            other_versions[relpath] = differ
        stale.append(output)
    unplanned = _unplanned(manifest, source.set_id, chosen, options.stages, stages)
    return dataclasses.replace(
        plan, stale=tuple(stale), unplanned=tuple(unplanned), other_versions=other_versions
    )


def failed(plan: SetPlan, exc: Exception) -> SetPlan:
    """``plan`` failed with ``exc``, raised while planning or rendering it: a
    frame's defect, a message for the user, or, for anything else, the error with
    its traceback (shown with --verbose)."""
    if isinstance(exc, FrameError):
        return dataclasses.replace(plan, defects=(Defect(Path(exc.path), exc.problem),))
    if isinstance(exc, PipelineError):
        return dataclasses.replace(plan, error=str(exc))
    error = f"{plan.set_id}: unexpected error: {type(exc).__name__}: {exc}"
    return dataclasses.replace(plan, error=error, detail=traceback.format_exc())


def _hash_sources(
    source: SourceSet, cfg: Config, manifest: Manifest
) -> tuple[dict[int, str], list[Defect]]:
    """Content hashes of a set's frames; a frame that cannot be read is a defect of
    that file (permissions, a folder with a frame's name), not a crash of the set."""
    shas: dict[int, str] = {}
    defects: list[Defect] = []
    for k, path in sorted(source.frames.items()):
        try:
            shas[k] = manifest.source_sha(source_key(cfg, path), path)
        except IsADirectoryError:
            defects.append(Defect(path, "not a file (a folder has a frame's name)"))
        except PermissionError:
            defects.append(Defect(path, "cannot read file: permission denied"))
        except OSError as exc:
            defects.append(Defect(path, f"cannot read file: {exc.strerror or exc}"))
    return shas, defects


def source_key(cfg: Config, path: Path) -> str:
    """A source's key in the manifest: its path relative to the raw folder."""
    # String prefix, not Path.relative_to: this runs for every frame of every set
    # on a no-op build, where pathlib's parsing was a fifth of the time.
    text, prefix = str(path), str(cfg.paths.raw) + os.sep
    return text[len(prefix) :] if text.startswith(prefix) else text


def set_manifest(
    manifest: Manifest, cfg: Config, source: SourceSet, by_set: dict[str, dict[str, dict[str, Any]]]
) -> Manifest:
    """The entries of ``manifest`` one set needs (see :meth:`Manifest.part_for`)."""
    keys = (source_key(cfg, p) for p in source.frames.values())
    return manifest.part_for(source.set_id, keys, by_set)


def _probe_key(cfg: Config) -> str:
    """What a frame probe depends on besides the file's bytes."""
    f = cfg.frames
    return fingerprint([f.background, f.background_tolerance, f.max_pixels])[:16]


def _planned_path(out_root: Path, output: Output) -> str:
    """Where a planned output is, for a read-only stat. Plans are built from
    validated config (no ``..``, no absolute parts), and every write still goes
    through :func:`resolve_inside`; resolving symlinks twice per output here made
    two thirds of a no-op build's time."""
    return os.path.join(out_root, output.relpath)  # noqa: PTH118 - see above


def _unplanned(
    manifest: Manifest,
    set_id: str,
    chosen: Sequence[Output],
    stages: Sequence[str],
    registered: Mapping[str, Stage],
) -> list[str]:
    """Recorded outputs of the set that no chosen stage plans any more. When only
    some stages run, outputs of the others are not theirs to judge."""
    making = {str(o.relpath) for o in chosen}
    everything = set(stages) >= set(registered)
    return sorted(
        relpath
        for relpath, entry in manifest.outputs_of(set_id).items()
        if relpath not in making and (everything or entry.get("written", {}).get("stage") in stages)
    )


def _other_versions(plan: SetPlan, output: Output, path: str) -> list[VersionDiff]:
    """``[(library, version here, version recorded)]`` when the recorded output would
    be current but for its encoder versions; ``[]`` when it is stale for any other
    reason (sources, config, a changed or missing file)."""
    relpath = str(output.relpath)
    recorded = plan.manifest.recorded_versions(relpath)
    if not recorded or set(recorded) != {name for name, _ in output.versions}:
        return []
    theirs = tuple((name, recorded[name]) for name, _ in output.versions)
    version = all_stages()[output.stage].VERSION
    assert plan.crop is not None
    fp = output_fingerprint(output, version, plan.shas, plan.crop, plan.has_alpha, theirs)
    if theirs == output.versions or not plan.manifest.output_current(relpath, fp, path):
        return []
    return [
        (name, here, recorded[name]) for name, here in output.versions if recorded[name] != here
    ]


def output_fingerprint(
    output: Output,
    version: int,
    shas: Mapping[int, str],
    crop: Box,
    has_alpha: bool,
    versions: tuple[tuple[str, Any], ...] | None = None,
) -> str:
    """The output's fingerprint: its stage and version, name, size, settings and
    encoder versions, sources, crop and alpha. ``versions`` replaces the output's
    encoder versions (to ask whether a recorded output differs by those alone).
    The versions follow the settings, as when they were one list, so earlier
    manifests stay current."""
    versions = output.versions if versions is None else versions
    return fingerprint(
        {
            "stage": output.stage,
            "version": version,
            "kind": output.kind,
            "relpath": str(output.relpath),
            "size": [output.width, output.height],
            "params": [[k, v] for k, v in (*output.params, *versions)],
            "sources": [shas[k] for k in output.frames],
            "crop": list(crop),
            "has_alpha": has_alpha,
        }
    )
