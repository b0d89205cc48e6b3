"""Web weight benchmark (issue 12): our build against a recipe of the best single tools.

    make bench-web                          # 6 sets (the full run)
    python -m bench.web --sets 2            # a quick run

On a generated corpus of realistic renders (``bench/renders.py``, cached under
``bench/corpus-web/``), in one run and on all cores:

1. our build: ``muscle-assets build`` in a child process, with a config that points
   raw and output into ``bench/.work/web``; wall time, CPU seconds and peak RSS of
   the whole process tree (``bench.build.measured``);
2. the reference recipe (``bench/recipe.sh``, run with bash and timed as a whole)
   (a) on our cropped frames, at our output sizes: the sources cut to the crop box
   our build used (recomputed from its manifest with ``pipeline.sources.crop``), and
   (b) on the uncropped sources, which is what a site without this pipeline ships;
3. our build again at ``--jobs 1`` through the library, for its CPU seconds per
   output kind (``--no-one-core`` skips it);
4. per output kind, ours against recipe (a): bytes, CPU seconds and quality against
   the cropped source (for a resized output, the scene drawn at its size:
   ``bench.renders.drawn_at``) on its visible pixels composited on the page colour (PSNR,
   SSIM from scikit-image, SSIMULACRA2 from the ``ssimulacra2`` package when it is
   installed); the page weight of one muscle page; the issue's targets, met or not.

Results: ``bench/results/web-<UTC stamp>.json`` and ``web-latest.json``/``.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import importlib.util
import io
import json
import math
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from bench import build as bench_build
from bench.animation import decode_gif
from bench.renders import FRAMES, VERSION, drawn_at, render_set
from pipeline.build import build
from pipeline.codecs.pixels import Box, composite, rgb
from pipeline.config import Config, load_config
from pipeline.plan import SetPlan
from pipeline.sources.crop import union

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus-web"
WORK = HERE / ".work" / "web"
RESULTS = HERE / "results"
RECIPE = HERE / "recipe.sh"
GIFSKI = HERE / ".tools" / "node_modules" / "gifski" / "bin" / "debian" / "gifski"
CORES = bench_build.CORES
KINDS = ("png", "thumb-png", "webp", "thumb-webp", "gif", "webm", "mp4")
# The recipe makes no -thumb.webp; every other kind is compared with its tool.
COMPARED = {
    "png": "pngquant --quality 80-95",
    "thumb-png": "vipsthumbnail",
    "webp": "cwebp -q 80",
    "gif": "gifski --fps 10",
    "webm": "ffmpeg libvpx-vp9 -crf 32",
    "mp4": "ffmpeg libx264 -crf 23",
}
TARGETS = {"bytes": 0.7, "page": 0.5, "wall": 0.8}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=6, help="orientation sets (half RGBA)")
    parser.add_argument("--size", type=int, default=1000, help="render size in px")
    parser.add_argument("--config", type=Path, help="pipeline config for our build")
    parser.add_argument(
        "--frames", default="1,5,9,13", help="orientations scored for PSNR and SSIM"
    )
    parser.add_argument(
        "--perceptual-frames", default="1", help="orientations scored with SSIMULACRA2 (slow)"
    )
    parser.add_argument("--no-one-core", action="store_true", help="skip the --jobs 1 build")
    parser.add_argument(
        "--reference",
        choices=("drawn", "box"),
        default="drawn",
        help="what a resized output is scored against: the scene drawn at its size, "
        "or (as before 2026-11-30) a box resample of the cropped frame",
    )
    args = parser.parse_args(argv)
    if not GIFSKI.is_file():
        raise SystemExit(f"{GIFSKI}: not installed (make bench-web installs it with npm)")
    if importlib.util.find_spec("skimage") is None:
        raise SystemExit("scikit-image is missing: pip install -e '.[bench]' (make bench-web does)")
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    corpus = ensure_corpus(args.sets, args.size)
    raw = linked(corpus, WORK / "raw", args.sets)
    config_path = WORK / "pipeline.yaml"
    settings = bench_build.settings(
        str(args.config.resolve()) if args.config else None, raw, WORK / "out"
    )
    config_path.write_text(json.dumps(settings), encoding="utf-8")
    cfg = load_config(config_path)
    res: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench_build.machine(),
        "corpus": {"sets": args.sets, "frames": args.sets * FRAMES, "size": args.size},
        "config": args.config.name if args.config else None,
        "reference": args.reference,
    }
    print(f"our build (muscle-assets build, {CORES} cores) ...", flush=True)
    res["ours"] = our_build(cfg, config_path)
    plans = set_plans(cfg)
    boxes = crop_boxes(plans)
    sizes = output_sizes(plans)
    res["crop"] = {s: list(b) for s, b in boxes.items()}
    res["object_share"] = object_share(plans)
    print(
        "object box over the turn, share of the canvas: "
        + ", ".join(f"{s} {v:.0%}" for s, v in res["object_share"].items()),
        flush=True,
    )
    res["sizes"] = sizes
    cropped = cut(raw, boxes, WORK / "cropped")
    box = f"{cfg.thumbs.width}x{cfg.thumbs.height}"
    print("reference recipe on our cropped frames ...", flush=True)
    res["recipe_cropped"] = recipe(cropped, WORK / "recipe-cropped", box, sizes)
    print("reference recipe on the uncropped sources ...", flush=True)
    res["recipe_uncropped"] = recipe(raw, WORK / "recipe-uncropped", box, sizes)
    if not args.no_one_core:
        print("our build at --jobs 1 (CPU per output kind) ...", flush=True)
        one = bench_build.build(raw, fresh(WORK / "out-1core"), 1, config=str(config_path))
        res["ours"]["one_core"] = one_core(one)
    print("quality ...", flush=True)
    frames = [int(k) for k in args.frames.split(",")]
    perceptual = [int(k) for k in args.perceptual_frames.split(",") if k]
    res["quality"] = quality(
        cfg, raw, plans, WORK / "recipe-cropped", frames, perceptual, args.reference == "drawn"
    )
    res["page"] = {
        "ours": page_weight(plans, cfg.paths.output_root, ours=True),
        "recipe_cropped": page_weight(plans, WORK / "recipe-cropped", ours=False),
        "recipe_uncropped": page_weight(plans, WORK / "recipe-uncropped", ours=False),
    }
    res["targets"] = targets(res)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(res, indent=1)
    (RESULTS / f"web-{stamp}.json").write_text(text, encoding="utf-8")
    (RESULTS / "web-latest.json").write_text(text, encoding="utf-8")
    table = render(res)
    (RESULTS / "web-latest.md").write_text(table, encoding="utf-8")
    print()
    print(table)
    return 0


# -- corpus --------------------------------------------------------------------------
def ensure_corpus(sets: int, size: int) -> Path:
    """Render the sets not yet cached (in parallel), and print every frame's
    colour count (kept beside the frames)."""
    folder = CORPUS / f"v{VERSION}-{size}px"
    folder.mkdir(parents=True, exist_ok=True)
    counts_path = folder / "colours.json"
    counts: dict[str, list[int]] = {}
    if counts_path.is_file():
        counts = json.loads(counts_path.read_text(encoding="utf-8"))
    todo = [
        i
        for i in range(sets)
        if set_name(i) not in counts
        or not all((folder / f"{set_name(i)}-{k}.png").is_file() for k in range(1, FRAMES + 1))
    ]
    if todo:
        print(f"rendering {len(todo)} set(s) into {folder} (kept for later runs) ...", flush=True)
        with cf.ProcessPoolExecutor(min(CORES, len(todo))) as pool:
            jobs = {
                i: pool.submit(render_set, folder, set_name(i), *scene(set_name(i)), size)
                for i in todo
            }
            for i, job in jobs.items():
                counts[set_name(i)] = job.result()
        counts_path.write_text(json.dumps(counts, indent=1), encoding="utf-8")
    for i in range(sets):
        name = set_name(i)
        kind = "RGBA on transparent" if i % 2 == 0 else "RGB on white"
        per_frame = counts[name]
        print(
            f"{name} ({kind}): colours per frame {' '.join(map(str, per_frame))} "
            f"(median {int(np.median(per_frame))})",
            flush=True,
        )
    return folder


def set_name(i: int) -> str:
    return f"Web-M{i:03d}"


def scene(set_id: str) -> tuple[int, bool]:
    """The seed a corpus set is drawn from, and whether it is RGBA on transparent
    (even sets) or RGB on white."""
    i = int(set_id.removeprefix("Web-M"))
    return 1000 + i, i % 2 == 0


def drawn_references(
    set_id: str,
    k: int,
    canvas: int,
    box: Box,
    sizes: set[tuple[int, int]],
    page: tuple[int, int, int],
) -> dict[tuple[int, int], np.ndarray]:
    """``bench.renders.drawn_at`` for a corpus set, cached beside the corpus (a
    drawing at 4x takes about 20 s a frame)."""
    folder = CORPUS / f"v{VERSION}-{canvas}px" / "drawn"
    colour = "{:02x}{:02x}{:02x}".format(*page)
    paths = {
        size: folder / f"{set_id}-{k}-{'-'.join(map(str, box))}-{size[0]}x{size[1]}-{colour}.png"
        for size in sizes
    }
    missing = {size for size, path in paths.items() if not path.is_file()}
    made = drawn_at(*scene(set_id), k, canvas, box, missing, page) if missing else {}
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for size, path in paths.items():
        if size in made:
            part = path.with_suffix(f".{os.getpid()}.part")
            Image.fromarray(made[size], "RGB").save(part, format="PNG")
            part.replace(path)
            out[size] = made[size]
        else:
            with Image.open(path) as image:
                out[size] = np.asarray(image.convert("RGB"))
    return out


def linked(corpus: Path, target: Path, sets: int) -> Path:
    """The first ``sets`` sets of the corpus, as hard links (or copies)."""
    fresh(target)
    for i in range(sets):
        for k in range(1, FRAMES + 1):
            name = f"{set_name(i)}-{k}.png"
            try:
                os.link(corpus / name, target / name)
            except OSError:
                shutil.copyfile(corpus / name, target / name)
    return target


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# -- the two builds ------------------------------------------------------------------
def our_build(cfg: Config, config_path: Path) -> dict[str, Any]:
    fresh(cfg.paths.output_root)
    cli = Path(sys.executable).parent / "muscle-assets"
    load = os.getloadavg()[0]
    wall, peak, _, cpu = bench_build.measured(
        [str(cli), "build", "-q", "--config", str(config_path)]
    )
    return {
        "wall": wall,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak,
        "load_before": load,
        "bytes": bench_build.bytes_by_kind(cfg.paths.output_root),
    }


def set_plans(cfg: Config) -> dict[str, SetPlan]:
    """Each set's plan after our build (a dry run: nothing is decoded): its crop
    box, its probes and its outputs' names and sizes, as the pipeline computes
    them, so the recipe gets exactly our crop and sizes and both sides' files are
    found under the plan's names."""
    return {r.set_id: r.plan for r in build(cfg, dry_run=True).results}


