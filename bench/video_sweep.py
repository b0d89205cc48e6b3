"""Sweep WebM and MP4 encoder settings on the web corpus, through the pipeline's
own video code (``pipeline.video``: the Safari-safe composite included), scored
like ``bench.web`` (PSNR, SSIM, SSIMULACRA2 of the visible pixels on the page
colour, against the scene drawn at the animation size), beside the recipe's ffmpeg
commands on the same cropped frames.

    python -m bench.video_sweep --sets 4 webm:cpu=2,crf=30 mp4:preset=slow,crf=22
    python -m bench.video_sweep --sets 4 --threads 2 webm:cpu=4,crf=30,opaque_crf=33

A candidate is ``kind:key=value,...``; keys: ``crf``, ``opaque_crf`` (WebM: CRF
of opaque sets; with ``crf`` alone every set uses it), ``cpu`` (VP9 cpu-used),
``preset``, ``tune``, ``subme`` (x264; ``none``: the preset's), and ``x=``
extra ffmpeg codec options joined by ``+`` (``x=-aq-mode+2``). A key left out
takes the config's default. CPU seconds are
those of this process and its ffmpeg children for the encode and its check,
summed over the sets.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench import web
from pipeline.build import find_sets
from pipeline.codecs import video
from pipeline.codecs.pixels import composite, rgb
from pipeline.config import AnimationConfig, Config
from pipeline.plan import BuildOptions, plan_set, probe_set
from pipeline.sources.frames import read_pixels
from pipeline.stages import SetPixels
from pipeline.stages.animation import (
    animation_frames,
    mp4_settings,
    webm_settings,
)
from pipeline.state.manifest import Manifest

SCORED = (1, 5, 9, 13)
PERCEPTUAL = (1, 9)


class Corpus:
    """One set's animation-size frames as the build makes them, its references."""

    def __init__(self, folder: Path, set_id: str, cfg: Config, work: Path) -> None:
        paths = dataclasses.replace(cfg.paths, raw=folder)
        (source,) = find_sets(dataclasses.replace(cfg, paths=paths), [set_id])
        options = BuildOptions(("animate",), dry_run=True)
        plan = probe_set(plan_set(source, cfg, Manifest(), options))
        gif = plan.output("animate", "gif")
        assert plan.crop is not None and gif is not None, f"{set_id}: {plan.defects}"
        box = plan.crop
        cropped = {
            k: read_pixels(path, cfg.frames)[0].crop(box) for k, path in source.frames.items()
        }
        pixels = SetPixels(set_id, plan.has_alpha, cropped)
        self.set_id, self.has_alpha = set_id, plan.has_alpha
        self.size = (gif.width, gif.height)
        self.frames = [np.array(f) for f in animation_frames(pixels, range(1, 17), self.size)]
        self.page = rgb(cfg.animation.background)
        self.refs = {}
        for k in SCORED:
            with Image.open(folder / f"{set_id}-{k}.png") as opened:
                canvas, whole = opened.width, opened.convert("RGBA")
            drawn = web.drawn_references(set_id, k, canvas, box, {self.size}, self.page)
            self.refs[k] = web.reference(
                whole.crop(box), self.size, self.has_alpha, self.page, cfg, drawn[self.size]
            )
        self.cropped = work / "cropped" / set_id
        self.cropped.mkdir(parents=True, exist_ok=True)
        for k, image in pixels.frames.items():
            mode = "RGBA" if self.has_alpha else "RGB"
            image.convert(mode).save(self.cropped / f"{set_id}-{k}.png", compress_level=1)

    def scores(self, path: Path) -> dict[str, float]:
        decoded = web.decode_video(path)
        values: dict[str, list[float]] = {}
        for k in SCORED:
            ref, mask = self.refs[k]
            got = web.score(ref, composite(decoded[k - 1], self.page), mask, k in PERCEPTUAL)
            if k == 1:
                values.setdefault("s2_f1", []).append(got["ssimulacra2"])
            for metric, value in got.items():
                values.setdefault(metric, []).append(value)
        return {m: float(np.mean(v)) for m, v in values.items()}


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def parse(candidate: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = candidate.partition(":")
    options = dict(item.split("=", 1) for item in rest.split(",") if item)
    return kind, options


def encode(c: Corpus, kind: str, options: dict[str, str], dest: Path) -> None:
    """One set through ``pipeline.video``; ``x`` options go in before the muxer."""
    extra = options.get("x", "").replace("+", " ").split()
    original = video._run_ffmpeg

    def with_extra(*args: Any) -> None:
        frames, pix_fmt, duration_ms, data, codec, *rest = args
        at = codec.index("-f")
        original(frames, pix_fmt, duration_ms, data, [*codec[:at], *extra, *codec[at:]], *rest)

    video._run_ffmpeg = with_extra  # type: ignore[assignment]
    a = AnimationConfig()  # the defaults, for the keys a candidate does not name
    try:
        if kind == "webm":
            webm = webm_settings(a, c.has_alpha)
            crf = options.get("crf" if c.has_alpha else "opaque_crf", options.get("crf"))
            webm = dataclasses.replace(
                webm,
                crf=int(crf) if crf else webm.crf,
                cpu_used=int(options.get("cpu", webm.cpu_used)),
            )
            video.encode_webm(c.frames, c.has_alpha, webm, dest)
        else:
            mp4 = mp4_settings(a)
            tune, subme = options.get("tune", mp4.tune), options.get("subme", mp4.subme)
            mp4 = dataclasses.replace(
                mp4,
                crf=int(options.get("crf", mp4.crf)),
                preset=options.get("preset", mp4.preset),
                tune=tune,
                subme=None if subme in (None, "none") else int(subme),
            )
            video.encode_mp4(c.frames, mp4, dest)
    finally:
        video._run_ffmpeg = original


def recipe(c: Corpus, kind: str, dest: Path) -> None:
    """The recipe's command (bench/recipe.sh) on this set's cropped frames."""
    width, height = Image.open(c.cropped / f"{c.set_id}-1.png").size
    ff = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-framerate", "10"]
    ff += ["-i", str(c.cropped / f"{c.set_id}-%d.png")]
    if kind == "mp4":
        graph = (
            f"color=c=white:s={width}x{height}:r=10[bg];[bg][0:v]overlay=shortest=1,"
            f"scale={c.size[0]}:-2"
        )
        ff += ["-filter_complex", graph, "-c:v", "libx264", "-crf", "23", "-pix_fmt", "yuv420p"]
        ff += ["-movflags", "+faststart", str(dest)]
    else:
        ff += ["-vf", f"scale={c.size[0]}:-2", "-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0"]
        ff += ["-pix_fmt", "yuva420p", str(dest)]
    subprocess.run(ff, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=4)
    parser.add_argument("--threads", type=int, default=video.ENCODER_THREADS)
    parser.add_argument("--no-recipe", action="store_true")
    parser.add_argument("candidates", nargs="*")
    args = parser.parse_args(argv)
    video.ENCODER_THREADS = args.threads
    cfg = Config()
    folder = web.ensure_corpus(args.sets, 1000)
    with tempfile.TemporaryDirectory(prefix="video-sweep-") as tmp:
        work = Path(tmp)
        sets = [Corpus(folder, web.set_name(i), cfg, work) for i in range(args.sets)]
        runs = [("recipe", kind) for kind in ("webm", "mp4") if not args.no_recipe]
        rows: list[tuple[str, dict[str, Any]]] = []
        for name, kind in [*runs, *((c, "") for c in args.candidates)]:
            totals: dict[str, Any] = {"kib": 0.0, "cpu": 0.0, "rgba_kib": 0.0, "scores": {}}
            for c in sets:
                ext = kind or parse(name)[0]
                dest = work / f"{c.set_id}.{ext}"
                before, wall = cpu(), time.perf_counter()
                if name == "recipe":
                    recipe(c, kind, dest)
                else:
                    encode(c, *parse(name), dest)
                totals["cpu"] += cpu() - before
                totals["wall"] = totals.get("wall", 0.0) + time.perf_counter() - wall
                size = dest.stat().st_size / 1024
                totals["kib"] += size
                totals["rgba_kib"] += size if c.has_alpha else 0.0
                for metric, value in c.scores(dest).items():
                    totals["scores"].setdefault(metric, []).append(value)
                    group = "a_" if c.has_alpha else "o_"
                    totals["scores"].setdefault(group + metric, []).append(value)
            label = f"recipe {kind}" if name == "recipe" else name
            rows.append((label, totals))
            print(row(label, totals), flush=True)
    return 0


def row(label: str, t: dict[str, Any]) -> str:
    s = {m: float(np.mean(v)) for m, v in t["scores"].items()}
    return (
        f"| {label} | {t['kib']:.0f} ({t['rgba_kib']:.0f}) | {t['cpu']:.1f} | "
        f"{s['psnr']:.3f} | {s['ssim']:.4f} | {s['s2_f1']:.2f} | {s['ssimulacra2']:.2f} | "
        + " | ".join(
            f"{s[g + 'psnr']:.3f} / {s[g + 'ssim']:.4f} / {s[g + 's2_f1']:.2f}"
            for g in ("a_", "o_")
            if g + "psnr" in s
        )
        + " |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
