"""Bad input through the real CLI: one ``<file>: <problem>`` line per problem, exit 1,
no traceback, the good set still built, and the sources never modified."""

from __future__ import annotations

import dataclasses
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.state.lock import LOCK_NAME
from tests.conftest import draw_frame
from tests.faultkit import (
    SIZE,
    Corpus,
    Untouched,
    assert_built,
    assert_consistent,
    assert_fails_alone,
    bomb_png,
    cli,
    cli_process,
    cli_while_chmod,
    encode_png,
    error_lines,
    make_corpus,
    permissions_enforceable,
)

SECTIONS = ", ".join(sorted(f.name for f in dataclasses.fields(Config)))


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return make_corpus(tmp_path, 4)


@pytest.fixture
def corpus16(tmp_path: Path) -> Corpus:
    """The site's real set size, for the tests about frame numbers."""
    return make_corpus(tmp_path, 16)


# -- one bad frame in an otherwise good set --------------------------------------

BadFrame = Callable[[Path], str]  # breaks the frame at the path; returns the problem


def zero_bytes(path: Path) -> str:
    path.write_bytes(b"")
    return "empty file (0 bytes)"


def truncated(path: Path) -> str:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "cannot decode PNG: image file is truncated"


def jpeg_named_png(path: Path) -> str:
    draw_frame(3, SIZE, transparent=False).save(path, format="JPEG")
    return "not a PNG file (found JPEG data)"


def text_named_png(path: Path) -> str:
    path.write_text("not an image\n", encoding="utf-8")
    return "not a PNG file (cannot identify image data)"


def header_bomb(path: Path) -> str:
    path.write_bytes(bomb_png(30_000, 30_000))
    return "30000x30000 is 900000000 pixels, over the limit of 64000000 (frames.max_pixels)"


def other_size(path: Path) -> str:
    draw_frame(3, SIZE + 8).save(path)
    return f"frame is 56x56 but Good-1.png is {SIZE}x{SIZE}: all frames of a set must be"


def other_mode(path: Path) -> str:
    draw_frame(3, SIZE, transparent=False).save(path)
    return "frame has no transparency but Good-1.png has: all frames of a set must be of one kind"


def fully_transparent(path: Path) -> str:
    Image.new("RGBA", (SIZE, SIZE), (255, 0, 0, 0)).save(path)
    return "nothing visible: the frame is fully transparent"


def a_folder(path: Path) -> str:
    path.unlink()
    path.mkdir()
    return "not a file (a folder has a frame's name)"


@pytest.mark.parametrize(
    "breaker",
    [
        zero_bytes,
        truncated,
        jpeg_named_png,
        text_named_png,
        header_bomb,
        other_size,
        other_mode,
        fully_transparent,
        a_folder,
    ],
)
def test_bad_frame_fails_its_set_alone(
    corpus: Corpus, breaker: BadFrame, untouched: Untouched
) -> None:
    corpus.write("Bad")
    problem = breaker(corpus.frame("Bad", 3)).replace("Good-1", "Bad-1")
    untouched.watch(corpus.raw)
    result = corpus.build()
    assert_fails_alone(result, corpus, [(corpus.frame("Bad", 3), problem)])


def test_pixel_limit_is_configurable(corpus: Corpus, untouched: Untouched) -> None:
    corpus.write("Bad")
    draw_frame(3, 100).save(corpus.frame("Bad", 3))
    corpus.configure(frames={"max_pixels": 5000})  # Good's frames are 48x48 = 2304
    untouched.watch(corpus.raw)
    result = corpus.build()
    problem = "100x100 is 10000 pixels, over the limit of 5000 (frames.max_pixels)"
    assert_fails_alone(result, corpus, [(corpus.frame("Bad", 3), problem)])


def test_verbose_adds_no_traceback_for_bad_input(corpus: Corpus) -> None:
    corpus.write("Bad")
    truncated(corpus.frame("Bad", 3))
    result = corpus.build("--verbose")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "Bad" in line] == [
        f"{corpus.frame('Bad', 3)}: cannot decode PNG: image file is truncated"
    ]


