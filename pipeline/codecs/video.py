"""WebM (VP9 with alpha) and MP4 (H.264) through the ffmpeg that imageio-ffmpeg ships.

Frames go to ffmpeg as raw RGBA on standard input, at a constant frame rate of
``1000 / duration`` frames per second with timestamps passed through, so the video
holds exactly one frame per orientation: the ``<video loop>`` seam shows no
duplicated or dropped frame. ffmpeg runs from an argument list, never a shell.

- WebM: ``yuva420p`` keeps the transparent background. Safari plays VP9 WebM but
  drops its alpha (WebKit bug 275908) and shows the colour planes as they are, so
  they carry the frame composited on the page colour (``animation.background``):
  without alpha the WebM looks like the MP4. With alpha, an edge pixel of
  coverage ``a`` then shows ``a * a'`` of the object, so the alpha plane stores
  ``a' = min(1, 4 a)``: exact wherever ``a >= 1/4``, and the faintest edge pixels
  off by at most 1/16 of their contrast with the page. Measured on realistic
  renders (800 px, crf 32): 70.1 KiB and 38.4 dB on the visible pixels against
  69.8 KiB / 39.1 dB for black under alpha (Safari: a black square); straight
  colour at the edges keeps 39.0 dB but costs 97 KiB and draws a dark fringe in
  Safari; the plain composite (alpha kept) is 64 KiB but 33.9 dB (eroded edges);
  a binary alpha plane 86 KiB. See docs/web-weight.md.
- ``-cpu-used 3`` takes about a sixth less CPU than ``-cpu-used 2``; the CRF is
  31 for sets with alpha and 29 for opaque ones (``animation.webm_opaque_crf``),
  the highest that stay above the ffmpeg recipe (CRF 32) on PSNR, SSIM and
  SSIMULACRA2 against the scene drawn at the animation's size, transparent
  sets included (docs/web-weight.md, "Video defaults").
- MP4: composited onto the background colour (H.264 has no alpha), ``yuv420p``
  for every browser, even dimensions, and ``+faststart`` so playback starts before
  the file has fully arrived. ``-preset medium -tune film`` at CRF 23: above the
  recipe (medium, no tune) on all three scores; ``veryslow`` with ``subme=8``
  makes it 15 % smaller for 1.8x its CPU (``animation.mp4_preset``,
  ``animation.mp4_subme``); ``-tune animation`` is
  smaller still but loses SSIM on shaded, textured renders (docs/web-weight.md).
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from pipeline import lifeline
from pipeline.codecs import Settings
from pipeline.codecs.pixels import composite, over, rgb
from pipeline.errors import OutputError, PipelineError

# Threads per encoder: a constant, not the core count, because x264's and libvpx's
# bytes depend on it (the same config must make the same bytes on every machine
# and with every --jobs). One, because workers already fill the cores: measured
# on 2 cores, two threads made a --jobs 1 build 9 % faster but a --jobs 2 build
# 5 % slower, and each VP9 encoder 7 % larger in memory.
ENCODER_THREADS = 1


@dataclass(frozen=True)
class WebmSettings(Settings):
    """The VP9 settings; no defaults: they are the config's (``AnimationConfig``)."""

    duration_ms: int
    background: str  # the page colour the colour planes are composited on
    crf: int
    cpu_used: int


@dataclass(frozen=True)
class Mp4Settings(Settings):
    """The x264 settings; no defaults: they are the config's (``AnimationConfig``)."""

    duration_ms: int
    background: str  # H.264 has no alpha: frames are composited on it
    crf: int
    preset: str
    tune: str  # "none": no -tune
    subme: int | None = None  # x264's subpixel refinement; None: the preset's


# The default limit on one encoder run: a minute, plus 4 s per megapixel of
# frames (16 frames of 800x800 encode in about 1.3 s at VP9's slowest setting on
# one core: ~60x headroom for a slow or busy machine), at most 10 minutes.
TIMEOUT_BASE = 60.0
TIMEOUT_PER_MEGAPIXEL = 4.0
TIMEOUT_MAX = 600.0


def encoder_timeout(configured: float | None, count: int, width: int, height: int) -> float:
    """Seconds one ffmpeg run may take: ``build.encoder_timeout``, or sized to
    the work (see above)."""
    if configured is not None:
        return configured
    megapixels = count * width * height / 1e6
    return min(TIMEOUT_MAX, TIMEOUT_BASE + TIMEOUT_PER_MEGAPIXEL * megapixels)


