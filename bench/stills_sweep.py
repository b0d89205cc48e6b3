"""Sweep of the still-image and GIF settings (issue 12) on the web corpus.

Runs the pipeline's own encoders (``pipeline.encode``, ``pipeline.gif``) on each
set's cropped frames, with settings taken from a list of variants, next to the
recipe's tool for that output (vipsthumbnail, pngquant, gifski), and scores every
result with the benchmark's functions (``bench.web.reference``/``score``: PSNR and
SSIM of the visible pixels on the page colour, SSIMULACRA2 over their box, against
the crop or, for a resized output, the scene drawn at its size). CPU seconds are
this process's (encoders run in it) or the tool's (children), so they compare
within a table.

    python -m bench.stills_sweep thumb --sets 4
    python -m bench.stills_sweep png --sets 4 --only 'speed 4,speed 6'
    python -m bench.stills_sweep gif --sets 2

Needs the corpus of ``make bench-web`` (``bench/corpus-web``) and the bench extra.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import io
import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.animation import decode_gif
from bench.web import CORPUS, GIFSKI, drawn_references, reference, score, set_name
from pipeline.build import find_sets
from pipeline.codecs.encode import fit_size, png_bytes
from pipeline.codecs.gif import encode_gif
from pipeline.codecs.pixels import composite, rgb
from pipeline.config import AnimationConfig, Config, PngConfig, ThumbsConfig
from pipeline.plan import BuildOptions, plan_set, probe_set
from pipeline.sources.frames import read_pixels
from pipeline.stages import png_settings
from pipeline.stages.animation import animation_size, fit_frame, gif_settings
from pipeline.state.manifest import Manifest

FRAMES = range(1, 17)
SCORED = (1, 5, 9, 13)
Resize = Callable[[Image.Image, tuple[int, int]], Image.Image]


@dataclass(frozen=True)
class Variant:
    name: str
    png: PngConfig | None = None  # thumbnails and gallery PNG
    resize: str = "lanczos"  # thumbnails
    gif: AnimationConfig | None = None
    tool: str = ""  # a recipe tool instead of our encoder


# The variants are named after the settings before this sweep (PNG 80-95 with
# dithering 0.5, GIF quality 80 with dithering 0.25); "default" rows use the
# config's current defaults.
_PNG_BEFORE = PngConfig(quality_max=95, dithering=0.5)
_GIF_BEFORE = AnimationConfig(gif_quality=80, gif_dithering=0.25)


def _png(**kw: Any) -> PngConfig:
    return dataclasses.replace(_PNG_BEFORE, **kw)


def _gif(**kw: Any) -> AnimationConfig:
    return dataclasses.replace(_GIF_BEFORE, **kw)


_GIF_KEYS = {
    "q": ("gif_quality", int),
    "d": ("gif_dithering", float),
    "s": ("gif_speed", int),
    "c": ("gif_colors", int),
    "tol": ("gif_transparent_tolerance", int),
}


def _gifs(*names: str) -> list[Variant]:
    """GIF variants named by their settings: ``q75 d0 s3 tol8`` is quality 75,
    dithering 0, speed 3, transparent tolerance 8 (``c``: colours); a last word
    ``box`` or ``hamming`` resizes the frames with that filter instead of Lanczos."""
    variants = []
    for name in names:
        words = name.split()
        resize = words.pop() if words[-1].isalpha() else "lanczos"
        settings = {}
        for word in words:
            found = re.fullmatch(r"([a-z]+)([0-9.]+)", word)
            if found is None or found[1] not in _GIF_KEYS:
                raise ValueError(f"GIF variant {name!r}: cannot read {word!r}")
            field, kind = _GIF_KEYS[found[1]]
            settings[field] = kind(found[2])
        variants.append(Variant(name, gif=_gif(**settings), resize=resize))
    return variants


VARIANTS: dict[str, list[Variant]] = {
    "thumb": [
        Variant("vipsthumbnail", tool="vipsthumbnail"),
        Variant("lanczos lossless", _png(mode="lossless")),
        Variant("lanczos rg2 lossless", _png(mode="lossless"), "lanczos-rg2"),
        Variant("lanczos rg1.5 lossless", _png(mode="lossless"), "lanczos-rg1.5"),
        Variant("lanczos linear lossless", _png(mode="lossless"), "lanczos-linear"),
        Variant("bicubic lossless", _png(mode="lossless"), "bicubic"),
        Variant("hamming lossless", _png(mode="lossless"), "hamming"),
        Variant("box lossless", _png(mode="lossless"), "box"),
        Variant("lanczos 80-95 d0.5 (before)", _png()),
        Variant("lanczos 80-95 d1", _png(dithering=1.0)),
        Variant("lanczos 90-100 d0.5", _png(quality_min=90, quality_max=100)),
        Variant("lanczos 90-100 d1", _png(quality_min=90, quality_max=100, dithering=1.0)),
        Variant("lanczos 80-95 d1 s1", _png(dithering=1.0, speed=1)),
        Variant("bicubic 90-100", _png(quality_min=90, quality_max=100), "bicubic"),
        Variant("hamming 80-95", _png(), "hamming"),
        Variant("hamming 90-100", _png(quality_min=90, quality_max=100), "hamming"),
        Variant("box 80-95", _png(), "box"),
        Variant("box 80-97 d0", _png(quality_max=97, dithering=0.0), "box"),
        Variant("box 80-98 d0", _png(quality_max=98, dithering=0.0), "box"),
        Variant("box 90-100", _png(quality_min=90, quality_max=100), "box"),
        Variant(
            "default",
            PngConfig(quality_max=ThumbsConfig().png_quality_max),
            ThumbsConfig().resample,
        ),
        Variant("lanczos rg1 90-100", _png(quality_min=90, quality_max=100), "lanczos-rg1"),
        Variant("lanczos 80-97 d0", _png(quality_max=97, dithering=0.0)),
        Variant("lanczos 80-100 d0", _png(quality_max=100, dithering=0.0)),
        Variant("bicubic 80-97 d0", _png(quality_max=97, dithering=0.0), "bicubic"),
        Variant("hamming 80-95 d0", _png(dithering=0.0), "hamming"),
        Variant("hamming 80-96 d0", _png(quality_max=96, dithering=0.0), "hamming"),
        Variant("hamming 80-97 d0", _png(quality_max=97, dithering=0.0), "hamming"),
        Variant("hamming 80-100 d0", _png(quality_max=100, dithering=0.0), "hamming"),
        Variant("hamming 80-100 d1", _png(quality_max=100, dithering=1.0), "hamming"),
        Variant("hamming 80-100 d1 s6", _png(quality_max=100, dithering=1.0, speed=6), "hamming"),
        Variant("hamming 80-97 d1 s6", _png(quality_max=97, dithering=1.0, speed=6), "hamming"),
        Variant("hamming 80-97 d0.5 s6", _png(quality_max=97, dithering=0.5, speed=6), "hamming"),
        Variant("hamming 80-97 d1 s5", _png(quality_max=97, dithering=1.0, speed=5), "hamming"),
        Variant("hamming 80-95 d1 s6", _png(dithering=1.0, speed=6), "hamming"),
        Variant("hamming 80-100 d0 s1", _png(quality_max=100, dithering=0.0, speed=1), "hamming"),
        Variant(
            "hamming 95-100 d0", _png(quality_min=95, quality_max=100, dithering=0.0), "hamming"
        ),
        Variant(
            "hamming 97-100 d0", _png(quality_min=97, quality_max=100, dithering=0.0), "hamming"
        ),
        Variant(
            "hamming 99-100 d0", _png(quality_min=99, quality_max=100, dithering=0.0), "hamming"
        ),
    ],
    "png": [
        Variant("pngquant", tool="pngquant"),
        Variant("default", PngConfig()),
        Variant("80-95 s4 d0.5 (before)", _png()),
        Variant("80-95 s4 d0.75", _png(dithering=0.75)),
        Variant("80-95 s4 d1", _png(dithering=1.0)),
        Variant("80-95 s6 d0.5", _png(speed=6)),
        Variant("80-95 s6 d1", _png(speed=6, dithering=1.0)),
        Variant("80-95 s3 d0.5", _png(speed=3)),
        Variant("80-95 s4 d0.5 oxi0", _png(optimize_level=0)),
        Variant("80-98 s4 d0.5", _png(quality_max=98)),
        Variant("80-96 s4 d0.5", _png(quality_max=96)),
        Variant("80-97 s4 d0.5", _png(quality_max=97)),
        Variant("80-97 s6 d0.5", _png(quality_max=97, speed=6)),
        Variant("80-97 s4 d0.25", _png(quality_max=97, dithering=0.25)),
        Variant("80-97 s4 d0", _png(quality_max=97, dithering=0.0)),
        Variant("80-97 s4 d0.5 oxi0", _png(quality_max=97, optimize_level=0)),
        Variant("80-98 s6 d0.5", _png(quality_max=98, speed=6)),
        Variant("80-98 s4 d0", _png(quality_max=98, dithering=0.0)),
        Variant("80-95 s4 d0.25", _png(dithering=0.25)),
        Variant("80-95 s4 d0", _png(dithering=0.0)),
        Variant("80-96 s4 d0", _png(quality_max=96, dithering=0.0)),
        Variant("80-96 s5 d0", _png(quality_max=96, dithering=0.0, speed=5)),
        Variant("80-96 s1 d0", _png(quality_max=96, dithering=0.0, speed=1)),
        Variant("80-96 s2 d0", _png(quality_max=96, dithering=0.0, speed=2)),
        Variant("80-96 s3 d0", _png(quality_max=96, dithering=0.0, speed=3)),
    ],
    "gif": [
        Variant("gifski", tool="gifski"),
        Variant("default", gif=AnimationConfig()),
        Variant("q80 d0.25 s3 (before)", gif=_gif()),
        *_gifs(
            "q75 d0.25 s3",
            "q70 d0.25 s3",
            "q80 d0 s3",
            "q75 d0 s5",
            "q80 d0.25 s6",
            "q75 d0.25 s6",
            "q70 d0.5 s6",
            "q70 d0 s6",
            "q65 d0.25 s6",
            "q80 d0.25 s8",
            "q78 d0 s3",
            "q77 d0 s4",
            "q75 d0 s3",
            "q74 d0 s3",
            "q75 d0 s2",
            "q75 d0 s1",
            "q75 d0 s3 tol1",
            "q80 c192 d0 s3",
            "q80 d0 s3 tol8",
            "q75 d0 s3 box",
            "q75 d0 s3 hamming",
            "q70 d0 s3",
            "q65 d0 s3",
            "q60 d0 s3",
            "q55 d0 s3",
            "q50 d0 s3",
            "q60 d0 s6",
            "q60 d0.5 s3",
            "q76 d0 s3",
            "q72 d0 s6",
            "q74 d0 s6",
            "q74 d0 s3 tol8",
            "q74 d0.25 s3",
        ),
    ],
}


def _linear_lanczos(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos in linear light on premultiplied alpha (float planes)."""
    px = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
    alpha = px[..., 3:4]
    rgb = np.where(
        px[..., :3] <= 0.04045, px[..., :3] / 12.92, ((px[..., :3] + 0.055) / 1.055) ** 2.4
    )
    planes = [*np.moveaxis(rgb * alpha, 2, 0), alpha[..., 0]]
    out = [
        np.asarray(Image.fromarray(p, "F").resize(size, Image.Resampling.LANCZOS)) for p in planes
    ]
    a = np.clip(out[3], 0, 1)
    rgb = np.clip(np.stack(out[:3], axis=2) / np.maximum(a, 1e-6)[..., None], 0, 1)
    srgb = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * rgb ** (1 / 2.4) - 0.055)
    return Image.fromarray(np.round(np.dstack([srgb, a]) * 255).astype(np.uint8), "RGBA")