def crop_boxes(plans: dict[str, SetPlan]) -> dict[str, Box]:
    boxes = {}
    for set_id, plan in plans.items():
        assert plan.crop is not None, f"{set_id}: not planned ({plan.defects or plan.error})"
        boxes[set_id] = plan.crop
    return boxes


def object_share(plans: dict[str, SetPlan]) -> dict[str, float]:
    """How much of the canvas the object covers as it turns: its box over the
    16 frames (before the crop margin), as a fraction of the canvas area."""
    shares = {}
    for set_id, plan in plans.items():
        infos = list(plan.probes.values())
        left, top, right, bottom = union(i.bbox for i in infos if i.bbox)
        shares[set_id] = (right - left) * (bottom - top) / (infos[0].width * infos[0].height)
    return shares


def output_sizes(plans: dict[str, SetPlan]) -> dict[str, dict[str, list[int]]]:
    """Pixel sizes of each set's GIF and video, as planned."""
    sizes: dict[str, dict[str, list[int]]] = {}
    for set_id, plan in plans.items():
        for kind in ("gif", "webm"):
            output = plan.output("animate", kind)
            assert output is not None
            sizes.setdefault(set_id, {})[kind] = [output.width, output.height]
    return sizes


def named(plan: SetPlan, stage: str, kind: str, k: int | None = None) -> PurePosixPath:
    """An output's name in our build (relative to the output root); the recipe's
    file has the same name, in one flat folder."""
    output = plan.output(stage, kind, k)
    assert output is not None, f"{plan.set_id}: no {kind} planned"
    return output.relpath


