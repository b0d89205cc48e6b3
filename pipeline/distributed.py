"""Rendering sets on a Dask cluster (``build.scheduler``, ``build --scheduler``).

Only the render of a set leaves this process. Planning, the manifest, the lock,
every write into the output root, progress and the report stay here, exactly as
in a local build. Workers need no shared file system: a set goes out as its plan
plus the bytes of its frames; the worker writes them under the same names into a
private temporary raw folder (so the manifest's source keys, relative to the raw
folder, are unchanged), runs the same :func:`~pipeline.build.render_set` on its plan, with
paths pointing at temporary folders, and sends back the encoded files. This
process checks each file against the hash the worker recorded, writes it
atomically into the real output root and records it from the file on disk.

Outputs are byte-identical to a local build only when the encoders are the same
versions, so the build first asks every worker for its versions
(:func:`encoder_versions`) and refuses to start if one differs; a worker that
joins later checks itself before each set. Each worker thread renders one set at
a time (Dask runs one task per thread), so a worker started with ``--nthreads 1``
holds one set in memory, the bound of one local worker process.

Dask and distributed are an optional extra (``pip install 'muscle-assets[dask]'``):
this module imports them only when a build names a scheduler.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import os
import platform
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy
import PIL
from PIL import features

from pipeline.build import SetResult, render_set
from pipeline.codecs.quantize import libimagequant_version
from pipeline.codecs.video import ffmpeg_version
from pipeline.errors import PipelineError
from pipeline.memory import give_back_memory, tune_memory
from pipeline.plan import SetPlan, source_key
from pipeline.sources.files import open_regular
from pipeline.sources.sets import Defect
from pipeline.state.outputs import Output, resolve_inside, write_bytes_atomic

if TYPE_CHECKING:
    from distributed import Client, Future

# Tries of a set whose task raised (not a failed set: that is a result). A worker
# that dies mid-set is another matter: the scheduler moves its task to another
# worker by itself, up to ``distributed.scheduler.allowed-failures`` deaths.
RETRIES = 2
# Sets sent out but not yet back, per worker thread: enough to keep every thread
# busy while results travel, few enough that the sources of a whole atlas are
# never in this process's memory at once.
IN_FLIGHT_PER_THREAD = 2
CONNECT_TIMEOUT = "20s"
WORKER_WAIT_SECONDS = 20


class VersionMismatchError(PipelineError):
    """A worker whose encoders differ from ours would write other bytes."""


@dataclass(frozen=True)
class RemoteJob:
    """What a worker needs for one set; no path in it has to exist on the worker."""

    plan: SetPlan
    # source key (relative to the raw folder) -> (bytes, mtime_ns of the original)
    sources: dict[str, tuple[bytes, int]]
    # Recorded outputs whose files are intact here: relpath -> (size, mtime_ns).
    present: dict[str, tuple[int, int]]
    versions: dict[str, str]


@dataclass(frozen=True)
class RemoteResult:
    result: SetResult
    files: dict[str, bytes]  # relpath -> bytes, for each output in ``result.written``


@functools.cache
def encoder_versions() -> dict[str, str]:
    """Everything that decides an output's bytes besides the config and the
    sources: this package, Python, and each encoder library and binary."""
    return {
        "muscle-assets": importlib.metadata.version("muscle-assets"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": numpy.__version__,
        "Pillow": PIL.__version__,
        "zlib": str(features.version("zlib")),
        "libwebp": str(features.version("webp")),
        "libavif": str(features.version("avif")),
        "libimagequant": str(libimagequant_version()),
        "oxipng": importlib.metadata.version("pyoxipng"),
        "ffmpeg": ffmpeg_version(),
    }


def differences(ours: Mapping[str, str], theirs: Mapping[str, str]) -> list[str]:
    """``name theirs (here: ours)`` for each version that differs."""
    return [
        f"{name} {theirs.get(name, 'missing')!r} (here: {value!r})"
        for name, value in ours.items()
        if theirs.get(name) != value
    ]


def execute(plans: list[SetPlan], address: str) -> Iterator[SetResult]:
    """Render ``plans`` on the cluster at ``address``; results in completion order,
    each already written into the output root and recorded in its manifest."""
    if not plans:
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise PipelineError(
            "build.scheduler needs Dask: pip install 'muscle-assets[dask]'"
        ) from exc
    try:
        client = Client(  # type: ignore[no-untyped-call]
            address, timeout=CONNECT_TIMEOUT, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise PipelineError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        threads = _checked_workers(client, address)
        yield from _stream(client, plans, max(1, threads * IN_FLIGHT_PER_THREAD))


def _checked_workers(client: Client, address: str) -> int:
    """The cluster's worker threads, once every worker's versions match ours."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except TimeoutError as exc:
        raise PipelineError(
            f"Dask scheduler {address}: no workers connected after {WORKER_WAIT_SECONDS} s"
        ) from exc
    ours = encoder_versions()
    # A worker without muscle-assets cannot even load the probe: named, not raised.
    reported: dict[str, Any] = client.run(encoder_versions, on_error="return")
    wrong = []
    for worker, theirs in sorted(reported.items()):
        if isinstance(theirs, BaseException):
            wrong.append(
                f"{worker}: cannot report its versions ({type(theirs).__name__}: "
                f"{theirs}; is muscle-assets[dask] installed there?)"
            )
        elif diff := differences(ours, theirs):
            wrong.append(f"{worker}: {'; '.join(diff)}")
    if wrong:
        raise VersionMismatchError(
            f"Dask scheduler {address}: refused worker(s) whose encoders differ from this "
            "machine's (their outputs would not be byte-identical): " + " | ".join(wrong)
        )
    info = client.scheduler_info()
    return sum(int(w.get("nthreads", 1)) for w in info["workers"].values())