RESIZES: dict[str, Resize] = {
    "lanczos": lambda im, s: im.resize(s, Image.Resampling.LANCZOS),
    "lanczos-rg2": lambda im, s: im.resize(s, Image.Resampling.LANCZOS, reducing_gap=2.0),
    "lanczos-rg1.5": lambda im, s: im.resize(s, Image.Resampling.LANCZOS, reducing_gap=1.5),
    "lanczos-rg1": lambda im, s: im.resize(s, Image.Resampling.LANCZOS, reducing_gap=1.0),
    "lanczos-linear": _linear_lanczos,
    "bicubic": lambda im, s: im.resize(s, Image.Resampling.BICUBIC),
    "hamming": lambda im, s: im.resize(s, Image.Resampling.HAMMING),
    "box": lambda im, s: im.resize(s, Image.Resampling.BOX),
}


def cropped_set(
    i: int, cfg: Config
) -> tuple[str, dict[int, Image.Image], bool, tuple[int, int, int, int], int]:
    """A corpus set's frames cut to the pipeline's own crop box (its plan), the
    box, and the width of the uncut frames."""
    folder = CORPUS / "v2-1000px"
    name = set_name(i)
    paths = dataclasses.replace(cfg.paths, raw=folder)
    (source,) = find_sets(dataclasses.replace(cfg, paths=paths), [name])
    options = BuildOptions(("thumbs",), dry_run=True)
    whole: dict[int, Image.Image] = {}  # the frames the probe decoded, kept when small
    plan = probe_set(plan_set(source, cfg, Manifest(), options), keep=whole)
    assert plan.crop is not None, f"{name}: {plan.defects or plan.error}"
    for k, path in source.frames.items():
        if k not in whole:
            whole[k] = read_pixels(path, cfg.frames)[0]
    frames = {k: image.crop(plan.crop) for k, image in whole.items()}
    return name, frames, plan.has_alpha, plan.crop, whole[1].width


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def run_set(
    what: str, i: int, variants: list[Variant], s2_frames: tuple[int, ...]
) -> dict[str, Any]:
    cfg = Config()
    page = rgb(cfg.animation.background)
    name, frames, alpha, box, canvas = cropped_set(i, cfg)
    w, h = frames[1].size
    size = {  # of every output this sweep makes
        "gif": animation_size(w, h, cfg.animation),
        "thumb": fit_size(w, h, cfg.thumbs.width, cfg.thumbs.height),
    }.get(what, (w, h))
    drawn = {
        k: drawn_references(name, k, canvas, box, {size}, page) if size != (w, h) else {}
        for k in SCORED
    }
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        if any(v.tool for v in variants):
            for k, image in frames.items():
                (image if alpha else image.convert("RGB")).save(src / f"{k}.png", compress_level=1)
        for v in variants:
            made: dict[int, np.ndarray] = {}
            total = 0
            cpu0, child0 = time.process_time(), _children_cpu()
            if what == "gif":
                if v.tool:
                    out = src / "out.gif"
                    files = [str(src / f"{k}.png") for k in FRAMES]
                    subprocess.run(
                        [
                            str(GIFSKI),
                            "--quiet",
                            "--fps",
                            "10",
                            "-W",
                            str(size[0]),
                            "-o",
                            str(out),
                            *files,
                        ],
                        check=True,
                    )
                    data = out.read_bytes()
                else:
                    assert v.gif is not None
                    if v.resize == "lanczos":
                        anim = [np.asarray(fit_frame(frames[k], size)) for k in FRAMES]
                    else:
                        anim = [np.asarray(RESIZES[v.resize](frames[k], size)) for k in FRAMES]
                    data = encode_gif(anim, alpha, gif_settings(v.gif))
                total = len(data)
                decoded = decode_gif(_saved(src, data))
                made = {k: decoded[k - 1] for k in SCORED}
            else:
                ks = FRAMES if what == "thumb" else SCORED
                for k in ks:
                    if v.tool == "vipsthumbnail":
                        out = src / f"{k}-thumb.png"
                        subprocess.run(
                            [
                                "vipsthumbnail",
                                str(src / f"{k}.png"),
                                "-s",
                                f"{cfg.thumbs.width}x{cfg.thumbs.height}",
                                "-o",
                                str(out),
                            ],
                            check=True,
                        )
                        data = out.read_bytes()
                    elif v.tool == "pngquant":
                        out = src / f"{k}-q.png"
                        code = subprocess.run(
                            [
                                "pngquant",
                                "--quality",
                                "80-95",
                                "--force",
                                "--output",
                                str(out),
                                str(src / f"{k}.png"),
                            ]
                        ).returncode
                        data = (out if code == 0 else src / f"{k}.png").read_bytes()
                    else:
                        assert v.png is not None
                        image = (
                            RESIZES[v.resize](frames[k], size)
                            if frames[k].size != size
                            else frames[k]
                        )
                        data = png_bytes(image, alpha, png_settings(v.png))
                    total += len(data)
                    if k in SCORED:
                        made[k] = _decode_png(data)
            cpu = time.process_time() - cpu0 + _children_cpu() - child0
            scores: dict[str, list[float]] = {}
            for k, got in made.items():
                shape = got.shape[1::-1]
                ref, mask = reference(frames[k], shape, alpha, page, cfg, drawn[k].get(shape))
                for metric, value in score(ref, composite(got, page), mask, k in s2_frames).items():
                    scores.setdefault(metric, []).append(value)
            rows[v.name] = {"bytes": total, "cpu": cpu, "scores": scores}
    return {"set": name, "alpha": alpha, "rows": rows}