def cut(raw: Path, boxes: dict[str, Box], target: Path) -> Path:
    """Our cropped frames as PNGs, in the source's mode: what the recipe (a) gets."""
    fresh(target)
    for set_id, box in boxes.items():
        for k in range(1, FRAMES + 1):
            with Image.open(raw / f"{set_id}-{k}.png") as image:
                image.crop(box).save(target / f"{set_id}-{k}.png", compress_level=1)
    return target


def recipe(
    src: Path, out: Path, box: str, sizes: dict[str, dict[str, list[int]]]
) -> dict[str, Any]:
    fresh(out)
    sets_file = out.parent / f"{out.name}-sets.txt"
    sets_file.write_text(
        "".join(f"{s} {v['gif'][0]} {v['webm'][0]}\n" for s, v in sorted(sizes.items())),
        encoding="utf-8",
    )
    load = os.getloadavg()[0]
    wall, peak, _, cpu = bench_build.measured(
        ["bash", str(RECIPE), str(src), str(out), box, str(sets_file), str(GIFSKI)]
    )
    kind_cpu = {
        p.name.removeprefix(".cpu-"): sum(
            float(x) for line in p.read_text().splitlines() for x in line.split()
        )
        for p in out.glob(".cpu-*")
    }
    kept = out / ".pngquant-kept-source"
    return {
        "wall": wall,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak,
        "load_before": load,
        "kind_cpu_seconds": kind_cpu,
        "pngquant_kept_source": len(kept.read_text().split()) if kept.is_file() else 0,
        "bytes": bench_build.bytes_by_kind(out),
    }