def _stream(client: Client, plans: list[SetPlan], window: int) -> Iterator[SetResult]:
    """Keep ``window`` sets on the cluster; land each as it comes back."""
    from distributed import as_completed

    versions = encoder_versions()
    waiting = iter(plans)
    sent: dict[Future[RemoteResult], SetPlan] = {}
    refused: list[SetResult] = []

    def send() -> Future[RemoteResult] | None:
        for plan in waiting:
            remote = _remote_plan(plan, versions)
            if isinstance(remote, SetResult):  # a source vanished since planning
                refused.append(remote)
                continue
            future = client.submit(
                render_remote,
                remote,
                key=f"muscle-assets-{plan.set_id}-{os.urandom(4).hex()}",
                pure=False,
                retries=RETRIES,
            )
            sent[future] = plan
            return future
        return None

    first = [f for _ in range(window) if (f := send()) is not None]
    done = as_completed(first, loop=client.loop)  # type: ignore[no-untyped-call]
    try:
        yield from _drain(refused)
        for future in done:
            plan = sent.pop(future)
            yield _collect(future, plan)
            if (more := send()) is not None:
                done.add(more)  # type: ignore[no-untyped-call]
            yield from _drain(refused)
    except BaseException:  # Ctrl-C or a fault here: take the sets off the cluster
        client.cancel(list(sent), force=True)  # type: ignore[no-untyped-call]
        raise


def _drain(results: list[SetResult]) -> Iterator[SetResult]:
    while results:
        yield results.pop(0)


def _remote_plan(plan: SetPlan, versions: dict[str, str]) -> RemoteJob | SetResult:
    """The plan with its sources' bytes; a source that can no longer be read is a
    defect of that file, as when a local worker reads it."""
    cfg = plan.cfg
    sources: dict[str, tuple[bytes, int]] = {}
    defects: list[Defect] = []
    for path in plan.source.frames.values():
        try:
            with open_regular(path) as handle:
                mtime = os.fstat(handle.fileno()).st_mtime_ns
                sources[source_key(cfg, path)] = (handle.read(), mtime)
        except OSError as exc:
            defects.append(Defect(path, f"cannot read file: {exc.strerror or exc}"))
    if defects:
        return SetResult(plan.set_id, "failed", plan, defects)
    out_root = cfg.paths.output_root
    present: dict[str, tuple[int, int]] = {}
    for relpath, entry in plan.manifest.outputs.items():
        on_disk = os.path.join(out_root, relpath)  # noqa: PTH118 - as runner._planned_path
        if plan.manifest.output_current(relpath, str(entry["fingerprint"]), on_disk):
            present[relpath] = (int(entry["size"]), int(entry["mtime_ns"]))
    return RemoteJob(plan, sources, present, versions)


