"""Animation benchmark: our GIF, WebM and MP4 against the usual tools, side by side.

Renders a corpus of 1000 px orientation sets once (cached under ``bench/corpus/``),
crops and resizes each set with the pipeline, and hands exactly those frames to
every encoder, so only the encoders differ. For each output it reports the size and
the "muscle PSNR": PSNR over the pixels whose source alpha is > 0, source and
decoded output both composited over white. It also reports the PSNR of the fully
opaque pixels alone ("inner"), so edge handling and interior quality can be told
apart. A reference tool that is not installed is reported as missing.

    make bench-animation
    python -m bench.animation --sets 4 --width 800      # the same, by hand

References: gifski (npm package ``gifski``, found in ``bench/.tools`` or on PATH),
ImageMagick ``-layers Optimize`` + ``gifsicle -O3`` (Debian packages
``imagemagick`` and ``gifsicle``), ffmpeg ``palettegen``/``paletteuse``, ffmpeg
H.264 CRF 23 and VP9 (alpha) CRF 32 with default settings. ffmpeg is the one
imageio-ffmpeg bundles.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.build import find_sets
from pipeline.codecs.gif import encode_gif
from pipeline.codecs.pixels import composite, rgb
from pipeline.codecs.video import (
    encode_mp4,
    encode_webm,
    ffmpeg_exe,
    ffmpeg_version,
)
from pipeline.config import AnimationConfig, Config, load_config
from pipeline.plan import BuildOptions, plan_set, probe_set
from pipeline.sources.frames import decode
from pipeline.stages.animation import fit_frame, gif_settings, mp4_settings, webm_settings
from pipeline.state.manifest import Manifest
from scripts.render_sample import render_set

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 16


@dataclass
class Outcome:
    """One encoder on one set: its size and quality, or why it did not run."""

    tool: str
    kind: str  # gif or video
    bytes: int = 0
    psnr: float = math.nan
    inner_psnr: float = math.nan
    frames: int = 0
    seconds: float = 0.0
    missing: str | None = None


@dataclass(frozen=True)
class SetFrames:
    set_id: str
    has_alpha: bool
    frames: list[np.ndarray]  # cropped, resized RGBA
    folder: Path  # the same frames as PNGs (RGBA or RGB) for the reference tools
    flat_folder: Path  # composited on the background, RGB, for the H.264 reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=4, help="sets in the corpus")
    parser.add_argument("--size", type=int, default=1000, help="render size in px")
    parser.add_argument("--width", type=int, help="animation width [animation.width]")
    parser.add_argument("--config", type=Path, help="pipeline config for our encoders")
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench" / "corpus")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--tools", type=Path, default=ROOT / "bench" / ".tools")
    parser.add_argument("--only", default="", help="comma-separated tools to run")
    args = parser.parse_args(argv)
    cfg = load_config(args.config) if args.config else Config()
    anim = cfg.animation
    if args.width:
        anim = dataclasses.replace(anim, width=args.width)
    raw = ensure_corpus(args.corpus, args.size, args.sets)
    tools = reference_tools(args.tools)
    chosen = set(filter(None, args.only.split(",")))
    results: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-animation-") as tmp:
        for set_id in [f"Bench-M{i:03d}" for i in range(args.sets)]:
            frames = prepare(raw, set_id, cfg, anim, Path(tmp) / set_id)
            height, width = frames.frames[0].shape[:2]
            print(f"{set_id}: {'RGBA' if frames.has_alpha else 'RGB'} {width}x{height}", flush=True)
            outcomes = []
            for name, kind, run in encoders(anim, tools):
                if chosen and name not in chosen:
                    continue
                outcome = measure(name, kind, run, frames, Path(tmp) / set_id)
                outcomes.append(outcome)
                print(f"  {describe(outcome)}", flush=True)
            results[set_id] = outcomes
    report = summarise(results, anim, args, tools)
    print()
    print(report["table"])
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"animation-{stamp}.json"
    out.write_text(json.dumps(report["json"], indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


# -- corpus and frames ----------------------------------------------------------


def ensure_corpus(corpus: Path, size: int, sets: int) -> Path:
    """Render missing sets (even ids transparent, odd ones on white), once."""
    raw = corpus / f"raw-{size}"
    raw.mkdir(parents=True, exist_ok=True)
    for i in range(sets):
        set_id = f"Bench-M{i:03d}"
        if all((raw / f"{set_id}-{k}.png").is_file() for k in range(1, FRAMES + 1)):
            continue
        print(f"rendering {set_id} at {size} px (cached in {raw})", flush=True)
        render_set(raw, set_id, i % 2 == 0, 100 + i, size, FRAMES)
    return raw


def prepare(raw: Path, set_id: str, cfg: Config, anim: AnimationConfig, tmp: Path) -> SetFrames:
    """Decode, crop with the shared crop, resize to the animation size: what every
    encoder gets. The crop box and the size are the pipeline's plan of the set."""
    (source,) = find_sets(cfg, [set_id])
    plan = probe_set(plan_set(source, cfg, Manifest(), BuildOptions(("animate",), dry_run=True)))
    gif = plan.output("animate", "gif")
    assert plan.crop is not None and gif is not None, f"{set_id}: {plan.defects or plan.error}"
    box, size, first = plan.crop, (gif.width, gif.height), plan.probes[min(plan.probes)]
    decoded = [decode(path, k, cfg.frames) for k, path in sorted(source.frames.items())]
    frames = [np.asarray(fit_frame(f.image.crop(box), size)) for f in decoded]
    background = rgb(anim.background)
    folder, flat = tmp / "frames", tmp / "flat"
    folder.mkdir(parents=True)
    flat.mkdir()
    for k, pixels in enumerate(frames, start=1):
        image = Image.fromarray(pixels, "RGBA")
        (image if first.has_alpha else image.convert("RGB")).save(folder / f"f{k:02d}.png")
        Image.fromarray(composite(pixels, background), "RGB").save(flat / f"f{k:02d}.png")
    return SetFrames(set_id, first.has_alpha, frames, folder, flat)


