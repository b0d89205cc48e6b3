"""A bounded, seeded fuzz of the sources: valid PNGs with random damage go through
the real CLI. Every run must end in success or in one-line ``<file>: <problem>``
errors (never a traceback), leave every output whole and matching the manifest,
and leave the damaged sources exactly as they were written.

The budget is fixed (``BUDGET`` seconds, at most ``MAX_RUNS`` runs) and the random
sequence is seeded, so a failure names a seed and a run that reproduce it. For a
longer hunt: ``MUSCLE_FUZZ_SECONDS=300 MUSCLE_FUZZ_SEED=3 pytest -s tests/test_fuzz.py``
(the run limit then scales with the budget)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.faultkit import (
    SIZE,
    Corpus,
    assemble_png,
    assert_built,
    assert_consistent,
    cli,
    error_lines,
    make_corpus,
    png_chunks,
    temp_files,
)

SEED = int(os.environ.get("MUSCLE_FUZZ_SEED", "20261124"))
BUDGET = float(os.environ.get("MUSCLE_FUZZ_SECONDS", "6"))  # seconds of fuzzing
MAX_RUNS = max(400, int(BUDGET * 100))

Mutation = Callable[[random.Random, bytes], bytes]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= rng.randint(1, 255)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def insert_junk(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]


def damage_chunk_keep_crc(rng: random.Random, data: bytes) -> bytes:
    """Damage inside a chunk with its CRC recomputed, so the decoder gets past the
    checksum into zlib streams, palettes and ancillary chunks."""
    chunks = png_chunks(data)
    index = rng.randrange(len(chunks))
    kind, body = chunks[index]
    if body:
        body = flip_bytes(rng, body)
    chunks[index] = (kind, body)
    return assemble_png(chunks)


def edit_header(rng: random.Random, data: bytes) -> bytes:
    """A consistent-looking IHDR with hostile values: huge or zero sizes, bit depths
    and colour types that do not go together, unknown interlace methods."""
    chunks = png_chunks(data)
    width, height, depth, colour, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    field = rng.randrange(5)
    if field == 0:
        width = rng.choice([0, 1, SIZE - 1, SIZE + 1, 65535, 2**31 - 1, rng.randrange(2**32)])
    elif field == 1:
        height = rng.choice([0, 1, SIZE // 2, 2**31 - 1, rng.randrange(2**32)])
    elif field == 2:
        depth = rng.choice([0, 1, 2, 3, 4, 8, 16, 255])
    elif field == 3:
        colour = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 255])
    else:
        interlace = rng.choice([1, 2, 255])
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, comp, filt, interlace)
    chunks[0] = (b"IHDR", ihdr)
    return assemble_png(chunks)


def shuffle_chunks(rng: random.Random, data: bytes) -> bytes:
    chunks = png_chunks(data)
    choice = rng.randrange(3)
    index = rng.randrange(len(chunks))
    if choice == 0:
        del chunks[index]
    elif choice == 1:
        chunks.insert(index, chunks[rng.randrange(len(chunks))])
    else:
        kind = rng.choice([b"tRNS", b"PLTE", b"iCCP", b"zTXt", b"sBIT", b"gAMA", b"acTL"])
        chunks.insert(rng.randint(1, len(chunks) - 1), (kind, rng.randbytes(rng.randint(0, 40))))
    return assemble_png(chunks)


MUTATIONS: tuple[Mutation, ...] = (
    flip_bytes,
    truncate,
    insert_junk,
    damage_chunk_keep_crc,
    edit_header,
    shuffle_chunks,
)


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    corpus = make_corpus(tmp_path, 4)
    corpus.write("Fuzz")
    # small frames only: a header claiming a huge canvas is refused, never decoded
    corpus.configure(frames={"max_pixels": 4 * SIZE * SIZE})
    return corpus


def test_damaged_pngs_fail_cleanly(corpus: Corpus) -> None:
    originals = {k: corpus.frame("Fuzz", k).read_bytes() for k in range(1, corpus.count + 1)}
    assert corpus.build().exit_code == 0
    good = {p: p.read_bytes() for p in corpus.out.rglob("Good-*")}
    rng = random.Random(SEED)
    deadline = time.monotonic() + BUDGET
    runs = outcomes = 0
    while runs < MAX_RUNS and time.monotonic() < deadline:
        runs += 1
        written: dict[Path, str] = {}
        for k, data in originals.items():
            if rng.random() < 0.4 or k == 1:
                mutation = rng.choice(MUTATIONS)
                data = mutation(rng, data)
            path = corpus.frame("Fuzz", k)
            path.write_bytes(data)
            written[path] = hashlib.sha256(data).hexdigest()

        result = corpus.build()

        where = f"seed {SEED}, run {runs}"
        assert result.exit_code in (0, 1), f"{where}: {result.output}"
        assert "Traceback" not in result.output, where
        lines = error_lines(result.stderr, corpus.root)
        assert (result.exit_code == 1) == bool(lines), f"{where}: {lines}"
        for line in lines:
            assert line.startswith(f"{corpus.raw / 'Fuzz-'}"), f"{where}: {line}"
        outcomes += result.exit_code
        if result.exit_code == 0:
            assert_built(corpus, "Fuzz")
        assert_consistent(corpus.out)
        for path, digest in written.items():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{where}: {path}"
        assert {p: p.read_bytes() for p in corpus.out.rglob("Good-*")} == good, where
    print(f"fuzz: seed {SEED}, {runs} runs, {outcomes} ended in exit 1, {runs - outcomes} in 0")
    assert runs >= 5, "the budget allowed too few runs to mean anything"
    assert outcomes > 0, "no damage was ever detected: the mutations do nothing"


# -- front matter ------------------------------------------------------------------------

# Jekyll's own test for front matter (Jekyll::Document::YAML_FRONT_MATTER_REGEXP)
JEKYLL_FRONT_MATTER = re.compile(r"\A(---\s*\n.*?\n?)^((---|\.\.\.)\s*$\n?)", re.M | re.S)

PAGE_BODY = (
    "\nThe fuzzed muscle. A body line with --- inside, and a rule below.\n\n---\n\n"
    '{% include page-image im_id="fuzz" %}\n\n{% include gallery %}\n'
)


def _page(count: int) -> str:
    """A page in the site's hand-written style (see CONTEXT.md), with human text."""
    entries = "".join(
        f"  - image_url: muscles/png/Fuzz-{k}.png\n"
        f"    caption: 'Caption {k}, written by hand'\n"
        f"    title: 'Fuzz muscle - orientation {k}'\n"
        for k in range(1, count + 1)
    )
    return (
        "---\n\nlayout: page\npermalink: /muscle/fuzz/\n\ntitle: 'Fuzz muscle'\n\n"
        "images:\n  - image_id: 'fuzz'\n    image_name: 'muscles/gif/Fuzz.gif'\n"
        "    image_title: 'Fuzz muscle'\n    image_alt: 'Fuzz muscle' \n\n"
        f"gallery:\n{entries}\n---\n{PAGE_BODY}"
    )


