"""Benchmark of the whole build against a reference recipe of single tools.

    python bench/build.py                 # what `make bench-build` runs
    python bench/build.py --sets 4 --no-reference   # a quick look

Renders (once, cached under bench/corpus/) a corpus of N sets x 16 frames,
1000x1000, half RGBA and half RGB on white, then measures in one run: the decode
floor, full builds at --jobs 1 and at all cores (and checks their bytes are
identical), a no-op rebuild, a one-frame-touched rebuild against building that set
alone, seconds per stage, peak RSS of the whole process tree, output bytes; then
the same outputs made by the reference recipe on all cores (sharp or vips for
thumbnails, cwebp for WebP, gifski for GIF, ffmpeg for MP4/WebM; a tool that is not
installed is reported as missing), and the no-op rebuild of a 230-set corpus of
small frames. Results go to bench/results/ as JSON and a Markdown table.

Builds run in a child interpreter (this file with ``--child``) so that wall time,
start-up included, and the memory of the whole process tree are measured as a
user would see them.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import ctypes
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus"
WORK = HERE / ".work"
TOOLS = HERE / ".tools"
RESULTS = HERE / "results"
CORES = len(os.sched_getaffinity(0))


# -- the child: one library build, reported as JSON ------------------------------
def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from pipeline.build import build
    from pipeline.config import config_from_dict

    data = settings(args.config, Path(args.raw), Path(args.output))
    data.setdefault("build", {}).update(jobs=args.jobs)
    cfg = config_from_dict(data, Path.cwd())
    report = build(cfg, args.set_ids or ())
    stages: dict[str, float] = {}
    kinds: dict[str, float] = {}
    for result in report.results:
        for step, seconds in result.stage_seconds.items():
            stages[step] = stages.get(step, 0.0) + seconds
        for kind, seconds in result.kind_seconds.items():
            kinds[kind] = kinds.get(kind, 0.0) + seconds
    out = {
        "ok": report.ok,
        "seconds": report.seconds,
        "built": report.count("built"),
        "up_to_date": report.count("up-to-date"),
        "files_written": report.files_written,
        "bytes_written": report.bytes_written,
        "stage_seconds": stages,
        "kind_seconds": kinds,
    }
    print(json.dumps(out))


# -- measuring a process tree ----------------------------------------------------
def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):  # the process may exit while we look
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measured(command: list[str]) -> tuple[float, int, str, float]:
    """Run ``command``; return wall seconds, peak RSS (MiB) summed over its whole
    process tree (sampled every 20 ms), its stdout, and CPU seconds (user + system)
    of its whole process tree."""
    _adopt_orphans()
    before = children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            tree, todo = [], [proc.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += _children(pid)
            peak = max(peak, sum(_rss_kib(p) for p in tree))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    _reap_orphans()
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]}: exited {proc.returncode}")
    return seconds, peak // 1024, stdout, children_cpu() - before


def _adopt_orphans() -> None:
    """Become the reaper of orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``):
    a build's multiprocessing forkserver outlives the build and is never waited
    for, so without this the CPU time of every worker it forked would be missing
    from ``getrusage(RUSAGE_CHILDREN)``. Elsewhere this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def _reap_orphans(timeout: float = 10.0) -> None:
    """Wait for the descendants that outlived the measured command (they exit as
    soon as it has), so their CPU time is counted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def children_cpu() -> float:
    """User + system CPU seconds of this process's ended, waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(
    raw: Path, out: Path, jobs: int, *set_ids: str, config: str | None = None
) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child"]
    command += ["--raw", str(raw), "--output", str(out), "--jobs", str(jobs), *set_ids]
    command += ["--config", config] if config else []
    seconds, peak, stdout, cpu = measured(command)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall=seconds, peak_rss_mib=peak, cpu_seconds=cpu)
    return result