# -- encoders -------------------------------------------------------------------

Runner = Callable[[SetFrames, Path], Path]


@dataclass(frozen=True)
class Tools:
    gifski: str | None
    magick: list[str] | None
    gifsicle: str | None
    ffmpeg: str


def reference_tools(folder: Path) -> Tools:
    local = folder / "node_modules" / "gifski" / "bin" / "debian" / "gifski"
    gifski = str(local) if local.is_file() else shutil.which("gifski")
    return Tools(gifski, _imagemagick(), shutil.which("gifsicle"), ffmpeg_exe())


def _imagemagick() -> list[str] | None:
    """ImageMagick 7 ``magick`` or 6 ``convert`` (checked: some systems have a
    different ``convert``)."""
    for name in ("magick", "convert-im6.q16", "convert"):
        path = shutil.which(name)
        if path is None:
            continue
        probe = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
        if "ImageMagick" in probe.stdout:
            return [path]
    return None


def encoders(anim: AnimationConfig, tools: Tools) -> list[tuple[str, str, Runner | str]]:
    """(name, kind, runner or the reason it is missing)."""
    delay_cs = max(2, round(anim.duration_ms / 10))
    rate = f"{1000}/{anim.duration_ms}"
    ffmpeg = [tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-framerate", rate]

    def ours_gif(s: SetFrames, out: Path) -> Path:
        dest = out / "ours.gif"
        dest.write_bytes(encode_gif(s.frames, s.has_alpha, gif_settings(anim)))
        return dest

    def ours_webm(s: SetFrames, out: Path) -> Path:
        dest = out / "ours.webm"
        encode_webm(s.frames, s.has_alpha, webm_settings(anim, s.has_alpha), dest)
        return dest

    def ours_mp4(s: SetFrames, out: Path) -> Path:
        dest = out / "ours.mp4"
        encode_mp4(s.frames, mp4_settings(anim), dest)
        return dest

    def gifski(s: SetFrames, out: Path) -> Path:
        assert tools.gifski
        height, width = s.frames[0].shape[:2]
        dest = out / "gifski.gif"
        pngs = sorted(str(p) for p in s.folder.glob("f*.png"))
        fps = str(1000 / anim.duration_ms)
        size = ["-W", str(width), "-H", str(height)]
        _run([tools.gifski, "-q", "--fps", fps, *size, "-o", str(dest), *pngs])
        return dest

    def magick(s: SetFrames, out: Path) -> Path:
        assert tools.magick and tools.gifsicle
        first, dest = out / "magick.gif", out / "magick-gifsicle.gif"
        pngs = sorted(str(p) for p in s.folder.glob("f*.png"))
        timing = ["-delay", str(delay_cs), "-loop", "0"]
        _run([*tools.magick, *timing, *pngs, "-layers", "Optimize", str(first)])
        _run([tools.gifsicle, "-O3", str(first), "-o", str(dest)])
        return dest

    def palettegen(s: SetFrames, out: Path) -> Path:
        dest = out / "ffmpeg.gif"
        graph = "split[a][b];[a]palettegen[p];[b][p]paletteuse"
        _run([*ffmpeg, "-i", str(s.folder / "f%02d.png"), "-lavfi", graph, "-loop", "0", str(dest)])
        return dest

    def h264(s: SetFrames, out: Path) -> Path:
        dest = out / "ffmpeg.mp4"
        codec = ["-c:v", "libx264", "-crf", "23", "-pix_fmt", "yuv420p"]
        _run([*ffmpeg, "-i", str(s.flat_folder / "f%02d.png"), *codec, str(dest)])
        return dest

    def vp9(s: SetFrames, out: Path) -> Path:
        dest = out / "ffmpeg.webm"
        pix = "yuva420p" if s.has_alpha else "yuv420p"
        codec = ["-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-pix_fmt", pix]
        _run([*ffmpeg, "-i", str(s.folder / "f%02d.png"), *codec, str(dest)])
        return dest

    need_magick = "missing: ImageMagick" if not tools.magick else "missing: gifsicle"
    return [
        ("ours-gif", "gif", ours_gif),
        ("gifski-1.7", "gif", gifski if tools.gifski else "missing: gifski"),
        ("magick+gifsicle", "gif", magick if tools.magick and tools.gifsicle else need_magick),
        ("ffmpeg-palette", "gif", palettegen),
        ("ours-webm", "webm", ours_webm),
        ("ffmpeg-vp9-crf32", "webm", vp9),
        ("ours-mp4", "mp4", ours_mp4),
        ("ffmpeg-h264-crf23", "mp4", h264),
    ]


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")


def measure(name: str, kind: str, run: Runner | str, s: SetFrames, tmp: Path) -> Outcome:
    if isinstance(run, str):
        return Outcome(name, kind, missing=run)
    out = tmp / name
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        path = run(s, out)
    except (RuntimeError, OSError) as exc:
        return Outcome(name, kind, missing=f"failed: {exc}")
    seconds = time.perf_counter() - started
    decoded = decode_gif(path) if kind == "gif" else decode_video(path)
    psnr, inner = muscle_psnr(s.frames, decoded)
    return Outcome(name, kind, path.stat().st_size, psnr, inner, len(decoded), seconds)


# -- decoding and quality -------------------------------------------------------


def decode_gif(path: Path) -> list[np.ndarray]:
    """Every frame as shown (disposal applied), RGBA."""
    frames = []
    with Image.open(path) as image:
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGBA")))
    return frames


def decode_video(path: Path) -> list[np.ndarray]:
    """Decode with ffmpeg to RGBA; WebM through libvpx-vp9, the decoder that reads
    the alpha plane."""
    probe = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    )
    width, height = _dimensions(probe.stderr)
    pre = ["-c:v", "libvpx-vp9"] if path.suffix == ".webm" else []
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *pre, "-i", str(path),
            "-f", "rawvideo", "-pix_fmt", "rgba", "-fps_mode", "passthrough", "pipe:1"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, check=True)
    data = np.frombuffer(done.stdout, dtype=np.uint8)
    return list(data.reshape(-1, height, width, 4))