def _edit_lines(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    # edits aim at the front matter: up to the closing fence, found from the body
    # (an earlier edit may have changed or removed the fence itself)
    head_end = next(i for i, line in enumerate(lines) if line.startswith("The fuzzed")) - 2
    at = rng.randrange(1, head_end + 1)
    choice = rng.randrange(9)
    if choice == 0:
        del lines[at]
    elif choice == 1:
        lines.insert(at, lines[rng.randrange(1, head_end)])
    elif choice == 2:
        lines[at] = "\t" + lines[at]
    elif choice == 3:
        lines[at] = " " * rng.randint(1, 5) + lines[at]
    elif choice == 4:
        lines.insert(at, rng.choice(["- x", ": x", "? k", "&a b", "*a", "!!str", "{", "[", "'"]))
    elif choice == 5:
        line = lines[at]
        cut = rng.randrange(len(line) + 1)
        lines[at] = line[:cut] + rng.choice("'\":#&*!|>%@`{}[],-? \u00e9\u2013") + line[cut:]
    elif choice == 6:
        lines[at] = lines[at].replace(": ", ":", 1)
    elif choice == 7:
        value = rng.choice(["yes", "no", "on", "12:30", "010", "1e3", "null", "#1", "~", "''"])
        if ": " in lines[at]:
            key = lines[at].split(": ", 1)[0]
            lines[at] = f"{key}: {value}"
    else:
        lines[head_end] = rng.choice(["", "--", "---x", "...", " ---"])
    return "\n".join(lines)


def test_edited_front_matter_fails_cleanly_or_is_updated(corpus: Corpus) -> None:
    """Random edits of a page's front matter: the pages step either updates it, with
    the body untouched and the managed keys reading back as intended, or refuses it
    with one ``<page>:<line>: <problem>`` line and leaves the file as it was."""
    pages_dir = corpus.root / "pages"
    pages_dir.mkdir()
    corpus.configure(paths={"pages": str(pages_dir)})
    assert corpus.build().exit_code == 0
    page = pages_dir / "muscle_fuzz.md"
    original = _page(corpus.count)
    rng = random.Random(SEED)
    deadline = time.monotonic() + BUDGET / 2
    runs = refused = 0
    while runs < MAX_RUNS and time.monotonic() < deadline:
        runs += 1
        text = original
        for _ in range(rng.randint(1, 3)):
            text = _edit_lines(rng, text)
        if rng.random() < 0.2:
            text = text.replace("\n", "\r\n")
        page.write_text(text, encoding="utf-8", newline="")
        before = page.read_bytes()

        result = cli("pages", "Fuzz", "--config", str(corpus.config), "-j", "1", "-q")

        where = f"seed {SEED}, run {runs}"
        assert result.exit_code in (0, 1), f"{where}: {result.output}"
        assert "Traceback" not in result.output, where
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert temp_files(pages_dir) == [], where
        if result.exit_code == 1:
            refused += 1
            assert len(lines) == 1 and lines[0].startswith(f"{page}:"), f"{where}: {lines}"
            assert page.read_bytes() == before, f"{where}: a refused page was changed"
            continue
        assert lines == [], f"{where}: {lines}"
        after = page.read_bytes().decode("utf-8")
        newline = "\r\n" if "\r\n" in text else "\n"
        assert after.endswith(PAGE_BODY.replace("\n", newline)), f"{where}: body changed"
        match = JEKYLL_FRONT_MATTER.match(after.replace("\r\n", "\n"))
        assert match, f"{where}: Jekyll would not see front matter"
        front = yaml.safe_load(match[1])
        urls = [entry["image_url"] for entry in front["gallery"]]
        assert urls == [f"muscles/png/Fuzz-{k}.png" for k in range(1, corpus.count + 1)], where
        # an entry not naming our GIF is a person's other image: ours is added beside it
        names = [e.get("image_name") for e in front["images"] if isinstance(e, dict)]
        assert "muscles/gif/Fuzz.gif" in names, where
        again = cli("pages", "Fuzz", "--config", str(corpus.config), "-j", "1", "-q")
        assert again.exit_code == 0 and page.read_bytes().decode("utf-8") == after, where
    print(f"front matter fuzz: seed {SEED}, {runs} runs, {refused} refused")
    assert runs >= 5, "the budget allowed too few runs to mean anything"
    assert 0 < refused < runs, "the edits never (or always) broke the page"