def _saved(folder: Path, data: bytes) -> Path:
    path = folder / "ours.gif"
    path.write_bytes(data)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=sorted(VARIANTS))
    parser.add_argument("--sets", type=int, default=4)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument(
        "--s2", default="", help="frames scored with SSIMULACRA2 (default per kind)"
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    variants = VARIANTS[args.what]
    if args.only:
        wanted = args.only.split(",")
        variants = [v for v in variants if v.name in wanted]
    default_s2 = {"thumb": SCORED, "png": (1,), "gif": (1, 9)}[args.what]
    s2 = tuple(int(k) for k in args.s2.split(",")) if args.s2 else default_s2
    with cf.ProcessPoolExecutor(args.jobs) as pool:
        per_set = list(
            pool.map(
                run_set,
                [args.what] * args.sets,
                range(args.sets),
                [variants] * args.sets,
                [s2] * args.sets,
            )
        )
    print(f"{args.what}: {args.sets} sets, scored frames {SCORED}, SSIMULACRA2 on {s2}")
    print("| variant | KiB | CPU s | PSNR | SSIM | S2 |")
    print("|---|---|---|---|---|---|")
    for v in variants:
        rows = [s["rows"][v.name] for s in per_set]
        kib = sum(r["bytes"] for r in rows) / 1024
        cpu = sum(r["cpu"] for r in rows)
        metric = {
            m: np.mean([x for r in rows for x in r["scores"].get(m, [])])
            for m in ("psnr", "ssim", "ssimulacra2")
        }
        print(
            f"| {v.name} | {kib:,.1f} | {cpu:.1f} | {metric['psnr']:.3f} "
            f"| {metric['ssim']:.4f} | {metric['ssimulacra2']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
