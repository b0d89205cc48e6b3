"""One typed, frozen configuration, loaded from YAML and validated up front.

Each stage gets its own section so that a stage's fingerprint can include exactly
the values that change its pixels (a new thumbnail size rebuilds thumbnails only).
Unknown keys and wrong types are reported all at once, with the key's dotted name.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.codecs.encode import Resample
from pipeline.codecs.pixels import parse_colour
from pipeline.errors import ConfigError

DEFAULT_CONFIG = Path("config/pipeline.yaml")
# Where `muscle-assets init` puts a site's config; Jekyll does not publish "_" folders.
SITE_CONFIG_DIR = "_muscle-assets"
SITE_CONFIG = Path(SITE_CONFIG_DIR) / "pipeline.yaml"


def default_config_path() -> Path | None:
    """The config a command uses when none is named: the repository's sample
    config, else a site's (run from the site's root), else none (the defaults)."""
    return next((p for p in (DEFAULT_CONFIG, SITE_CONFIG) if p.is_file()), None)


@dataclass(frozen=True)
class PathsConfig:
    """Where sets are read and assets and pages are written.

    ``site`` is a shortcut for a Jekyll checkout: when set, ``output`` defaults to
    ``<site>/assets/images`` and ``pages`` to ``<site>/pages/muscles``.
    """

    raw: Path = Path("raw")
    output: Path | None = None
    pages: Path | None = None
    site: Path | None = None
    png_dir: str = "muscles/png"
    gif_dir: str = "muscles/gif"

    @property
    def output_root(self) -> Path:
        if self.output is not None:
            return self.output
        if self.site is not None:
            return self.site / "assets" / "images"
        return Path("output")

    @property
    def pages_dir(self) -> Path | None:
        if self.pages is not None:
            return self.pages
        if self.site is not None:
            return self.site / "pages" / "muscles"
        return None


@dataclass(frozen=True)
class FramesConfig:
    """How an orientation set is named and what counts as a valid frame."""

    count: int = 16
    pattern: str = "{set_id}-{k}.png"
    max_pixels: int = 64_000_000
    background: str = "#ffffff"
    background_tolerance: int = 8


@dataclass(frozen=True)
class CropConfig:
    """Identical framing for every frame of a set."""

    enabled: bool = True
    margin: float = 0.04


@dataclass(frozen=True)
class PngConfig:
    """The gallery PNG and its thumbnail.

    ``palette`` quantises like ``pngquant --quality min-max``: the fewest colours
    (up to 256) that reach ``quality_max``, and the lossless PNG kept when even
    256 cannot reach ``quality_min``. ``lossless`` keeps every pixel exact.
    """

    mode: Literal["palette", "lossless"] = "palette"
    quality_min: int = 80
    quality_max: int = 95
    speed: int = 4
    dithering: float = 0.0
    optimize_level: int = 1


@dataclass(frozen=True)
class ThumbsConfig:
    """Thumbnails fit inside this box, aspect kept.

    ``resample`` is Pillow's filter for the shrink (the thumbnail PNG and its
    WebP/AVIF copies); ``png_quality_max`` replaces ``png.quality_max`` for the
    thumbnail PNG (its floor stays ``png.quality_min``): a 240 px thumbnail has
    few pixels per colour, so a richer palette than the gallery's costs little.
    ``png_mode`` replaces ``png.mode`` for the thumbnail PNG when set: lossless
    thumbnails are the ones that beat vipsthumbnail on every score, at 2.3x the
    palette's bytes (docs/web-weight.md).
    """

    width: int = 240
    height: int = 240
    resample: Resample = "hamming"
    png_quality_max: int = 97
    png_mode: Literal["palette", "lossless"] | None = None


@dataclass(frozen=True)
class VariantsConfig:
    """Web variants of every frame (and of its thumbnail)."""

    webp: bool = True
    webp_quality: int = 80
    webp_method: int = 4
    avif: bool = False
    avif_quality: int = 55
    avif_speed: int = 6
    widths: tuple[int, ...] = ()
    thumbs: bool = True


@dataclass(frozen=True)
class AnimationConfig:
    """The rotating image: ``<SetId>.gif``, ``.webm`` and ``.mp4`` (and optional extras).

    ``width`` suits a page column of about 800 px; frames are never upscaled, and
    videos need even dimensions, so the size is rounded down to even numbers.
    ``background`` is the page colour: GIF edges are blended onto it, the MP4
    (which has no alpha) is composited onto it, and so is the colour under the
    WebM's alpha (Safari ignores VP9 alpha).
    """

    width: int = 800
    duration_ms: int = 100
    background: str = "#ffffff"
    gif_colors: int = 256
    gif_quality: int = 76
    gif_dithering: float = 0.0
    gif_transparent_tolerance: int = 3
    gif_speed: int = 3
    webm_crf: int = 31
    webm_opaque_crf: int = 29
    webm_cpu_used: int = 3
    mp4_crf: int = 23
    mp4_preset: Literal[
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
        "slow",
        "slower",
        "veryslow",
        "placebo",
    ] = "medium"
    mp4_tune: Literal["animation", "film", "grain", "stillimage", "none"] = "film"
    mp4_subme: int | None = None
    webp: bool = False
    webp_quality: int = 80
    webp_method: int = 4
    sprite: bool = False
    sprite_width: int = 320
    sprite_columns: int = 4
    sprite_format: Literal["webp", "png"] = "webp"
    sprite_quality: int = 80


@dataclass(frozen=True)
class BuildConfig:
    """Scheduling; ``jobs`` of ``None`` means one worker per core, fewer when the
    available memory cannot hold that many (``pipeline.runner._default_workers``).

    ``start_method`` picks how worker processes start (``None``: ``forkserver``
    where available, else the platform's default); outputs are the same under
    each. ``fork`` hangs when the calling process has itself encoded PNGs before
    (oxipng's thread pool does not survive a fork): use it only from a fresh
    process, as the CLI is.
    """

    jobs: int | None = None
    start_method: Literal["fork", "spawn", "forkserver"] | None = None
    # Video encoders (ffmpeg) running at once across workers; None: half the
    # workers, at least one. Each holds 90-170 MB, so this bounds peak memory.
    encoders: int | None = None
    # Seconds one encoder (ffmpeg) run may take before it is stopped and its set
    # fails; None: sized to the work (pipeline.codecs.video.encoder_timeout), at most 600.
    encoder_timeout: float | None = None
    # A Dask scheduler (tcp://host:port) that renders the sets instead of local
    # workers (docs/distributed.md); None: local worker processes.
    scheduler: str | None = None


@dataclass(frozen=True)
class PagesConfig:
    """The set pages' front matter: where pages are, how a new one starts, and the
    text new entries get. Text a person wrote in a page is never replaced.

    ``pattern`` names a page from ``{set_id}`` / ``{set_id_lower}``; ``template``
    and ``titles`` are files (``None``: the built-in template, no titles). The text
    templates take ``{title}``, ``{k}``, ``{set_id}`` and ``{count}``. The switches
    add optional keys to every gallery entry.
    """

    pattern: str = "muscle_{set_id_lower}.md"
    template: Path | None = None
    titles: Path | None = None
    caption: str = "{title} - orientation {k}"
    title: str = "{title} - orientation {k}"
    image_title: str = "{title}"
    image_alt: str = "{title}"
    thumbnail: bool = False
    webp: bool = False
    avif: bool = False
    width: bool = False
    height: bool = False
    # What one page view may download (the WebM and the 16 thumbnail PNGs), in
    # KiB; ``check`` fails for a page above it. ``None``: no budget.
    budget_kib: int | None = None


@dataclass(frozen=True)
class Config:
    """The whole configuration. Paths are absolute once loaded."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    png: PngConfig = field(default_factory=PngConfig)
    thumbs: ThumbsConfig = field(default_factory=ThumbsConfig)
    variants: VariantsConfig = field(default_factory=VariantsConfig)
    animation: AnimationConfig = field(default_factory=AnimationConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    pages: PagesConfig = field(default_factory=PagesConfig)


def load_config(path: Path | str | None = None, **overrides: Any) -> Config:
    """Load ``path`` (or the defaults), apply dotted overrides, validate everything.

    Overrides whose value is ``None`` are dropped, so CLI options that were not
    given leave the file's values alone. Relative paths resolve against the
    config file's folder (or the working directory when there is no file).
    """
    source: Path | str
    if path is None:
        data: Any = {}
        base = Path.cwd()
        source = "<defaults>"
    else:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(file, [f"cannot read config: {exc.strerror or exc}"]) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None)
            why = f": {' '.join(str(problem).split())}" if problem else ""
            raise ConfigError(file, [f"{where}invalid YAML{why}"]) from exc
        base = file.resolve().parent
        source = file
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(source, ["top level must be a mapping of sections"])
    data = _apply_overrides(data, overrides, problems)
    return _validated(data, base, source, problems)


def config_from_dict(data: dict[str, Any], base: Path) -> Config:
    """Build a validated config from a plain mapping (used by tests and tools)."""
    return _validated(data, base, "<dict>", [])


def _validated(data: dict[str, Any], base: Path, source: Path | str, problems: list[str]) -> Config:
    """Type-check, resolve paths, then range-check; raise with every problem found.

    A key with a type error keeps its default for the range checks, so those checks
    skip it rather than report a second, misleading problem for the same key.
    """
    config = _build(Config, data, "", problems)
    assert isinstance(config, Config)
    config = _resolve_paths(config, base)
    bad_keys = {p.split(":", 1)[0] for p in problems}
    problems.extend(p for p in _semantic_problems(config) if p.split(":", 1)[0] not in bad_keys)
    if problems:
        raise ConfigError(source, problems)
    return config


def _apply_overrides(
    data: dict[str, Any], overrides: dict[str, Any], problems: list[str]
) -> dict[str, Any]:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.replace("__", ".").partition(".")
        if not key:
            problems.append(f"override {dotted!r} must name section.key")
            continue
        target = merged.setdefault(section, {})
        if not isinstance(target, dict):
            problems.append(f"{section}: must be a mapping")
            continue
        target[key] = value
    return merged


def _build(cls: type, data: Any, prefix: str, problems: list[str]) -> Any:
    where = prefix.rstrip(".") or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{where}: must be a mapping, got {type(data).__name__}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            problems.append(f"{prefix}{key}: unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, data[name], f"{prefix}{name}.", problems)  # type: ignore[arg-type]
            continue
        ok, value = _coerce(hint, data[name])
        if ok:
            kwargs[name] = value
        else:
            problems.append(f"{prefix}{name}: expected {describe_type(hint)}, got {data[name]!r}")
    try:
        return cls(**kwargs)
    except TypeError:  # pragma: no cover - all fields have defaults
        return cls()


def _coerce(hint: Any, value: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return True, None
        for arg in args:
            if arg is type(None):
                continue
            ok, out = _coerce(arg, value)
            if ok:
                return True, out
        return False, None
    if origin is Literal:
        return (value in args), value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False, None
        items = []
        for item in value:
            ok, out = _coerce(args[0], item)
            if not ok:
                return False, None
            items.append(out)
        return True, tuple(items)
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return (isinstance(value, int) and not isinstance(value, bool)), value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    if hint is Path:
        if isinstance(value, str | Path) and str(value):
            return True, Path(value)
        return False, None
    return False, None


def describe_type(hint: Any) -> str:
    """A type hint in words, for messages and the configuration reference."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        return f"a list of {describe_type(args[0])}"
    if hint is type(None):
        return "null"
    if hint is Path:
        return "a path"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _resolve_paths(config: Config, base: Path) -> Config:
    def absolute(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else (base / p)))

    paths = config.paths
    raw = absolute(paths.raw)
    assert raw is not None
    resolved = dataclasses.replace(
        paths,
        raw=raw,
        output=absolute(paths.output),
        pages=absolute(paths.pages),
        site=absolute(paths.site),
    )
    if resolved.output is None:
        resolved = dataclasses.replace(resolved, output=absolute(paths.output_root))
    pages = dataclasses.replace(
        config.pages,
        template=absolute(config.pages.template),
        titles=absolute(config.pages.titles),
    )
    return dataclasses.replace(config, paths=resolved, pages=pages)


def _semantic_problems(config: Config) -> list[str]:
    problems: list[str] = []
    p, fr, v = config.paths, config.frames, config.variants
    if not p.raw.is_dir():
        problems.append(f"paths.raw: folder does not exist: {p.raw}")
    if p.site is not None and not p.site.is_dir():
        problems.append(f"paths.site: folder does not exist: {p.site}")
    for name in ("png_dir", "gif_dir"):
        value = getattr(p, name)
        parts = Path(value).parts
        if Path(value).is_absolute() or ".." in parts or "." in value:
            problems.append(f"paths.{name}: must be a relative folder without dots: {value!r}")
    if fr.count < 1:
        problems.append("frames.count: must be at least 1")
    if "{set_id}" not in fr.pattern or "{k}" not in fr.pattern:
        problems.append("frames.pattern: must contain {set_id} and {k}")
    try:
        fr.pattern.format(set_id="x", k=1)
    except (KeyError, IndexError, ValueError):
        problems.append(f"frames.pattern: only {{set_id}} and {{k}} may be used: {fr.pattern!r}")
    if "/" in fr.pattern or "\\" in fr.pattern:
        problems.append(f"frames.pattern: must be a file name, not a path: {fr.pattern!r}")
    if fr.max_pixels < 1:
        problems.append("frames.max_pixels: must be positive")
    if not _is_colour(fr.background):
        problems.append(
            f"frames.background: expected a colour like '#ffffff', got {fr.background!r}"
        )
    if not 0 <= fr.background_tolerance <= 255:
        problems.append("frames.background_tolerance: must be 0..255")
    if not 0 <= config.crop.margin <= 1:
        problems.append("crop.margin: must be a fraction between 0 and 1")
    problems.extend(_png_problems(config.png))
    problems.extend(
        f"thumbs.{name}: must be positive"
        for name in ("width", "height")
        if getattr(config.thumbs, name) < 1
    )
    if not config.png.quality_min <= config.thumbs.png_quality_max <= 100:
        problems.append("thumbs.png_quality_max: must be png.quality_min..100")
    if not 0 <= v.webp_quality <= 100:
        problems.append("variants.webp_quality: must be 0..100")
    if not 0 <= v.webp_method <= 6:
        problems.append("variants.webp_method: must be 0..6")
    if not 0 <= v.avif_quality <= 100:
        problems.append("variants.avif_quality: must be 0..100")
    if not 0 <= v.avif_speed <= 10:
        problems.append("variants.avif_speed: must be 0..10")
    if any(w < 1 for w in v.widths):
        problems.append("variants.widths: every width must be positive")
    problems.extend(_animation_problems(config.animation))
    for key in ("jobs", "encoders"):
        count = getattr(config.build, key)
        if count is not None and count < 1:
            problems.append(f"build.{key}: must be at least 1")
    timeout = config.build.encoder_timeout
    if timeout is not None and not 0 < timeout <= 86_400:
        problems.append(
            "build.encoder_timeout: must be a number of seconds, above 0, at most 86400"
        )
    scheduler = config.build.scheduler
    if scheduler is not None and not _SCHEDULER_RE.fullmatch(scheduler):
        problems.append(
            f"build.scheduler: expected a Dask scheduler address like "
            f"'tcp://host:8786', got {scheduler!r}"
        )
    problems.extend(_pages_problems(config))
    problems.extend(_folder_problems(p))
    return problems


# Folders no build may read from or write into as a whole: the file system's root,
# the top-level folders of the FHS and the usual system folders under /usr and
# /var, and a home folder itself (an output root there would mix our files with a
# person's, and a sweep of it would walk everything they own).
_SYSTEM_FOLDERS = frozenset(
    Path(p)
    for p in [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/usr/sbin",
        "/usr/share",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    ]
)


# A Dask scheduler address: protocol, host (a name, IPv4 or [IPv6]), optional port.
_SCHEDULER_RE = re.compile(r"(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")


def _folder_problems(p: PathsConfig) -> list[str]:
    """Raw folder, output root and pages folder must be folders of their own: one
    inside another would make outputs or pages look like sources (or a clean of one
    reach into the other), and a system folder is never ours to fill."""
    folders = {"paths.raw": p.raw, "paths.output": p.output_root}
    if p.pages_dir is not None:
        folders["paths.pages"] = p.pages_dir
    real = {key: Path(os.path.realpath(path)) for key, path in folders.items()}
    system = _SYSTEM_FOLDERS | {Path(os.path.realpath(Path.home()))}
    problems = [
        f"{key}: {folders[key]} is a system or home folder: use a folder of its own"
        for key, path in real.items()
        if path in system
    ]
    keys = [key for key, path in real.items() if path not in system]  # said once is enough
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            if real[a] == real[b]:
                problems.append(f"{a} and {b}: the same folder ({folders[a]}): keep them apart")
            elif real[a].is_relative_to(real[b]) or real[b].is_relative_to(real[a]):
                problems.append(
                    f"{a} and {b} overlap ({folders[a]}, {folders[b]}): "
                    "one is inside the other; keep them apart"
                )
    return problems


def _png_problems(png: PngConfig) -> list[str]:
    problems: list[str] = []
    if not 0 <= png.optimize_level <= 6:
        problems.append("png.optimize_level: must be 0..6")
    if not 0 <= png.quality_min <= png.quality_max <= 100:
        problems.append(
            "png.quality_min, png.quality_max: need 0 <= quality_min <= quality_max <= 100"
        )
    if not 1 <= png.speed <= 10:
        problems.append("png.speed: must be 1..10")
    if not 0 <= png.dithering <= 1:
        problems.append("png.dithering: must be 0..1")
    return problems


def _pages_problems(config: Config) -> list[str]:
    problems: list[str] = []
    pg = config.pages
    try:
        name = pg.pattern.format(set_id="Leg-Soleus", set_id_lower="leg-soleus")
    except (KeyError, IndexError, ValueError) as exc:
        problems.append(f"pages.pattern: use {{set_id}} or {{set_id_lower}} only ({exc})")
    else:
        if "/" in name or "\\" in name or name == pg.pattern or name.startswith("."):
            problems.append(
                "pages.pattern: must be a file name containing {set_id} or {set_id_lower}"
            )
    for key in ("caption", "title", "image_title", "image_alt"):
        text = getattr(pg, key)
        try:
            text.format(title="T", k=1, set_id="Leg-Soleus", count=16)
        except (KeyError, IndexError, ValueError) as exc:
            problems.append(
                f"pages.{key}: use {{title}}, {{k}}, {{set_id}} or {{count}} only ({exc})"
            )
    for path, key in ((pg.template, "template"), (pg.titles, "titles")):
        if path is not None and not path.is_file():
            problems.append(f"pages.{key}: file does not exist: {path}")
    if pg.budget_kib is not None and pg.budget_kib < 1:
        problems.append("pages.budget_kib: must be at least 1 (or null for no budget)")
    if pg.webp and not config.variants.webp:
        problems.append("pages.webp: needs variants.webp (no .webp files are made)")
    if pg.avif and not config.variants.avif:
        problems.append("pages.avif: needs variants.avif (no .avif files are made)")
    return problems


def _animation_problems(a: AnimationConfig) -> list[str]:
    problems: list[str] = []
    if a.width < 2:
        problems.append("animation.width: must be at least 2")
    if not 20 <= a.duration_ms <= 65_000:
        # Browsers play GIF delays under 20 ms at 100 ms; GIF stores 1/100 s up to 655 s.
        problems.append("animation.duration_ms: must be 20..65000")
    if not _is_colour(a.background):
        problems.append(
            f"animation.background: expected a colour like '#ffffff', got {a.background!r}"
        )
    if not 2 <= a.gif_colors <= 256:
        problems.append("animation.gif_colors: must be 2..256")
    if not 0 <= a.gif_quality <= 100:
        problems.append("animation.gif_quality: must be 0..100")
    if not 0 <= a.gif_dithering <= 1:
        problems.append("animation.gif_dithering: must be 0..1")
    if not 0 <= a.gif_transparent_tolerance <= 255:
        problems.append("animation.gif_transparent_tolerance: must be 0..255")
    if not 1 <= a.gif_speed <= 10:
        problems.append("animation.gif_speed: must be 1..10")
    for key in ("webm_crf", "webm_opaque_crf"):
        if not 0 <= getattr(a, key) <= 63:
            problems.append(f"animation.{key}: must be 0..63")
    if not 0 <= a.webm_cpu_used <= 5:
        problems.append("animation.webm_cpu_used: must be 0..5")
    if not 0 <= a.mp4_crf <= 51:
        problems.append("animation.mp4_crf: must be 0..51")
    if a.mp4_subme is not None and not 0 <= a.mp4_subme <= 11:
        problems.append("animation.mp4_subme: must be 0..11 (or null for the preset's)")
    if not 0 <= a.webp_quality <= 100:
        problems.append("animation.webp_quality: must be 0..100")
    if not 0 <= a.webp_method <= 6:
        problems.append("animation.webp_method: must be 0..6")
    if a.sprite_width < 1:
        problems.append("animation.sprite_width: must be positive")
    if a.sprite_columns < 1:
        problems.append("animation.sprite_columns: must be positive")
    if not 0 <= a.sprite_quality <= 100:
        problems.append("animation.sprite_quality: must be 0..100")
    return problems


def _is_colour(value: str) -> bool:
    return parse_colour(value) is not None