# -- corpus ------------------------------------------------------------------------
def corpus(sets: int, size: int, supersample: int) -> Path:
    """A folder holding at least ``sets`` rendered sets (Bench-M000...): rendering
    is slow, so sets are kept between runs and only missing ones are added."""
    folder = CORPUS / f"{size}px-ss{supersample}"
    if not (folder / f"Bench-M{sets - 1:03d}-16.png").is_file():
        print(f"rendering {sets} sets into {folder} (kept for later runs) ...", flush=True)
        command = [sys.executable, str(ROOT / "scripts/render_sample.py"), "--out", str(folder)]
        command += ["--sets", str(sets), "--size", str(size), "--supersample", str(supersample)]
        command += ["--jobs", str(CORES), "--keep-existing"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder


def fresh_copy(source: Path, name: str, sets: int) -> Path:
    """The first ``sets`` sets of ``source`` in a scratch folder we may modify."""
    target = WORK / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for i in range(sets):
        for k in range(1, 17):
            frame = f"Bench-M{i:03d}-{k}.png"
            shutil.copyfile(source / frame, target / frame)
    return target


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def kind_of(name: str) -> str:
    stem, ext = name.rsplit(".", 1)
    return f"thumb-{ext}" if stem.endswith("-thumb") else ext


def our_step(kind: str) -> str:
    """The pipeline's timer name (``stage/kind``) for an output kind of ``kind_of``."""
    if kind == "thumb-png":
        return "thumbs/thumb"
    if kind == "thumb-webp":  # made by the thumbnails stage, beside the thumbnail PNG
        return "thumbs/thumb-webp"
    return f"animate/{kind}" if kind in ("gif", "mp4", "webm") else f"variants/{kind}"


def bytes_by_kind(root: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            sizes[kind_of(p.name)] = sizes.get(kind_of(p.name), 0) + p.stat().st_size
    return sizes


# -- decode floor --------------------------------------------------------------------
def decode_floor(raw: Path) -> dict[str, float]:
    files = sorted(raw.glob("*.png"))
    started = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.load()
    seconds = time.perf_counter() - started
    return {"frames": len(files), "seconds": seconds, "ms_per_frame": 1000 * seconds / len(files)}


# -- reference recipe ------------------------------------------------------------------
SHARP_SCRIPT = """
const sharp = require('sharp');
sharp.concurrency(1);
const jobs = JSON.parse(process.argv[process.argv.length - 1]);
(async () => {
  for (const [src, dst, w, h] of jobs) {
    await sharp(src).resize(w, h, {fit: 'inside', withoutEnlargement: true}).png().toFile(dst);
  }
})().catch((e) => { console.error(e); process.exit(1); });
"""


def tools() -> dict[str, list[str] | None]:
    found: dict[str, list[str] | None] = {}
    sharp = TOOLS / "node_modules" / "sharp"
    node = shutil.which("node")
    found["sharp"] = [node, "-e", SHARP_SCRIPT] if node and sharp.is_dir() else None
    vips = shutil.which("vipsthumbnail")
    found["vipsthumbnail"] = [vips] if vips else None
    cwebp = shutil.which("cwebp")
    found["cwebp"] = [cwebp] if cwebp else None
    gifski = TOOLS / "node_modules" / "gifski" / "bin" / "debian" / "gifski"
    found["gifski"] = [str(gifski)] if gifski.is_file() else None
    try:
        import imageio_ffmpeg

        found["ffmpeg"] = [imageio_ffmpeg.get_ffmpeg_exe()]
    except (ImportError, RuntimeError):
        found["ffmpeg"] = [f] if (f := shutil.which("ffmpeg")) else None
    return found


def parallel(commands: list[list[str]], env: dict[str, str] | None = None) -> float:
    """Run independent commands, ``CORES`` at a time; wall seconds."""
    started = time.perf_counter()

    def one(command: list[str]) -> None:
        cwd = TOOLS if TOOLS.is_dir() else ROOT  # node resolves 'sharp' from here
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=cwd)

    with cf.ThreadPoolExecutor(CORES) as pool:
        list(pool.map(one, commands))
    return time.perf_counter() - started


def reference(raw: Path, out: Path, ours: Path, kinds: set[str]) -> dict[str, Any]:
    """Make the outputs our build made, with the reference tools, on all cores."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    found = tools()
    frames = sorted(raw.glob("*.png"))
    sets = sorted({p.stem.rsplit("-", 1)[0] for p in frames})
    steps: dict[str, Any] = {}

    def step(kind: str, tool: str, run: Any) -> None:
        if kind not in kinds:
            return
        if found.get(tool) is None:
            steps[kind] = {"tool": tool, "status": "missing"}
            return
        cpu = children_cpu()
        seconds = run(found[tool])
        steps[kind] = {
            "tool": tool,
            "status": "ok",
            "seconds": seconds,
            "cpu_seconds": children_cpu() - cpu,
        }

    def copy_png(_: list[str]) -> float:
        started = time.perf_counter()
        for p in frames:
            shutil.copyfile(p, out / p.name)
        return time.perf_counter() - started

    def sharp_thumbs(cmd: list[str]) -> float:
        jobs = [[str(p), str(out / f"{p.stem}-thumb.png"), 240, 240] for p in frames]
        chunks = [jobs[i::CORES] for i in range(CORES)]
        return parallel([[*cmd, json.dumps(c)] for c in chunks])

    def vips_thumbs(cmd: list[str]) -> float:
        return parallel(
            [
                [*cmd, str(p), "-s", "240x240", "-o", str(out / f"{p.stem}-thumb.png")]
                for p in frames
            ]
        )

    def cwebp(cmd: list[str], thumbs: bool) -> float:
        todo = []
        for p in frames:
            src = out / f"{p.stem}-thumb.png" if thumbs else p
            dst = out / (f"{p.stem}-thumb.webp" if thumbs else f"{p.stem}.webp")
            todo.append([*cmd, "-quiet", "-q", "80", "-m", "4", str(src), "-o", str(dst)])
        return parallel(todo)

    def gifski(cmd: list[str]) -> float:
        todo = []
        for s in sets:
            inputs = [str(raw / f"{s}-{k}.png") for k in range(1, 17)]
            todo.append([*cmd, "--quiet", "--fps", "12", "-o", str(out / f"{s}.gif"), *inputs])
        return parallel(todo)

    def ffmpeg(cmd: list[str], codec: str) -> float:
        todo = []
        for s in sets:
            base = [*cmd, "-loglevel", "error", "-y", "-framerate", "12"]
            base += ["-i", str(raw / f"{s}-%d.png")]
            if codec == "mp4":
                base += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23", "-threads", "1"]
                base += ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", str(out / f"{s}.mp4")]
            else:
                base += ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "32"]
                base += ["-threads", "1", str(out / f"{s}.webm")]
            todo.append(base)
        return parallel(todo)

    if "png" in kinds:
        copied = {"tool": "copy of the source", "status": "ok", "seconds": copy_png([])}
        steps["png"] = copied | {"cpu_seconds": copied["seconds"]}
    thumb_tool = "sharp" if found["sharp"] else "vipsthumbnail"
    step("thumb-png", thumb_tool, sharp_thumbs if thumb_tool == "sharp" else vips_thumbs)
    step("webp", "cwebp", lambda c: cwebp(c, False))
    step("thumb-webp", "cwebp", lambda c: cwebp(c, True))
    step("gif", "gifski", gifski)
    step("mp4", "ffmpeg", lambda c: ffmpeg(c, "mp4"))
    step("webm", "ffmpeg", lambda c: ffmpeg(c, "webm"))
    total = sum(s.get("seconds", 0.0) for s in steps.values())
    missing = sorted(k for k, s in steps.items() if s["status"] == "missing")
    return {
        "steps": steps,
        "seconds": total,
        "missing": missing,
        "bytes": bytes_by_kind(out),
        "quality": quality(raw, out, ours),
    }


# -- quality -------------------------------------------------------------------------
def on_white(image: Image.Image) -> np.ndarray:
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
    alpha = rgba[..., 3:] / 255.0
    return np.asarray(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def quality(raw: Path, theirs: Path, ours: Path) -> dict[str, Any]:
    """PSNR (dB, composited on white) of each WebP against its source, measured on
    the same pixels for both: our crop box, recomputed with the pipeline's own
    probe and crop functions."""
    sys.path.insert(0, str(ROOT))
    from pipeline.config import CropConfig, FramesConfig
    from pipeline.sources.crop import shared_crop
    from pipeline.sources.frames import decode

    ours_db, theirs_db = [], []
    png_dir = ours / "muscles" / "png"
    for first in sorted(raw.glob("*-1.png")):
        set_id = first.stem.rsplit("-", 1)[0]
        frames = {k: decode(raw / f"{set_id}-{k}.png", k, FramesConfig()) for k in range(1, 17)}
        boxes = [f.info.bbox for f in frames.values() if f.info.bbox is not None]
        size = frames[1].image.size
        left, top, right, bottom = shared_crop(boxes, *size, CropConfig())
        for k in (1, 9):
            ours_webp = png_dir / f"{set_id}-{k}.webp"
            theirs_webp = theirs / f"{set_id}-{k}.webp"
            if not ours_webp.is_file() or not theirs_webp.is_file():
                continue
            source = on_white(frames[k].image)[top:bottom, left:right]
            with Image.open(ours_webp) as o, Image.open(theirs_webp) as t:
                ours_db.append(psnr(on_white(o), source))
                theirs_db.append(psnr(on_white(t)[top:bottom, left:right], source))
    if not ours_db:
        return {}
    return {
        "webp_psnr_db_ours": float(np.mean(ours_db)),
        "webp_psnr_db_theirs": float(np.mean(theirs_db)),
        "frames_compared": len(ours_db),
    }


# -- touching a frame ------------------------------------------------------------------
def recolour_inside(path: Path) -> None:
    """Change pixels without moving the visible box (the crop stays)."""
    with Image.open(path) as opened:
        mode = opened.mode
        pixels = np.asarray(opened.convert("RGBA")).copy()
    visible = pixels[..., 3] == 255
    if mode != "RGBA":
        visible &= (pixels[..., :3] < 240).any(axis=2)
    pixels[visible, 0] = 255 - pixels[visible, 0]
    Image.fromarray(pixels, "RGBA").convert(mode).save(path)


# -- the run ---------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--raw")
    parser.add_argument("--output")
    parser.add_argument("--jobs", type=int, default=CORES)
    parser.add_argument("set_ids", nargs="*")
    parser.add_argument("--sets", type=int, default=18, help="sets of 1000x1000 frames")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--supersample", type=int, default=1)
    parser.add_argument("--noop-sets", type=int, default=230)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument(
        "--config",
        help="pipeline config (YAML) for our builds, to measure other settings; "
        "the benchmark sets paths and jobs",
    )
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.config:
        args.config = str(Path(args.config).resolve())  # the builds run from the root
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    source = corpus(args.sets, args.size, args.supersample)
    raw = fresh_copy(source, "raw", args.sets)
    res: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "corpus": {"sets": args.sets, "frames": args.sets * 16, "size": args.size},
        "config": Path(args.config).read_text(encoding="utf-8") if args.config else None,
        "config_name": Path(args.config).name if args.config else None,
    }
    print(f"corpus: {args.sets} sets x 16 frames, {args.size} px; {CORES} cores", flush=True)
    res["decode_floor"] = decode_floor(raw)
    out1, outn = WORK / "out-jobs1", WORK / "out-jobsN"
    for out in (out1, outn):
        shutil.rmtree(out, ignore_errors=True)
    res["jobs1"] = build(raw, out1, 1, config=args.config)
    print(f"full build --jobs 1: {res['jobs1']['wall']:.1f} s", flush=True)
    res["jobsN"] = build(raw, outn, CORES, config=args.config)
    print(f"full build --jobs {CORES}: {res['jobsN']['wall']:.1f} s", flush=True)
    res["identical_bytes"] = tree_bytes(out1) == tree_bytes(outn)
    res["noop"] = build(raw, outn, CORES, config=args.config)
    one = sorted(raw.glob("*-1.png"))[0].stem.rsplit("-", 1)[0]
    single = WORK / "out-one-set"
    shutil.rmtree(single, ignore_errors=True)
    res["one_set"] = build(raw, single, CORES, one, config=args.config)
    recolour_inside(raw / f"{one}-5.png")
    res["touched"] = build(raw, outn, CORES, config=args.config)
    res["touched"]["set"] = one
    res["output_bytes"] = bytes_by_kind(outn)
    kinds = set(res["output_bytes"])
    if not args.no_reference:
        print("reference recipe ...", flush=True)
        fresh = fresh_copy(source, "raw-ref", args.sets)
        res["reference"] = reference(fresh, WORK / "out-reference", outn, kinds)
    small = corpus(args.noop_sets, 64, 1)
    noop_raw = fresh_copy(small, "raw-noop", args.noop_sets)
    noop_out = WORK / "out-noop"
    shutil.rmtree(noop_out, ignore_errors=True)
    build(noop_raw, noop_out, CORES, config=args.config)
    res["noop_large"] = build(noop_raw, noop_out, CORES, config=args.config)
    res["noop_large"]["sets"] = args.noop_sets
    cli = [str(Path(sys.executable).parent / "muscle-assets"), "build", "-q"]
    cli += ["--config", str(write_config(noop_raw, noop_out, args.config))]
    res["noop_large"]["cli_wall"] = measured(cli)[0]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(res, indent=2)
    # A run with --config keeps its own "latest" files, beside the defaults' ones.
    name = f"build-{Path(args.config).stem}" if args.config else "build"
    (RESULTS / f"{name}-{stamp}.json").write_text(text, encoding="utf-8")
    (RESULTS / f"{name}-latest.json").write_text(text, encoding="utf-8")
    table = render_table(res)
    (RESULTS / f"{name}-latest.md").write_text(table, encoding="utf-8")
    print(table)
    print(text)


def settings(config: str | None, raw: Path, out: Path) -> dict[str, Any]:
    """The pipeline config of a benchmark build: ``--config``'s settings (or the
    defaults) with the benchmark's folders."""
    data: dict[str, Any] = {}
    if config:
        data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    data.setdefault("paths", {}).update(raw=str(raw), output=str(out))
    return data