def test_check_reports_the_same_line_and_writes_nothing(
    corpus: Corpus, untouched: Untouched
) -> None:
    corpus.write("Bad")
    jpeg_named_png(corpus.frame("Bad", 3))
    untouched.watch(corpus.raw)
    result = cli("check", "--inputs-only", "--config", str(corpus.config), "-j", "1")
    assert result.exit_code == 1
    assert error_lines(result.stderr, corpus.root) == [
        f"{corpus.frame('Bad', 3)}: not a PNG file (found JPEG data)"
    ]
    assert not corpus.out.exists()  # a check needs neither the lock nor the output root


# -- frame numbering --------------------------------------------------------------


def test_missing_frame(corpus16: Corpus, untouched: Untouched) -> None:
    corpus16.write("Bad")
    corpus16.frame("Bad", 3).unlink()
    untouched.watch(corpus16.raw)
    expected = [(corpus16.frame("Bad", 3), "missing frame number(s) 3 of set Bad")]
    assert_fails_alone(corpus16.build(), corpus16, expected)


def test_zero_padded_frame_is_one_problem_not_two(corpus16: Corpus, untouched: Untouched) -> None:
    corpus16.write("Bad")
    corpus16.frame("Bad", 7).rename(corpus16.raw / "Bad-07.png")
    untouched.watch(corpus16.raw)
    expected = [(corpus16.raw / "Bad-07.png", "zero-padded frame number '07' (rename to 7)")]
    assert_fails_alone(corpus16.build(), corpus16, expected)


def test_duplicate_frame_number(corpus16: Corpus, untouched: Untouched) -> None:
    corpus16.write("Bad")
    shutil.copy(corpus16.frame("Bad", 7), corpus16.raw / "Bad-07.png")
    untouched.watch(corpus16.raw)
    expected = [(corpus16.raw / "Bad-07.png", "duplicate frame number 7: zero-padded '07'")]
    assert_fails_alone(corpus16.build(), corpus16, expected)


@pytest.mark.parametrize("k", [0, 17])
def test_extra_frame_number(corpus16: Corpus, k: int, untouched: Untouched) -> None:
    corpus16.write("Bad")
    draw_frame(1, SIZE).save(corpus16.frame("Bad", k))
    untouched.watch(corpus16.raw)
    expected = [(corpus16.frame("Bad", k), f"extra frame number {k} (expected 1..16)")]
    assert_fails_alone(corpus16.build(), corpus16, expected)


# -- set ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "set_id", ["Leg Soleus", "Leg.Soleus", "Leg-Sóleus", "Leg-\udcff", "..", "._Good"]
)
def test_unsafe_set_id_is_refused(corpus: Corpus, set_id: str, untouched: Untouched) -> None:
    corpus.write(set_id)
    untouched.watch(corpus.raw)
    before = _tree(corpus.root)
    result = corpus.build()
    problem = f"set id {set_id!r} is not allowed: use ASCII letters, digits, '-' and '_' only"
    assert_fails_alone(result, corpus, [(corpus.frame(set_id, 1), problem)])
    created = _tree(corpus.root) - before
    assert all(p.is_relative_to(corpus.out) for p in created), created


def _tree(root: Path) -> set[Path]:
    """Everything under ``root`` and beside it: where an escaping path would land."""
    return set(root.rglob("*")) | set(root.parent.iterdir())


@pytest.mark.parametrize("arg", ["../Good", "Good/../Good", "/etc/passwd", "Good/"])
def test_set_id_argument_cannot_name_a_path(corpus: Corpus, arg: str) -> None:
    result = corpus.build(arg)
    assert result.exit_code == 2
    close = " (did you mean Good?)" if arg in ("../Good", "Good/") else ""  # difflib's guess
    assert error_lines(result.stderr, corpus.root) == [
        f"{corpus.raw}: unknown set id(s): {arg}{close}"
    ]
    assert not [p for p in corpus.out.rglob("*") if p.name != LOCK_NAME]


def test_set_ids_differing_only_in_case(corpus: Corpus, untouched: Untouched) -> None:
    corpus.write("Leg-Soleus")
    corpus.write("leg-soleus")
    untouched.watch(corpus.raw)
    result = corpus.build()
    assert_fails_alone(
        result,
        corpus,
        [
            (corpus.frame("Leg-Soleus", 1), "differs from 'leg-soleus' only in case"),
            (corpus.frame("leg-soleus", 1), "differs from 'Leg-Soleus' only in case"),
        ],
    )


# -- PNG flavours that must work ------------------------------------------------------

Flavour = Callable[[int], tuple[bytes, np.ndarray]]  # frame k -> file bytes, expected RGBA


