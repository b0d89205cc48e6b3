"""Realistic orientation sets for the web benchmark, drawn with numpy alone.

The bundled sample and ``bench/corpus`` have about 850 colours per frame, so they
flatter palette encoders. Real muscle renders have smooth shading, specular
highlights and fibre detail: thousands of colours per frame. Each set here is one
bent, spindle-shaped muscle with tendons at both ends, its cross-section an
ellipse, turning about its vertical axis over 16 frames; fibres run along it (a
bump on the normal and a stripe in the albedo), lit by one light (Lambert plus
Blinn-Phong), and its silhouette is anti-aliased from the distance to the edge.
Even sets are RGBA on transparent, odd ones RGB on white.

Everything is a vectorised function of the pixel grid (no ray-marching loop, no
supersampling), so a 1000x1000 frame takes a fraction of a second.

Because the scene is known, the benchmark's reference for a resized output is the
scene itself drawn at that size (``drawn_at``), not a resample of the frame: a
resample would favour whichever encoder uses the same filter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

FRAMES = 16
# Samples per output pixel along each axis when drawing a reference (``drawn_at``):
# 4 is within about 52 dB (PSNR) of 6 at the benchmark's sizes.
SUPERSAMPLE = 4
# Bumped whenever the drawing changes, so cached corpora are redrawn.
VERSION = 2


@dataclass(frozen=True)
class Muscle:
    """The shape and look of one set, drawn from its seed."""

    height: float  # fraction of the canvas
    half_width: float  # widest half-axis, fraction of the canvas
    depth: float  # the other half-axis, as a fraction of ``half_width``
    bend: float  # sideways bow of the axis, fraction of the canvas
    bend_phase: float
    bulge: float  # asymmetry of the belly
    fibres: int  # fibres around the circumference
    twist: float  # how far fibres wind from one end to the other (radians)
    colour: tuple[float, float, float]
    start: float  # angle of frame 1 (radians)


def muscle(seed: int) -> Muscle:
    rng = np.random.default_rng(seed)
    red = float(rng.uniform(0.62, 0.74))
    return Muscle(
        height=float(rng.uniform(0.74, 0.84)),
        half_width=float(rng.uniform(0.19, 0.26)),
        depth=float(rng.uniform(0.5, 0.75)),
        bend=float(rng.uniform(0.02, 0.05)),
        bend_phase=float(rng.uniform(0, math.pi)),
        bulge=float(rng.uniform(-0.2, 0.2)),
        fibres=int(rng.integers(70, 110)),
        twist=float(rng.uniform(-1.0, 1.0)),
        colour=(red, float(rng.uniform(0.16, 0.24)), float(rng.uniform(0.15, 0.2))),
        start=float(rng.uniform(0, 2 * math.pi)),
    )


_LIGHT = np.array([-0.45, -0.55, 0.70]) / np.linalg.norm([-0.45, -0.55, 0.70])
_VIEW = np.array([0.0, 0.0, 1.0])
_HALF = (_LIGHT + _VIEW) / np.linalg.norm(_LIGHT + _VIEW)
_TENDON = np.array([0.93, 0.89, 0.82], dtype=np.float32)


def draw(m: Muscle, angle: float, size: int) -> np.ndarray:
    """One frame: straight (not premultiplied) RGBA, float32 in 0..1."""
    y = np.arange(size, dtype=np.float32)[:, None] + 0.5
    x = np.arange(size, dtype=np.float32)[None, :] + 0.5
    top = (1 - m.height) / 2 * size
    length = m.height * size
    t = (y - top) / length  # 0..1 along the muscle, one value per row
    inside = np.clip(t, 0.0, 1.0)
    belly = np.maximum(np.sin(np.pi * inside), 0) ** 0.75
    belly = belly * (1 + m.bulge * np.sin(2 * np.pi * inside))
    a = np.maximum(m.half_width * size * belly, 0.5)  # half-axes per row
    b = a * m.depth
    # The axis bows in the object's own x-z plane, so the bow turns with it.
    bow_x = m.bend * size * np.sin(np.pi * 1.3 * inside + m.bend_phase)
    bow_z = 0.6 * m.bend * size * np.cos(np.pi * inside + m.bend_phase)
    cos, sin = math.cos(angle), math.sin(angle)
    centre = size / 2 + bow_x * cos + bow_z * sin
    half = np.sqrt((a * cos) ** 2 + (b * sin) ** 2)  # silhouette half-width per row
    dx = x - centre
    # Coverage from the distance to the silhouette (rows and both ends).
    slope = np.gradient(half[:, 0])[:, None]
    across = (half - np.abs(dx)) / np.sqrt(1 + slope**2)
    along = np.minimum(y - top, top + length - y)
    alpha = np.clip(across + 0.5, 0, 1) * np.clip(along + 0.5, 0, 1)
    # The front surface: solve the rotated ellipse for the depth of each pixel.
    dx = np.clip(dx, -0.999 * half, 0.999 * half)
    qa = sin**2 / a**2 + cos**2 / b**2
    qb = 2 * dx * sin * cos * (1 / b**2 - 1 / a**2)
    qc = dx**2 * (cos**2 / a**2 + sin**2 / b**2) - 1
    dz = (-qb + np.sqrt(np.maximum(qb**2 - 4 * qa * qc, 0))) / (2 * qa)
    xo, zo = dx * cos - dz * sin, dx * sin + dz * cos  # object coordinates
    u = np.arctan2(zo / b, xo / a) + m.twist * t  # angle round the muscle
    # Normal of the ellipse, with the change of its axes along the muscle.
    da = np.gradient(a[:, 0])[:, None]
    nx, nz = xo / a**2, zo / b**2
    ny = -(xo**2 * da / a**3 + zo**2 * da * m.depth / b**3)
    # Fibres: a ridge every 2*pi/fibres round the muscle, slowly wandering.
    phase = m.fibres * u + 3 * np.sin(7 * t + 2 * u)
    ridge = np.cos(phase)
    tangent_x, tangent_z = -a * np.sin(u), b * np.cos(u)
    norm = np.hypot(tangent_x, tangent_z)
    strength = 0.25 * np.hypot(nx, nz)
    nx = nx + strength * ridge * tangent_x / norm
    nz = nz + strength * ridge * tangent_z / norm
    sx, sz = nx * cos + nz * sin, -nx * sin + nz * cos  # back to the screen
    length_n = np.sqrt(sx**2 + ny**2 + sz**2)
    sx, sy, sz = sx / length_n, ny / length_n, sz / length_n
    diffuse = np.maximum(sx * _LIGHT[0] + sy * _LIGHT[1] + sz * _LIGHT[2], 0)
    facing = np.maximum(sx * _HALF[0] + sy * _HALF[1] + sz * _HALF[2], 0)
    # Tendons at both ends: paler and shinier, blending into the belly.
    tendon = np.clip((np.abs(inside - 0.5) - 0.36) / 0.012, 0, 1)[..., None]
    stripe = 0.985 + 0.015 * (0.5 + 0.5 * np.sin(phase + 0.8))
    albedo = np.array(m.colour, dtype=np.float32) * stripe[..., None]
    albedo = albedo * (1 - tendon) + _TENDON * tendon
    shine = 0.3 * facing**40 * (1 - tendon[..., 0]) + 0.45 * facing**60 * tendon[..., 0]
    light = 0.22 + 0.78 * diffuse
    rgb = albedo * light[..., None] + shine[..., None]
    out = np.empty((size, size, 4), dtype=np.float32)
    out[..., :3] = np.clip(rgb, 0, 1)
    out[..., 3] = alpha
    return out


def angle(m: Muscle, k: int) -> float:
    """The turn of orientation ``k`` (1..16)."""
    return m.start + 2 * math.pi * (k - 1) / FRAMES


def drawn_at(
    seed: int,
    transparent: bool,
    k: int,
    canvas: int,
    box: tuple[int, int, int, int],
    sizes: set[tuple[int, int]],
    page: tuple[int, int, int],
) -> dict[tuple[int, int], np.ndarray]:
    """Orientation ``k`` of a set as a renderer would draw the part of the canvas
    inside ``box`` at each of ``sizes``: 8-bit RGB on the page colour (an RGB set
    on white, as its frames are). Drawn ``SUPERSAMPLE`` times denser than the
    frames, each output pixel is the mean of the samples it covers, so no
    resampling filter of any encoder is built into the reference."""
    m = muscle(seed)
    n = SUPERSAMPLE
    frame = draw(m, angle(m, k), canvas * n)
    x0, y0, x1, y1 = box
    region = frame[y0 * n : y1 * n, x0 * n : x1 * n]
    del frame
    under = np.asarray(page if transparent else (255, 255, 255), dtype=np.float32) / 255
    alpha = region[..., 3:]
    shown = region[..., :3] * alpha + (1 - alpha) * under
    planes = [Image.fromarray(np.ascontiguousarray(shown[..., c]), "F") for c in range(3)]
    out = {}
    for size in sizes:
        mean = np.stack([np.asarray(p.resize(size, Image.Resampling.BOX)) for p in planes], 2)
        out[size] = np.clip(np.rint(mean * 255), 0, 255).astype(np.uint8)
    return out


def to_pixels(frame: np.ndarray, transparent: bool) -> np.ndarray:
    """8-bit RGBA (clear where nothing is drawn) or RGB on white."""
    rgb, alpha = frame[..., :3], frame[..., 3:]
    if transparent:
        rgba: np.ndarray = np.rint(np.concatenate([rgb, alpha], axis=2) * 255).astype(np.uint8)
        rgba[rgba[..., 3] == 0] = 0  # clear pixels are black, as renderers store them
        return rgba
    return np.asarray(np.rint((rgb * alpha + (1 - alpha)) * 255), dtype=np.uint8)


def colour_count(pixels: np.ndarray) -> int:
    flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.uint32)
    packed = flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]
    if pixels.shape[-1] == 4:
        packed = packed | flat[:, 3] << 24
    return int(np.unique(packed).size)


def render_set(folder: Path, set_id: str, seed: int, transparent: bool, size: int) -> list[int]:
    """Write ``<set_id>-1.png`` .. ``-16.png``; the colour count of each frame."""
    m = muscle(seed)
    counts = []
    for k in range(1, FRAMES + 1):
        pixels = to_pixels(draw(m, angle(m, k), size), transparent)
        counts.append(colour_count(pixels))
        mode = "RGBA" if transparent else "RGB"
        Image.fromarray(pixels, mode).save(folder / f"{set_id}-{k}.png", compress_level=6)
    return counts