def write_config(raw: Path, out: Path, config: str | None) -> Path:
    """The config the CLI no-op build runs with: the same settings as the library
    builds, so it finds their outputs up to date."""
    path = WORK / "noop.yaml"
    path.write_text(json.dumps(settings(config, raw, out)), encoding="utf-8")
    return path


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return f"{cpu}, {CORES} cores, {platform.system()} {platform.release()}, load {load:.1f}"


def render_table(r: dict[str, Any]) -> str:
    j1, jn = r["jobs1"], r["jobsN"]
    frames = r["corpus"]["frames"]
    rows = [
        ("decode floor (Pillow, 1 process)", f"{r['decode_floor']['ms_per_frame']:.1f} ms/frame"),
        (
            "full build --jobs 1",
            f"{j1['wall']:.1f} s ({1000 * j1['wall'] / frames:.0f} ms/frame; "
            f"CPU {j1['cpu_seconds']:.1f} s)",
        ),
        (
            f"full build --jobs {CORES}",
            f"{jn['wall']:.1f} s (speed-up {j1['wall'] / jn['wall']:.2f}x)",
        ),
        ("jobs 1 and all-core outputs byte-identical", "yes" if r["identical_bytes"] else "NO"),
        ("no-op rebuild", f"{r['noop']['wall']:.2f} s"),
        (
            "one frame touched, rebuild",
            f"{r['touched']['wall']:.2f} s ({r['touched']['files_written']} files) vs "
            f"{r['one_set']['wall']:.2f} s to build that set alone",
        ),
        (
            f"no-op rebuild, {r['noop_large']['sets']} sets",
            f"{r['noop_large']['wall']:.2f} s (library, {r['noop_large']['seconds']:.2f} s in "
            f"run()); {r['noop_large']['cli_wall']:.2f} s through the CLI",
        ),
        (
            "peak RSS, process tree",
            f"{max(j1['peak_rss_mib'], jn['peak_rss_mib'])} MiB "
            f"(jobs 1: {j1['peak_rss_mib']}, jobs {CORES}: {jn['peak_rss_mib']})",
        ),
    ]
    per_stage = ", ".join(f"{k} {v:.1f} s" for k, v in j1["stage_seconds"].items())
    rows.append(("per stage (jobs 1, summed)", per_stage))
    per_kind = ", ".join(f"{k} {v:.1f} s" for k, v in j1["kind_seconds"].items())
    rows.append(("per output kind (jobs 1, summed)", per_kind))
    total = sum(r["output_bytes"].values())
    rows.append(("output bytes", f"{total / 1e6:.2f} MB"))
    settings = "default settings" if not r.get("config") else f"settings `{r['config_name']}`"
    lines = [
        f"Benchmark `make bench-build`, {r['date']}, {r['machine']}; corpus "
        f"{r['corpus']['sets']} sets x 16 frames, {r['corpus']['size']} px; {settings}.",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {a} | {b} |" for a, b in rows],
    ]
    ref = r.get("reference")
    if ref:
        lines += [
            "",
            "| output | ours: seconds on one core (jobs 1), bytes "
            "| reference: tool, seconds (all cores), CPU seconds, bytes |",
            "| --- | --- | --- |",
        ]
        for kind, size in sorted(r["output_bytes"].items()):
            step = ref["steps"].get(kind, {})
            if step.get("status") == "ok":
                theirs = (
                    f"{step['tool']}, {step['seconds']:.1f} s, "
                    f"{step.get('cpu_seconds', float('nan')):.1f} s, {ref['bytes'].get(kind, 0):,}"
                )
            else:
                theirs = f"{step.get('tool', '-')}: {step.get('status', 'not made')}"
            ours_seconds = j1["kind_seconds"].get(our_step(kind), float("nan"))
            lines.append(f"| {kind} | {ours_seconds:.1f} s, {size:,} | {theirs} |")
        lines.append(
            f"| (decoding the sources) | {j1['stage_seconds'].get('decode', 0.0):.1f} s | "
            "inside each tool's figures |"
        )
        ours_total, theirs_total = jn["wall"], ref["seconds"]
        their_bytes = sum(ref["bytes"].values())
        lines += [
            "",
            f"Full build, all cores: ours {ours_total:.1f} s, reference {theirs_total:.1f} s "
            f"(ours/theirs {ours_total / theirs_total:.2f}); output bytes ours "
            f"{total:,}, reference {their_bytes:,} (ours/theirs {total / their_bytes:.2f}).",
        ]
        q = ref.get("quality")
        if q:
            lines.append(
                f"WebP PSNR on our crop box, composited on white: ours "
                f"{q['webp_psnr_db_ours']:.2f} dB, reference {q['webp_psnr_db_theirs']:.2f} dB "
                f"({q['frames_compared']} frames)."
            )
        if ref["missing"]:
            lines.append(f"Missing tools for: {', '.join(ref['missing'])}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