def _rgba(k: int) -> np.ndarray:
    return np.asarray(draw_frame(k, SIZE, transparent=True))


def _rgb(k: int) -> np.ndarray:
    return np.asarray(draw_frame(k, SIZE, transparent=False))


def _opaque(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb[..., :3]).convert("L"))


def rgba16(k: int) -> tuple[bytes, np.ndarray]:
    pixels = _rgba(k)
    return encode_png(pixels.astype(np.uint16) * 257, 6, 16), pixels


def rgb16(k: int) -> tuple[bytes, np.ndarray]:
    pixels = _rgb(k)
    return encode_png(pixels.astype(np.uint16) * 257, 2, 16), _opaque(pixels)


def grey16(k: int) -> tuple[bytes, np.ndarray]:
    grey = _grey(_rgb(k))
    return encode_png(grey.astype(np.uint16) * 257, 0, 16), _opaque(np.dstack([grey] * 3))


def grey_alpha(k: int) -> tuple[bytes, np.ndarray]:
    rgba = _rgba(k)
    grey, alpha = _grey(rgba), rgba[..., 3]
    return encode_png(np.dstack([grey, alpha]), 4, 8), np.dstack([grey, grey, grey, alpha])


def grey_alpha16(k: int) -> tuple[bytes, np.ndarray]:
    _, expected = grey_alpha(k)
    rgba = _rgba(k)
    wide = np.dstack([_grey(rgba), rgba[..., 3]]).astype(np.uint16) * 257
    return encode_png(wide, 4, 16), expected


def palette_with_transparency(k: int) -> tuple[bytes, np.ndarray]:
    """Index 0 transparent (a tRNS chunk), 1..63 opaque colours: how exporters write
    palette PNGs with a cut-out background."""
    rgba = draw_frame(k, SIZE)
    opaque = rgba.convert("RGB").quantize(colors=63, method=Image.Quantize.MEDIANCUT)
    indices = np.asarray(opaque).astype(np.uint8) + 1
    indices[np.asarray(rgba)[..., 3] < 128] = 0
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, *(opaque.getpalette() or [])[: 63 * 3]])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=bytes([0] + [255] * 63))
    with Image.open(io.BytesIO(buffer.getvalue())) as reread:
        assert reread.mode == "P" and "transparency" in reread.info
        expected = np.asarray(reread.convert("RGBA"))
    return buffer.getvalue(), expected


@pytest.mark.parametrize(
    "flavour", [rgba16, rgb16, grey16, grey_alpha, grey_alpha16, palette_with_transparency]
)
def test_png_flavours_build(corpus: Corpus, flavour: Flavour, untouched: Untouched) -> None:
    corpus.configure(png={"mode": "lossless"})  # exact pixels: every flavour decoded right
    expected = {}
    for k in range(1, corpus.count + 1):
        data, expected[k] = flavour(k)
        corpus.frame("Fmt", k).write_bytes(data)
    untouched.watch(corpus.raw)
    result = corpus.build()
    assert result.exit_code == 0, result.stderr
    assert error_lines(result.stderr, corpus.root) == []
    assert_built(corpus, "Fmt")
    assert_consistent(corpus.out)
    transparent = bool((expected[1][..., 3] < 255).any())
    for k in range(1, corpus.count + 1):
        with Image.open(corpus.out / "muscles" / "png" / f"Fmt-{k}.png") as built:
            got = np.asarray(built.convert("RGBA"))  # oxipng picks the colour type
        assert bool((got[..., 3] < 255).any()) == transparent
        assert _is_exact_crop(got, expected[k]), f"frame {k} is not an exact crop of its source"


def _is_exact_crop(crop: np.ndarray, source: np.ndarray) -> bool:
    h, w = crop.shape[:2]
    return any(
        np.array_equal(source[y : y + h, x : x + w], crop)
        for y in range(source.shape[0] - h + 1)
        for x in range(source.shape[1] - w + 1)
    )


# -- unreadable files -----------------------------------------------------------------


def test_unreadable_frame(corpus: Corpus, untouched: Untouched) -> None:
    """chmod 000; a root test run drops its permission override in the child CLI."""
    if reason := permissions_enforceable():
        pytest.skip(reason)
    corpus.write("Bad")
    corpus.frame("Bad", 3).chmod(0)
    untouched.watch(corpus.raw)
    result = cli_process("build", "--config", str(corpus.config), "-j", "1", obey_permissions=True)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr, corpus.root) == [
        f"{corpus.frame('Bad', 3)}: cannot read file: permission denied"
    ]
    assert_built(corpus)
    assert not list(corpus.out.rglob("Bad-*"))