def _dimensions(text: str) -> tuple[int, int]:

    match = re.search(r"Video: .*?, (\d+)x(\d+)", text)
    if match is None:
        raise RuntimeError(f"cannot read video size from ffmpeg: {text[-200:]}")
    return int(match[1]), int(match[2])


def muscle_psnr(sources: list[np.ndarray], decoded: list[np.ndarray]) -> tuple[float, float]:
    """PSNR over pixels with source alpha > 0 (and over alpha == 255), both
    composited over white; frames beyond the shorter list count as missing."""
    if len(sources) != len(decoded):
        return math.nan, math.nan
    white = (255, 255, 255)
    se_all = se_inner = 0.0
    n_all = n_inner = 0
    for source, got in zip(sources, decoded, strict=True):
        ref = composite(source, white).astype(np.float64)
        out = composite(got, white).astype(np.float64)
        err = ((ref - out) ** 2).sum(axis=2)
        visible, inner = source[..., 3] > 0, source[..., 3] == 255
        se_all += float(err[visible].sum())
        n_all += int(visible.sum()) * 3
        se_inner += float(err[inner].sum())
        n_inner += int(inner.sum()) * 3
    return _psnr(se_all, n_all), _psnr(se_inner, n_inner)


def _psnr(squared_error: float, count: int) -> float:
    if count == 0:
        return math.nan
    if squared_error == 0:
        return math.inf
    return 10 * math.log10(255**2 / (squared_error / count))


