"""Benchmark of builds on a Dask cluster against the local worker pool.

    python -m bench.cluster              # what `make bench-dask` runs
    python -m bench.cluster --sets 4     # a quick look

(As a module: it imports bench/build.py as ``bench.build``.)

The corpus is bench/build.py's (the same rendered sets, cached under
bench/corpus/). The same full build runs three ways through the CLI: the local
pool on every core, and ``--scheduler`` against a Dask cluster on this machine
with 1 and with 2 one-thread worker processes (``LocalCluster``, started before
the clock runs, as a lab's standing cluster would be). Wall time is the CLI's,
start-up and the cluster round trips included; every build's bytes are checked
against the local one. The two are not quite the same work: the cluster's
workers are started (and their imports done) before the clock runs, and they are
not held to the local pool's ``build.encoders`` limit on ffmpeg processes at
once; the cluster pays for sending frames and outputs through sockets instead.
Compare runs on an idle machine (the table shows the load average).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.build import (
    CORES,
    RESULTS,
    WORK,
    corpus,
    fresh_copy,
    machine,
    measured,
    settings,
    tree_bytes,
)


def cli_build(raw: Path, out: Path, name: str, *extra: str) -> float:
    """Wall seconds of a full ``muscle-assets build`` into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    config = WORK / f"dask-{name}.yaml"
    config.write_text(json.dumps(settings(None, raw, out)), encoding="utf-8")
    command = [str(Path(sys.executable).parent / "muscle-assets"), "build", "-q"]
    seconds, _, _, _ = measured([*command, "--config", str(config), *extra])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=18, help="sets of 16 frames")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--supersample", type=int, default=1)
    args = parser.parse_args()
    try:
        from distributed import LocalCluster
    except ImportError:
        raise SystemExit("bench.cluster needs Dask: pip install 'muscle-assets[dask]'") from None
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = fresh_copy(corpus(args.sets, args.size, args.supersample), "raw-dask", args.sets)
    print(f"corpus: {args.sets} sets x 16 frames, {args.size} px; {CORES} cores", flush=True)
    local_out = WORK / "out-dask-local"
    rows: list[dict[str, Any]] = []
    wall = cli_build(raw, local_out, "local", "--jobs", str(CORES))
    rows.append({"how": f"local pool, --jobs {CORES}", "wall": wall, "identical": True})
    print(f"{rows[-1]['how']}: {wall:.1f} s", flush=True)
    expected = tree_bytes(local_out)
    for workers in (1, 2):
        with LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            out = WORK / f"out-dask-{workers}"
            wall = cli_build(raw, out, f"{workers}", "--scheduler", cluster.scheduler_address)
        how = f"Dask, {workers} worker(s) x 1 thread"
        rows.append({"how": how, "wall": wall, "identical": tree_bytes(out) == expected})
        print(f"{how}: {wall:.1f} s", flush=True)
    res = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "corpus": {"sets": args.sets, "frames": args.sets * 16, "size": args.size},
        "builds": rows,
    }
    table = render_table(res)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(res, indent=2)
    (RESULTS / f"dask-{stamp}.json").write_text(text, encoding="utf-8")
    (RESULTS / "dask-latest.json").write_text(text, encoding="utf-8")
    (RESULTS / "dask-latest.md").write_text(table, encoding="utf-8")
    print(table)


def render_table(res: dict[str, Any]) -> str:
    c = res["corpus"]
    lines = [
        f"Full build of {c['sets']} sets ({c['frames']} frames, {c['size']} px) on "
        f"{res['machine']}, {res['date']}",
        "",
        "| build | wall (s) | vs local pool | bytes identical to local |",
        "|---|---:|---:|---|",
    ]
    base = res["builds"][0]["wall"]
    for row in res["builds"]:
        same = "yes" if row["identical"] else "NO"
        lines.append(f"| {row['how']} | {row['wall']:.1f} | {row['wall'] / base:.2f}x | {same} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