def test_unreadable_raw_folder(corpus: Corpus) -> None:
    if reason := permissions_enforceable():
        pytest.skip(reason)
    result = cli_while_chmod(corpus.raw, 0, "build", "--config", str(corpus.config))
    assert result.returncode == 1
    assert error_lines(result.stderr, corpus.root) == [
        f"{corpus.raw}: cannot list folder: Permission denied"
    ]


# -- configuration ----------------------------------------------------------------------


def test_config_lists_every_problem_at_once(corpus: Corpus) -> None:
    corpus.config.write_text(
        "paths:\n"
        "  raw: no-such-folder\n"
        "  png_dir: ../escape\n"
        "frames:\n"
        "  count: sixteen\n"
        "thumbs:\n"
        "  widht: 100\n"
        "colour: red\n",
        encoding="utf-8",
    )
    result = cli("build", "--config", str(corpus.config))
    assert result.exit_code == 2
    lines = error_lines(result.stderr, corpus.root)
    prefix = f"{corpus.config}: "
    assert sorted(lines) == sorted(
        prefix + problem
        for problem in (
            f"colour: unknown key (known: {SECTIONS})",
            "frames.count: expected an integer, got 'sixteen'",
            "thumbs.widht: unknown key (known: height, png_mode, png_quality_max, resample, width)",
            f"paths.raw: folder does not exist: {corpus.root / 'no-such-folder'}",
            "paths.png_dir: must be a relative folder without dots: '../escape'",
        )
    )
    assert not (corpus.root / "output").exists() and not corpus.out.exists()


def test_missing_config_file(corpus: Corpus) -> None:
    missing = corpus.root / "missing.yaml"
    result = cli("build", "--config", str(missing))
    assert result.exit_code == 2
    assert error_lines(result.stderr, corpus.root) == [
        f"{missing}: cannot read config: No such file or directory"
    ]


def test_yaml_object_tags_are_refused(corpus: Corpus) -> None:
    marker = corpus.root / "pwned"
    corpus.config.write_text(
        f'paths: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="could not determine a constructor"):
        load_config(corpus.config)
    result = cli("build", "--config", str(corpus.config))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr, corpus.root)
    assert line.startswith(f"{corpus.config}: line 1: invalid YAML: could not determine")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("section", "values", "problem"),
    [
        ("paths", {"png_dir": "/tmp/elsewhere"}, "paths.png_dir: must be a relative folder"),
        ("paths", {"gif_dir": "muscles/../../x"}, "paths.gif_dir: must be a relative folder"),
        ("frames", {"pattern": "../{set_id}-{k}.png"}, "frames.pattern: must be a file name"),
    ],
)
def test_config_paths_cannot_leave_the_output_root(
    corpus: Corpus, section: str, values: dict[str, object], problem: str
) -> None:
    corpus.configure(**{section: values})
    result = corpus.build()
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr, corpus.root)
    assert line.startswith(f"{corpus.config}: {problem}")
    assert not corpus.out.exists()


def test_output_symlinked_outside_the_root_is_refused(corpus: Corpus, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    corpus.out.mkdir()
    (corpus.out / "muscles").symlink_to(elsewhere, target_is_directory=True)
    result = corpus.build()
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr, corpus.root)
    assert line.endswith(": path escapes the output folder")
    assert not any(elsewhere.iterdir())


# -- unexpected errors ----------------------------------------------------------------------


def test_unexpected_error_is_one_line_with_traceback_only_when_verbose(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault inside a library (here Pillow's resize) is a bug, not bad input: one
    line naming the set, the traceback only with --verbose, other sets unaffected."""
    corpus.write("Other")
    corpus.configure(thumbs={"width": 16, "height": 16})

    def resize(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        raise RuntimeError("resize broke")

    monkeypatch.setattr(Image.Image, "resize", resize)
    quiet = corpus.build("Good")
    assert quiet.exit_code == 1
    assert quiet.stderr.splitlines() == ["Good: unexpected error: RuntimeError: resize broke"]
    verbose = corpus.build("Good", "--verbose")
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr and "resize broke" in verbose.stderr
    monkeypatch.undo()
    assert corpus.build("Other").exit_code == 0
