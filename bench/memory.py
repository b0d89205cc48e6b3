"""Peak memory of a build of one set of very large frames.

    python -m bench.memory                # what `make bench-memory` runs
    python -m bench.memory --size 4000    # a quicker look

Generates (once, cached under bench/corpus/) one set of 16 RGBA frames of
8000x8000: a transparent canvas with a shaded disc and a bar turning about the
centre, as renders are (the object fills a small part of the canvas); they
compress well and take seconds to make. Then builds it at --jobs 1 (and at all
cores) in a child process, sampling the resident memory of the whole process
tree (bench/build.py's sampler), and reports the peak beside the seconds spent
probing frames for the crop box (the first of the two reads of each frame) and
decoding them for their pixels (the second). Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bench.build import CORES, CORPUS, RESULTS, WORK, build, machine

FRAMES = 16
TARGET_MIB = 1200  # the promise for 16 frames of 8000x8000 at --jobs 1


def frame(k: int, size: int) -> Image.Image:
    """A frame with a disc orbiting the centre and a fixed bar, a fifth of the canvas."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    angle = 2 * math.pi * (k - 1) / FRAMES
    r = size * 0.05
    cx = size / 2 + size * 0.08 * math.cos(angle)
    cy = size / 2 + size * 0.03 * math.sin(angle)
    for step in range(8):  # shading rings, so encoders have something to do
        shade = 90 + 20 * step
        rr = r * (1 - step / 10)
        draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=(shade, 60, 50, 255))
    bar = size * 0.015
    draw.rectangle(
        (size / 2 - bar, size * 0.4, size / 2 + bar, size * 0.6), fill=(180, 90, 60, 255)
    )
    return image


def corpus(size: int) -> Path:
    folder = CORPUS / f"memory-{size}px"
    if not (folder / f"Big-{FRAMES}.png").is_file():
        print(f"generating {FRAMES} frames of {size}x{size} into {folder} ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(1, FRAMES + 1):
            frame(k, size).save(folder / f"Big-{k}.png", compress_level=1)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000)
    args = parser.parse_args()
    raw = corpus(args.size)
    res: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "set": {"frames": FRAMES, "size": args.size},
    }
    for jobs in sorted({1, CORES}):
        out = WORK / f"memory-out-{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        run = build(raw, out, jobs)
        stages = run["stage_seconds"]
        res[f"jobs{jobs}"] = {
            "ok": run["ok"],
            "peak_rss_mib": run["peak_rss_mib"],
            "seconds": round(run["wall"], 1),
            "probe_seconds": round(stages.get("probe", 0.0), 2),
            "decode_seconds": round(stages.get("decode", 0.0), 2),
        }
        print(f"--jobs {jobs}: {json.dumps(res[f'jobs{jobs}'])}", flush=True)
    one = res["jobs1"]
    verdict = "under" if one["peak_rss_mib"] < TARGET_MIB else "OVER"
    table = (
        f"Benchmark `make bench-memory`, {res['date']}, {res['machine']}; one set of "
        f"{FRAMES} RGBA frames of {args.size}x{args.size}, default settings.\n\n"
        "| jobs | peak RSS, process tree | build | first read (probe) | second read (pixels) |\n"
        "| --- | --- | --- | --- | --- |\n"
        + "".join(
            f"| {jobs} | {r['peak_rss_mib']} MiB | {r['seconds']} s | "
            f"{r['probe_seconds']} s | {r['decode_seconds']} s |\n"
            for jobs in sorted({1, CORES})
            if (r := res[f"jobs{jobs}"])
        )
        + f"\n--jobs 1 peak: {one['peak_rss_mib']} MiB, {verdict} the {TARGET_MIB} MiB target.\n"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory-latest.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    (RESULTS / "memory-latest.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