def one_core(one: dict[str, Any]) -> dict[str, Any]:
    """Our CPU seconds per output kind, estimated: the ``--jobs 1`` build's measured
    CPU time (its process tree) split in proportion to the pipeline's step timers.
    The timers alone are wall time, which a busy machine inflates."""
    steps = {kind: one["kind_seconds"].get(bench_build.our_step(kind), 0.0) for kind in KINDS}
    share = one["cpu_seconds"] / max(sum(one["stage_seconds"].values()), 1e-9)
    return {
        "wall": one["wall"],
        "cpu_seconds": one["cpu_seconds"],
        "kind_seconds": steps,
        "kind_cpu_seconds": {kind: seconds * share for kind, seconds in steps.items()},
    }


# -- quality -------------------------------------------------------------------------
def quality(
    cfg: Config,
    raw: Path,
    plans: dict[str, SetPlan],
    theirs: Path,
    frames: list[int],
    perceptual: list[int],
    drawn: bool = True,
) -> dict[str, Any]:
    """Scores per kind (ours and the recipe on our cropped frames), averaged over
    the scored orientations of every set; sets are scored in parallel."""
    with cf.ProcessPoolExecutor(CORES) as pool:
        jobs = [
            pool.submit(score_set, cfg, raw, plan, theirs, frames, perceptual, drawn)
            for _, plan in sorted(plans.items())
        ]
        per_set = [job.result() for job in jobs]
    summary: dict[str, Any] = {}
    for kind in COMPARED:
        summary[kind] = {}
        for side in ("ours", "recipe"):
            values: dict[str, list[float]] = {}
            for one in per_set:
                for metric, scores in one["scores"].get(kind, {}).get(side, {}).items():
                    values.setdefault(metric, []).extend(scores)
            summary[kind][side] = {m: float(np.mean(v)) for m, v in values.items() if v}
    summary["webm_without_alpha"] = {
        side: max((one["no_alpha"][side] for one in per_set if one["no_alpha"]), default=None)
        for side in ("ours", "recipe")
    }
    return summary