def render_remote(remote: RemoteJob) -> RemoteResult:
    """Runs on a Dask worker: the set's render in private temporary folders."""
    theirs = encoder_versions()
    diff = differences(remote.versions, theirs)
    if diff:
        from distributed import get_worker

        raise VersionMismatchError(
            f"Dask worker {get_worker().address}: encoders differ from the "
            f"coordinator's: {'; '.join(diff)}"
        )
    tune_memory()
    give_back_memory()
    plan = remote.plan
    with tempfile.TemporaryDirectory(prefix="muscle-assets-dask-") as folder:
        raw, out = Path(folder) / "raw", Path(folder) / "out"
        frames: dict[int, Path] = {}
        for k, path in plan.source.frames.items():
            key = source_key(plan.cfg, path)
            data, mtime = remote.sources[key]
            local = resolve_inside(raw, key)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            os.utime(local, ns=(mtime, mtime))  # size + mtime: the manifest's fast path
            frames[k] = local
        for relpath, (size, mtime) in remote.present.items():
            _placeholder(resolve_inside(out, relpath), size, mtime)
        paths = dataclasses.replace(plan.cfg.paths, raw=raw, output=out)
        cfg = dataclasses.replace(plan.cfg, paths=paths)
        source = dataclasses.replace(plan.source, frames=frames)
        # Local lock files and the local progress queue mean nothing here.
        result = render_set(dataclasses.replace(plan, source=source, cfg=cfg))
        files = {
            str(w.relpath): resolve_inside(out, w.relpath).read_bytes() for w in result.written
        }
        moved = {str(raw): str(plan.cfg.paths.raw), str(out): str(plan.cfg.paths.output_root)}
    return RemoteResult(_relocated(result, moved, plan), files)


def _placeholder(path: Path, size: int, mtime: int) -> None:
    """A sparse stand-in for an output that is intact on the coordinator: it
    matches the manifest's size and mtime, so the worker's plan finds the output
    current (as the coordinator's would) and renders only what is stale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    os.utime(path, ns=(mtime, mtime))


def _relocated(result: SetResult, moved: Mapping[str, str], plan: SetPlan) -> SetResult:
    """Messages name the real raw and output folders, not the worker's temporary
    ones, and the plan comes back with the coordinator's paths."""

    def text(value: str | None) -> str | None:
        if value is None:
            return None
        for old, new in moved.items():
            value = value.replace(old, new)
        return value

    defects = [Defect(Path(text(str(d.path)) or d.path), d.problem) for d in result.defects]
    back = dataclasses.replace(
        result.plan, source=plan.source, cfg=plan.cfg, defects=tuple(defects)
    )
    return dataclasses.replace(
        result, plan=back, defects=defects, error=text(result.error), detail=text(result.detail)
    )


def _collect(future: Future[RemoteResult], plan: SetPlan) -> SetResult:
    """A finished task as a set result: its files written and recorded here."""
    set_id = plan.set_id
    try:
        remote: RemoteResult = future.result()
    except Exception as exc:
        return SetResult(set_id, "failed", plan, error=_task_error(set_id, exc))
    result = remote.result
    landed: list[Output] = []
    try:
        for written in result.written:
            _land(result, written, remote.files, plan.cfg.paths.output_root)
            landed.append(written)
    except PipelineError as exc:
        return dataclasses.replace(result, status="failed", error=str(exc), written=landed)
    return result


def _task_error(set_id: str, exc: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return f"{set_id}: the Dask worker rendering it died on every try ({exc})"
    if isinstance(exc, PipelineError):
        return f"{set_id}: {exc}"
    return f"{set_id}: failed on the Dask cluster: {type(exc).__name__}: {exc}"


def _land(result: SetResult, written: Output, files: Mapping[str, bytes], out_root: Path) -> None:
    """Write one output the worker made into ``out_root`` and record it from the
    file on disk, after checking it is the file the worker recorded."""
    relpath = str(written.relpath)
    data, entry = files.get(relpath), result.manifest.outputs.get(relpath)
    if (
        data is None
        or entry is None
        or len(data) != entry["size"]
        or len(data) != written.bytes
        or hashlib.sha256(data).hexdigest() != entry["sha256"]
    ):
        raise PipelineError(
            f"{out_root / relpath}: the Dask worker's file arrived damaged (size or "
            "hash differs from what it recorded)"
        )
    path = resolve_inside(out_root, relpath)
    write_bytes_atomic(path, data)
    versions = dict(entry.get("versions", {})).items()
    result.manifest.record_output(result.set_id, str(entry["fingerprint"]), path, written, versions)