# -- report ---------------------------------------------------------------------


def describe(o: Outcome) -> str:
    if o.missing:
        return f"{o.tool:<18} {o.missing}"
    return (
        f"{o.tool:<18} {o.bytes / 1024:8.1f} KiB  {o.psnr:6.2f} dB  inner {o.inner_psnr:6.2f} dB"
        f"  {o.frames} frames  {o.seconds:5.1f} s"
    )


def summarise(
    results: dict[str, list[Outcome]], anim: AnimationConfig, args: argparse.Namespace, tools: Tools
) -> dict[str, Any]:
    names = [o.tool for o in next(iter(results.values()))]
    by_tool = {n: [o for outs in results.values() for o in outs if o.tool == n] for n in names}
    set_ids = list(results)
    lines = [
        f"median per {FRAMES}-frame set over {len(set_ids)} sets "
        f"({args.size} px renders, animation width {anim.width}); "
        "muscle PSNR over source alpha > 0, over white",
        f"{'tool':<18} {'KiB':>8} {'dB':>7} {'inner dB':>9}   per set (KiB / dB)",
    ]
    medians: dict[str, dict[str, float] | str] = {}
    for name, outs in by_tool.items():
        if any(o.missing for o in outs):
            reason = next(o.missing for o in outs if o.missing)
            medians[name] = str(reason)
            lines.append(f"{name:<18} {reason}")
            continue
        med = {
            "kib": statistics.median(o.bytes / 1024 for o in outs),
            "psnr": statistics.median(o.psnr for o in outs),
            "inner_psnr": statistics.median(o.inner_psnr for o in outs),
        }
        medians[name] = med
        per_set = "  ".join(f"{o.bytes / 1024:.0f}/{o.psnr:.1f}" for o in outs)
        lines.append(
            f"{name:<18} {med['kib']:8.1f} {med['psnr']:7.2f} {med['inner_psnr']:9.2f}   {per_set}"
        )
    verdicts = []
    for ours, ref, target in (
        ("ours-gif", "gifski-1.7", True),
        ("ours-gif", "magick+gifsicle", False),
        ("ours-gif", "ffmpeg-palette", False),
        ("ours-webm", "ffmpeg-vp9-crf32", True),
        ("ours-mp4", "ffmpeg-h264-crf23", True),
    ):
        if ours not in by_tool or ref not in by_tool:
            continue
        if isinstance(medians[ref], str):
            verdicts.append(f"{ours} vs {ref}: reference {medians[ref]}")
            continue
        pairs = list(zip(by_tool[ours], by_tool[ref], strict=True))
        wins = sum(1 for a, b in pairs if a.bytes <= b.bytes and a.psnr >= b.psnr)
        verdict = f"{ours} vs {ref}: smaller and no worse on {wins}/{len(pairs)} sets"
        if target:
            verdict += " - target met" if wins == len(pairs) else " - TARGET MISSED"
        verdicts.append(verdict)
    lines.append("")
    lines.extend(verdicts)
    versions = {
        "ffmpeg": ffmpeg_version(),
        "gifski": _version([tools.gifski, "--version"]) if tools.gifski else None,
        "imagemagick": _version([*tools.magick, "-version"]) if tools.magick else None,
        "gifsicle": _version([tools.gifsicle, "--version"]) if tools.gifsicle else None,
    }
    return {
        "table": "\n".join(lines),
        "json": {
            "render_size": args.size,
            "sets": set_ids,
            "animation": dataclasses.asdict(anim),
            "versions": versions,
            "medians": medians,
            "verdicts": verdicts,
            "results": {
                set_id: [dataclasses.asdict(o) for o in outs] for set_id, outs in results.items()
            },
        },
    }


def _version(args: list[str]) -> str | None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else None


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["decode_gif", "decode_video", "main", "muscle_psnr"]