def score_set(
    cfg: Config,
    raw: Path,
    plan: SetPlan,
    theirs: Path,
    frames: list[int],
    perceptual: list[int],
    drawn_reference: bool = True,
) -> dict[str, Any]:
    page = rgb(cfg.animation.background)
    ours = cfg.paths.output_root
    assert plan.crop is not None
    sources: dict[int, Image.Image] = {}
    has_alpha = False
    canvas = 0
    for k in frames:
        with Image.open(plan.source.frames[k]) as image:
            has_alpha = image.mode == "RGBA"
            canvas = image.width
            sources[k] = image.convert("RGBA").crop(plan.crop)
    made: dict[str, dict[str, dict[int, np.ndarray]]] = {}

    def stills(kind: str, stage: str, output_kind: str) -> None:
        names = {k: named(plan, stage, output_kind, k) for k in frames}
        made[kind] = {
            "ours": {k: rgba(ours / name) for k, name in names.items()},
            "recipe": {k: rgba(theirs / name.name) for k, name in names.items()},
        }

    stills("png", "variants", "png")
    stills("thumb-png", "thumbs", "thumb")
    stills("webp", "variants", "webp")
    for kind, decode in (("gif", decode_gif), ("webm", decode_video), ("mp4", decode_video)):
        made[kind] = {}
        name = named(plan, "animate", kind)
        for side, path in (("ours", ours / name), ("recipe", theirs / name.name)):
            decoded = decode(path)
            made[kind][side] = {k: decoded[k - 1] for k in frames if k <= len(decoded)}
    drawn: dict[int, dict[tuple[int, int], np.ndarray]] = {k: {} for k in frames}
    for k in frames if drawn_reference else ():
        sizes = {
            got.shape[1::-1]
            for sides in made.values()
            for images in sides.values()
            for j, got in images.items()
            if j == k and got.shape[1::-1] != sources[k].size
        }
        drawn[k] = drawn_references(plan.set_id, k, canvas, plan.crop, sizes, page)
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    for kind, sides in made.items():
        for side, images in sides.items():
            into = scores.setdefault(kind, {}).setdefault(side, {})
            for k, got in images.items():
                size = got.shape[1::-1]
                ref, mask = reference(sources[k], size, has_alpha, page, cfg, drawn[k].get(size))
                shown = composite(got, page)
                for metric, value in score(ref, shown, mask, k in perceptual).items():
                    into.setdefault(metric, []).append(value)
    no_alpha = {}
    if has_alpha:
        webm = named(plan, "animate", "webm")
        for side, path in (("ours", ours / webm), ("recipe", theirs / webm.name)):
            no_alpha[side] = hidden_colour(path, sources, page)
    return {"scores": scores, "no_alpha": no_alpha}


