"""Render orientation sets of a simple 3D "muscle" turning about its vertical axis.

The shape is a few shaded ellipsoids (a fusiform belly with tendons and an offset
head, so the rotation is visible), ray-cast orthographically with numpy and
supersampled 3x3 for smooth edges. It makes the bundled sample in ``raw/`` and the
benchmark corpus, so both can be regenerated at will:

    python scripts/render_sample.py --out raw             # the bundled sample
    python scripts/render_sample.py --out DIR --size 1000 --sets 12   # a corpus

``--supersample 1`` renders a large corpus about nine times faster (edges are then
aliased, which makes frames a little harder to compress, never easier); ``--jobs``
renders sets in parallel.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_SETS = (("Sample-Fusiform", True, 1), ("Sample-Bipennate", False, 2))
SUPERSAMPLE = 3


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    tilt: float  # radians about the viewing axis, so parts lean
    colour: tuple[float, float, float]


def make_shape(seed: int) -> list[Ellipsoid]:
    """A belly, two tendons and an offset head; the seed varies proportions."""
    rng = random.Random(seed)
    muscle = (0.72 + 0.1 * rng.random(), 0.18 + 0.08 * rng.random(), 0.16 + 0.06 * rng.random())
    tendon = (0.93, 0.88, 0.80)
    lean = (rng.random() - 0.5) * 0.5
    head_x = 0.08 + 0.08 * rng.random()
    return [
        Ellipsoid((0.0, 0.0, 0.0), (0.17, 0.42, 0.13), lean * 0.3, muscle),
        Ellipsoid((head_x, 0.12, 0.06), (0.11, 0.28, 0.09), lean - 0.35, muscle),
        Ellipsoid((0.0, 0.46, 0.0), (0.035, 0.18, 0.03), lean * 0.2, tendon),
        Ellipsoid((0.0, -0.47, 0.0), (0.03, 0.2, 0.03), -lean * 0.2, tendon),
    ]


def render_frame(
    shape: list[Ellipsoid],
    angle: float,
    size: int,
    transparent: bool,
    supersample: int = SUPERSAMPLE,
) -> Image.Image:
    """One orthographic view of ``shape`` turned by ``angle`` about the vertical axis."""
    n = size * supersample
    coords = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    x, y = np.meshgrid(coords, -coords)
    depth = np.full((n, n), np.inf)
    normal = np.zeros((n, n, 3))
    colour = np.zeros((n, n, 3))
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    turn = np.array([[cos_a, 0.0, sin_a], [0.0, 1.0, 0.0], [-sin_a, 0.0, cos_a]])
    for part in shape:
        ct, st = math.cos(part.tilt), math.sin(part.tilt)
        lean = np.array([[ct, -st, 0.0], [st, ct, 0.0], [0.0, 0.0, 1.0]])
        rot = turn @ lean
        quad = rot @ np.diag([1.0 / r**2 for r in part.radii]) @ rot.T
        centre = turn @ np.array(part.centre)
        # Ray p = (x, y, t): solve (p - c)^T Q (p - c) = 1 for the nearest t.
        ox, oy = x - centre[0], y - centre[1]
        a = quad[2, 2]
        b = 2.0 * (quad[0, 2] * ox + quad[1, 2] * oy)
        c = quad[0, 0] * ox**2 + 2 * quad[0, 1] * ox * oy + quad[1, 1] * oy**2 - 1.0
        disc = b * b - 4 * a * c
        hit = disc >= 0
        t = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0.0))) / (2 * a), np.inf)
        closer = t + centre[2] < depth
        depth = np.where(closer, t + centre[2], depth)
        rel = np.stack([ox, oy, np.where(hit, t, 0.0)], axis=-1)
        grad = np.where(closer[..., None], rel @ quad.T, 0.0)
        normal = np.where(closer[..., None], grad, normal)
        colour = np.where(closer[..., None], np.array(part.colour), colour)
    covered = np.isfinite(depth)
    unit = normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    light = np.array([-0.4, 0.5, -0.77])
    light /= np.linalg.norm(light)
    diffuse = np.clip(unit @ light, 0.0, 1.0)
    striation = 0.94 + 0.06 * np.sin(y * 60.0 + x * 12.0)
    shade = (0.3 + 0.8 * diffuse)[..., None] * colour * striation[..., None]
    rgb = np.clip(shade, 0.0, 1.0) * covered[..., None]
    alpha = covered.astype(np.float64)

    # Box-filter the supersamples (premultiplied, so edges blend correctly).
    def down(a: np.ndarray) -> np.ndarray:
        blocks = a.reshape(size, supersample, size, supersample, -1)
        return np.asarray(blocks.mean(axis=(1, 3)))

    rgb_p = down(rgb)
    alpha_p = down(alpha[..., None])
    if transparent:
        straight = np.where(alpha_p > 0, rgb_p / np.maximum(alpha_p, 1e-9), 0.0)
        rgba = np.concatenate([straight, alpha_p], axis=-1)
        return Image.fromarray(np.round(rgba * 255).astype(np.uint8), mode="RGBA")
    on_white = rgb_p + (1.0 - alpha_p)
    return Image.fromarray(np.round(on_white * 255).astype(np.uint8), mode="RGB")


def render_set(
    out: Path,
    set_id: str,
    transparent: bool,
    seed: int,
    size: int,
    count: int = 16,
    supersample: int = SUPERSAMPLE,
) -> list[Path]:
    shape = make_shape(seed)
    paths = []
    for k in range(1, count + 1):
        angle = 2 * math.pi * (k - 1) / count
        image = render_frame(shape, angle, size, transparent, supersample)
        path = out / f"{set_id}-{k}.png"
        image.save(path, optimize=True)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("raw"))
    parser.add_argument("--size", type=int, default=360, help="frame width and height")
    parser.add_argument("--sets", type=int, default=0, help="make a corpus of N sets instead")
    parser.add_argument("--prefix", default="Bench", help="set id prefix for a corpus")
    parser.add_argument(
        "--supersample", type=int, default=SUPERSAMPLE, help="rays per pixel side (edge quality)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="sets rendered in parallel")
    parser.add_argument(
        "--keep-existing", action="store_true", help="skip sets whose 16 frames are there"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sets:
        plan = [(f"{args.prefix}-M{i:03d}", i % 2 == 0, 100 + i) for i in range(args.sets)]
    else:
        plan = list(SAMPLE_SETS)
    if args.keep_existing:
        plan = [p for p in plan if not (args.out / f"{p[0]}-16.png").is_file()]
    with cf.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {
            pool.submit(
                render_set, args.out, set_id, transparent, seed, args.size, 16, args.supersample
            ): (set_id, transparent)
            for set_id, transparent, seed in plan
        }
        for future in cf.as_completed(futures):
            future.result()
            set_id, transparent = futures[future]
            kind = "RGBA" if transparent else "RGB on white"
            print(f"rendered {set_id} ({kind}, {args.size} px)", flush=True)


if __name__ == "__main__":
    main()