def ffmpeg_exe() -> str:
    """The bundled ffmpeg binary (imageio-ffmpeg), or ``IMAGEIO_FFMPEG_EXE``."""
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise PipelineError(
            "ffmpeg: not found (reinstall imageio-ffmpeg, or set IMAGEIO_FFMPEG_EXE)"
        ) from exc


# Seconds ``ffmpeg -version`` may take: a binary that hangs even on that is
# reported as unusable, and its encodes fail on their own timeout.
VERSION_TIMEOUT = 10.0


def ffmpeg_version(exe: str | None = None) -> str:
    """The version the binary the encoders run (or ``exe``) reports: ``ffmpeg
    -version``'s first line, without its copyright. What a video's bytes depend on,
    whoever supplied the binary (imageio-ffmpeg's, or ``IMAGEIO_FFMPEG_EXE``).
    Asked while planning: a missing binary is named here but fails only the
    videos, when they are encoded, never the plan of a whole set."""
    if exe is None:
        try:
            exe = ffmpeg_exe()
        except PipelineError as exc:
            return f"unusable ({exc})"
    return _version_of(exe)


@functools.cache
def _version_of(exe: str) -> str:
    try:
        done = subprocess.run(
            [exe, "-version"],
            capture_output=True,
            timeout=VERSION_TIMEOUT,
            check=False,
            preexec_fn=lifeline.dies_with_parent(),
            close_fds=False,  # holds the output lock while it runs, as encoders do
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unusable ({exc})"
    lines = done.stdout.decode(errors="replace").splitlines()
    if not lines:
        return f"unusable (exit status {done.returncode})"
    return lines[0].split(" Copyright")[0].removeprefix("ffmpeg version ").strip()


def frame_rate(duration_ms: int) -> Fraction:
    return Fraction(1000, duration_ms)


# Gain on the WebM's alpha plane (see the module docstring): 4 keeps edges within
# 1/16 of their contrast with the page, and soft enough to stay cheap to code.
EDGE_ALPHA_GAIN = 4


def on_page(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """The WebM's view of a frame: colour composited on the page colour, so a
    player that drops alpha shows the MP4's picture, and alpha raised at the edges
    so a player that keeps it shows the source on the page. (Pillow's C code does
    it: numpy's widening, clipping and interleaving cost half as much again.)"""
    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    shown = over(image, background).convert("RGBA")
    shown.putalpha(image.getchannel("A").point(_EDGE_ALPHA))
    return np.asarray(shown)


_EDGE_ALPHA = [min(255, a * EDGE_ALPHA_GAIN) for a in range(256)]


def encode_webm(
    frames: Sequence[np.ndarray],
    has_alpha: bool,
    settings: WebmSettings,
    dest: Path,
    *,
    timeout: float | None = None,
) -> None:
    """VP9 in WebM: with alpha (``yuva420p``) for transparent sets, plain
    ``yuv420p`` for opaque ones (an all-opaque alpha plane is wasted bytes)."""
    background = rgb(settings.background)
    data = (on_page(f, background) if has_alpha else f for f in frames)
    codec = [
        "-c:v", "libvpx-vp9",
        "-pix_fmt", "yuva420p" if has_alpha else "yuv420p",
        "-crf", str(settings.crf),
        "-b:v", "0",
        "-deadline", "good",
        "-cpu-used", str(settings.cpu_used),
        "-row-mt", "1",
        # No look-ahead buffer: libvpx makes no alt-ref frame for these short clips
        # (same bytes measured on RGBA and opaque sets), and it saves ~75 MB a process.
        "-lag-in-frames", "0",
        "-f", "webm",
    ]  # fmt: skip
    _run_ffmpeg(frames, "rgba", settings.duration_ms, data, codec, dest, timeout)


def encode_mp4(
    frames: Sequence[np.ndarray],
    settings: Mp4Settings,
    dest: Path,
    *,
    timeout: float | None = None,
) -> None:
    """H.264 ``yuv420p`` in MP4, composited onto the background colour."""
    data = (composite(f, rgb(settings.background)) for f in frames)
    codec = [
        "-c:v", "libx264",
        "-pix_fmt", "yuv420p",
        "-crf", str(settings.crf),
        "-preset", settings.preset,
        *(["-tune", settings.tune] if settings.tune != "none" else []),
        *(["-x264-params", f"subme={settings.subme}"] if settings.subme is not None else []),
        "-movflags", "+faststart",
        "-f", "mp4",
    ]  # fmt: skip
    _run_ffmpeg(frames, "rgb24", settings.duration_ms, data, codec, dest, timeout)


def _run_ffmpeg(
    frames: Sequence[np.ndarray],
    pix_fmt: str,
    duration_ms: int,
    data: Iterable[np.ndarray],
    codec: list[str],
    dest: Path,
    timeout: float | None,
) -> None:
    """Run ffmpeg on raw frames fed one at a time through its stdin, so no more
    than one converted frame is held here at once; then check that what it wrote
    decodes to the frames it was given (an ffmpeg that exits 0 having written
    nothing, or junk, must not pass). ``timeout`` bounds each ffmpeg run."""
    height, width = frames[0].shape[:2]
    if width % 2 or height % 2:
        raise OutputError(dest, f"video frames must have even dimensions, got {width}x{height}")
    rate = frame_rate(duration_ms)
    args = [
        ffmpeg_exe(),
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}",
        "-framerate", f"{rate.numerator}/{rate.denominator}",
        "-i", "pipe:0",
        "-an", "-map_metadata", "-1", "-fps_mode", "passthrough",
        "-frames:v", str(len(frames)),
        *codec,
        "-threads", str(ENCODER_THREADS),
        "-fflags", "+bitexact",
        str(dest),
    ]  # fmt: skip
    code, errors = _ffmpeg(args, dest, timeout, data)
    if code != 0:
        raise OutputError(dest, f"ffmpeg failed: {_last_line(errors, code)}")
    _check_video(dest, len(frames), (width, height), timeout)


def _ffmpeg(
    args: list[str], dest: Path, timeout: float | None, data: Iterable[np.ndarray] = ()
) -> tuple[int, bytes]:
    """Run ffmpeg, writing ``data`` to its stdin; return its exit code and what it
    wrote to stderr. It dies with the calling thread (:mod:`pipeline.lifeline`),
    and is killed after ``timeout`` seconds."""
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lifeline.dies_with_parent(),
            close_fds=False,  # ffmpeg inherits the output lock: see pipeline.lifeline
        )
    except OSError as exc:
        raise OutputError(dest, f"cannot run ffmpeg ({args[0]}): {exc.strerror or exc}") from exc
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(timeout, expire) if timeout is not None else None
    # stderr is read on a thread: an ffmpeg that fills its stderr pipe while we
    # still write frames would otherwise wait on us forever.
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    try:
        if timer is not None:
            timer.start()
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # ffmpeg quit early: its error says why
            for frame in data:
                process.stdin.write(np.ascontiguousarray(frame).data)
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        code = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join()
    if expired.is_set():
        raise OutputError(
            dest,
            f"ffmpeg did not finish within {timeout:g} s and was stopped (build.encoder_timeout)",
        )
    return code, b"".join(errors)


def _check_video(dest: Path, count: int, size: tuple[int, int], timeout: float | None) -> None:
    """Decode the whole video with the same ffmpeg (``framecrc``: one line per
    decoded frame, after a header giving the dimensions) and compare."""
    if dest.stat().st_size == 0:
        raise OutputError(dest, "ffmpeg wrote an empty file")
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
            "-i", str(dest), "-map", "0:v:0", "-f", "framecrc", "pipe:2"]  # fmt: skip
    code, report = _ffmpeg(args, dest, timeout)
    text = report.decode(errors="replace")
    if code != 0:
        raise OutputError(dest, f"ffmpeg wrote no readable video: {_last_line(report, code)}")
    lines = text.splitlines()
    decoded = sum(1 for line in lines if line and not line.startswith("#"))
    dims = [line.split(":", 1)[1].strip() for line in lines if line.startswith("#dimensions")]
    found = dims[0] if dims else "no video stream"
    want = f"{size[0]}x{size[1]}"
    if decoded != count or found != want:
        raise OutputError(
            dest,
            f"ffmpeg wrote a wrong video: {decoded} frame(s) of {found}, "
            f"expected {count} of {want}",
        )


def _last_line(errors: bytes, code: int) -> str:
    lines = errors.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit code {code}"