def rgba(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def reference(
    source: Image.Image,
    size: tuple[int, int],
    has_alpha: bool,
    page: tuple[int, int, int],
    cfg: Config,
    drawn: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The cropped source at ``size``, composited on the page colour, and its
    visible pixels. At a smaller size the reference is ``drawn``: the scene drawn
    at that size (``drawn_references``), which no encoder's resampling filter
    favours. (A box resample of the frame, used before, sits 7 dB from the drawn
    scene at the animation's 0.93x and favoured the softest filters; it is still
    the fallback when no drawing is given, and it decides which pixels are
    visible.)"""
    if source.size != size:
        source = source.resize(size, Image.Resampling.BOX)
    pixels = np.asarray(source)
    if has_alpha:
        mask = pixels[..., 3] > 0
    else:
        background = np.array(rgb(cfg.frames.background))
        diff = np.abs(pixels[..., :3].astype(np.int16) - background)
        mask = (diff > cfg.frames.background_tolerance).any(axis=2)
    return (composite(pixels, page) if drawn is None else drawn), mask


def score(ref: np.ndarray, got: np.ndarray, mask: np.ndarray, perceptual: bool) -> dict[str, float]:
    """PSNR and SSIM over the visible pixels; SSIMULACRA2 over their bounding box."""
    from skimage.metrics import structural_similarity

    a, b = ref.astype(np.float64), got.astype(np.float64)
    mse = float(np.mean((a - b)[mask] ** 2))
    out = {"psnr": 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)}
    _, ssim_map = structural_similarity(  # type: ignore[no-untyped-call,unused-ignore]
        a, b, channel_axis=2, data_range=255.0, full=True
    )
    out["ssim"] = float(ssim_map.mean(axis=2)[mask].mean())
    if perceptual and (ssimulacra2 := _ssimulacra2()) is not None:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        out["ssimulacra2"] = float(ssimulacra2(_png(ref[crop]), _png(got[crop])))
    return out


def _ssimulacra2() -> Any:
    try:
        from ssimulacra2 import compute_ssimulacra2
    except ImportError:
        return None
    return compute_ssimulacra2


def _png(pixels: np.ndarray) -> io.BytesIO:
    """The metric package reads files: hand it an in-memory PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buffer, "PNG", compress_level=0)
    buffer.seek(0)
    return buffer


def decode_video(path: Path) -> list[np.ndarray]:
    """Every frame as RGBA, with PyAV; a WebM through libvpx-vp9, the decoder that
    reads the alpha plane."""
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if path.suffix == ".webm":
            codec = av.CodecContext.create("libvpx-vp9", "r")
            packets: Iterator[Any] = container.demux(stream)
            for packet in packets:
                frames += [f.to_ndarray(format="rgba") for f in codec.decode(packet)]
        else:
            frames = [f.to_ndarray(format="rgba") for f in container.decode(stream)]
    return frames


def hidden_colour(webm: Path, sources: dict[int, Image.Image], page: tuple[int, int, int]) -> float:
    """What a browser that ignores VP9 alpha (Safari) shows where the source is
    transparent: the 99th percentile of the colour's distance (levels, largest
    channel) from the page colour, decoded with ffmpeg's own vp9 decoder."""
    import av

    with av.open(str(webm)) as container:
        shown = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    distances = []
    for k, source in sources.items():
        if source.size[::-1] != shown[0].shape[:2]:
            source = source.resize(shown[0].shape[1::-1], Image.Resampling.BOX)
        clear = np.asarray(source)[..., 3] == 0
        got = shown[k - 1].astype(np.int16)
        distances.append(np.abs(got - np.array(page)).max(axis=2)[clear])
    return float(np.percentile(np.concatenate(distances), 99))


# -- page weight ---------------------------------------------------------------------
def page_weight(plans: dict[str, SetPlan], root: Path, *, ours: bool) -> dict[str, float]:
    """Mean bytes one muscle page makes a Chrome visitor download.

    ``site``: the theme's includes (CONTEXT.md): the WebM (first source), then the
    16 ``-thumb.png``; ``click``: one full-size PNG, fetched when a thumbnail is
    opened. ``project``: jekyll/_includes: the WebM, its poster (the first gallery
    image's ``.webp``) and 16 ``-thumb.webp`` in ``<picture>`` (a kind that was
    not made falls back to its PNG, as the ``<img>`` would). Files have the
    plan's names: under the output root for ours, in one folder for the recipe."""

    def size(name: PurePosixPath, fallback: PurePosixPath | None = None) -> int:
        for candidate in (name, fallback):
            if candidate is None:
                continue
            path = root / candidate if ours else root / candidate.name
            if path.is_file():
                return path.stat().st_size
        return 0

    site, click, project = [], [], []
    for plan in plans.values():
        frames = range(1, FRAMES + 1)
        webm = size(named(plan, "animate", "webm"))
        thumbs = [named(plan, "thumbs", "thumb", k) for k in frames]
        site.append(webm + sum(size(t) for t in thumbs))
        click.append(np.mean([size(named(plan, "variants", "png", k)) for k in frames]))
        poster = size(named(plan, "variants", "webp", 1), named(plan, "variants", "png", 1))
        project.append(webm + poster + sum(size(t.with_suffix(".webp"), t) for t in thumbs))
    return {
        "site": float(np.mean(site)),
        "click": float(np.mean(click)),
        "project": float(np.mean(project)),
    }


# -- targets and the table -----------------------------------------------------------
def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    ours = res["ours"]
    rows: list[dict[str, Any]] = []
    for name, key in (("cropped", "recipe_cropped"), ("uncropped", "recipe_uncropped")):
        theirs = res[key]
        ratio = sum(ours["bytes"].values()) / sum(theirs["bytes"].values())
        rows.append(_target(f"total bytes vs recipe ({name})", ratio, TARGETS["bytes"]))
        ratio = res["page"]["ours"]["site"] / res["page"][key]["site"]
        rows.append(_target(f"page weight (a) vs recipe ({name})", ratio, TARGETS["page"]))
        ratio = ours["wall"] / theirs["wall"]
        rows.append(_target(f"build wall time vs recipe ({name})", ratio, TARGETS["wall"]))
    q = res["quality"]
    for kind in COMPARED:
        o, t = q[kind]["ours"], q[kind]["recipe"]
        worse = [m for m in o if m in t and o[m] < t[m]]
        figures = ", ".join(f"{m} {o[m]:.3f} vs {t[m]:.3f}" for m in o if m in t)
        rows.append(
            {
                "target": f"{kind} quality no worse than {COMPARED[kind]} (cropped)",
                "figure": figures,
                "met": not worse,
                "worse_on": worse,
            }
        )
    return rows


def _target(name: str, ratio: float, limit: float) -> dict[str, Any]:
    return {"target": f"{name} <= {limit}x", "figure": f"{ratio:.2f}x", "met": ratio <= limit}


def render(res: dict[str, Any]) -> str:
    ours, ra, rb = res["ours"], res["recipe_cropped"], res["recipe_uncropped"]
    one = ours.get("one_core", {}).get("kind_cpu_seconds", {})
    q = res["quality"]

    def kib(n: float) -> str:
        return f"{n / 1024:,.0f} KiB"

    def scores(d: dict[str, float]) -> str:
        parts = [f"{d['psnr']:.2f} dB", f"SSIM {d['ssim']:.4f}"] if d else []
        if "ssimulacra2" in d:
            parts.append(f"S2 {d['ssimulacra2']:.1f}")
        return ", ".join(parts) or "-"

    c = res["corpus"]
    lines = [
        f"Benchmark `make bench-web`, {res['date']}, {res['machine']}; corpus {c['sets']} sets "
        f"x 16 frames, {c['size']} px (half RGBA); "
        f"{'settings ' + res['config'] if res['config'] else 'default settings'}; the "
        f"object's box covers {min(res['object_share'].values()):.0%}-"
        f"{max(res['object_share'].values()):.0%} of the canvas; resized outputs scored "
        + (
            "against a box resample of the frame (--reference box)."
            if res.get("reference") == "box"
            else "against the scene drawn at their size."
        ),
        "",
        "| output kind | ours: bytes, CPU s (est.) | recipe on our crop: bytes, CPU s "
        "| recipe uncropped: bytes, CPU s | quality ours | quality recipe (crop) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        mine = f"{kib(ours['bytes'].get(kind, 0))}, {one.get(kind, math.nan):.1f} s"
        cells = []
        for r in (ra, rb):
            if kind in r["bytes"]:
                cpu = r["kind_cpu_seconds"].get(kind, math.nan)
                cells.append(f"{kib(r['bytes'][kind])}, {cpu:.1f} s")
            else:
                cells.append("not made")
        qo = scores(q[kind]["ours"]) if kind in q else "-"
        qt = scores(q[kind]["recipe"]) if kind in q else "-"
        lines.append(f"| {kind} | {mine} | {cells[0]} | {cells[1]} | {qo} | {qt} |")
    total = [sum(r["bytes"].values()) for r in (ours, ra, rb)]
    cpu = [r["cpu_seconds"] for r in (ours, ra, rb)]
    lines.append(
        f"| **total** | {kib(total[0])}, CPU {cpu[0]:.1f} s | {kib(total[1])}, {cpu[1]:.1f} s "
        f"| {kib(total[2])}, {cpu[2]:.1f} s | | |"
    )
    lines += [
        "",
        "| full build, all cores | ours | recipe on our crop | recipe uncropped |",
        "| --- | --- | --- | --- |",
        f"| wall time | {ours['wall']:.1f} s | {ra['wall']:.1f} s | {rb['wall']:.1f} s |",
        f"| CPU time (process tree) | {cpu[0]:.1f} s | {cpu[1]:.1f} s | {cpu[2]:.1f} s |",
        f"| peak RSS, process tree | {ours['peak_rss_mib']} MiB | {ra['peak_rss_mib']} MiB "
        f"| {rb['peak_rss_mib']} MiB |",
        f"| load average when it started | {ours['load_before']:.1f} | {ra['load_before']:.1f} "
        f"| {rb['load_before']:.1f} |",
    ]
    p = res["page"]
    lines += [
        "",
        "| one muscle page (mean) | ours | recipe on our crop | recipe uncropped |",
        "| --- | --- | --- | --- |",
    ]
    for key, label in (
        ("site", "(a) site's includes: WebM + 16 -thumb.png"),
        ("click", "full-size PNG, per click"),
        ("project", "(b) project's includes (Chrome): WebM + poster + 16 thumbnails"),
    ):
        lines.append(
            f"| {label} | {kib(p['ours'][key])} | {kib(p['recipe_cropped'][key])} "
            f"| {kib(p['recipe_uncropped'][key])} |"
        )
    hidden = q.get("webm_without_alpha", {})
    if hidden.get("ours") is not None:
        lines += [
            "",
            "WebM decoded without alpha (ffmpeg's vp9, as Safari shows it): 99th percentile "
            f"distance from the page colour on transparent source pixels: ours "
            f"{hidden['ours']:.0f} levels, recipe {hidden['recipe']:.0f} levels.",
        ]
    if ra["pngquant_kept_source"] or rb["pngquant_kept_source"]:
        lines.append(
            f"pngquant could not reach quality 80 on {ra['pngquant_kept_source']} (cropped) / "
            f"{rb['pngquant_kept_source']} (uncropped) frames: the source PNG was kept."
        )
    lines += ["", "| issue 12 target | figure | |", "| --- | --- | --- |"]
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {t['figure']} | {'met' if t['met'] else 'NOT MET'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
