"""Hostile input, pages and file system, through the real CLI (issue 14): special
files in place of frames and pages, alias bombs, a page saved during a build, pages
and outputs owned by someone else, a symlinked lock file, a user's temp-looking
files, overlapping folders, a manifest we cannot read, and frames whose
transparency or name is not what its mode or looks say.

Whatever could hang runs in a child process with a timeout, so a regression fails
instead of stalling the suite."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image, PngImagePlugin

from pipeline.site import frontmatter
from pipeline.state.lock import LOCK_NAME
from pipeline.state.manifest import MANIFEST_NAME
from tests.conftest import draw_frame
from tests.faultkit import (
    SIZE,
    Corpus,
    assemble_png,
    assert_built,
    assert_consistent,
    assert_fails_alone,
    cli,
    cli_process,
    error_lines,
    make_corpus,
    png_chunks,
    tree_hashes,
    write_config,
)

HANG = 60  # seconds: far beyond a few-frame build, short enough to fail a hang


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return make_corpus(tmp_path, 4)


def build_process(corpus: Corpus, *args: str) -> subprocess.CompletedProcess[str]:
    return cli_process("build", "--config", str(corpus.config), "-j", "1", *args, timeout=HANG)


# -- 5. only regular files are sources ---------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _link_to(device: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(device)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (_fifo, "FIFO"),
        (_link_to("/dev/zero"), "character device"),
        (_link_to("/dev/urandom"), "character device"),
    ],
    ids=["fifo", "dev-zero", "dev-urandom"],
)
def test_a_special_file_as_a_frame_is_a_defect_not_a_hang(
    corpus: Corpus, make: Callable[[Path], None], kind: str
) -> None:
    corpus.write("Bad")
    frame = corpus.frame("Bad", 2)
    frame.unlink()
    make(frame)
    done = build_process(corpus)
    assert done.returncode == 1, done.stderr
    assert error_lines(done.stderr, corpus.root) == [f"{frame}: not a regular file ({kind})"]
    assert_built(corpus)
    assert not (corpus.out / "muscles" / "png" / "Bad-1.png").exists()


# -- pages: helpers ----------------------------------------------------------------

PAGE = "---\n\ntitle: 'Author title'\n\nimages:\n\ngallery:\n\n---\n\nThe author's body.\n"


def page_corpus(corpus: Corpus, *set_ids: str) -> Path:
    """Sets ``Good`` and ``set_ids`` with a page each, the pages folder configured."""
    pages = corpus.root / "pages"
    pages.mkdir()
    for set_id in ("Good", *set_ids):
        if set_id != "Good":
            corpus.write(set_id)
        (pages / f"muscle_{set_id.lower()}.md").write_text(PAGE, encoding="utf-8")
    corpus.configure(paths={"pages": str(pages)}, variants={"webp": False})
    return pages


def pages_process(corpus: Corpus) -> subprocess.CompletedProcess[str]:
    return cli_process("pages", "--config", str(corpus.config), timeout=HANG)


def gallery_of(page: Path) -> list[Any]:
    data = yaml.safe_load(frontmatter.split_page(page.read_text(encoding="utf-8")).front)
    gallery = data["gallery"]
    assert isinstance(gallery, list)
    return gallery


def assert_page_fails_alone(corpus: Corpus, page: Path, problem: str) -> None:
    """``pages`` exits 1 with the one line for ``page``; the other page is written."""
    result = cli("pages", "--config", str(corpus.config))
    assert result.exit_code == 1
    assert error_lines(result.stderr, corpus.root) == [f"{page}:1: {problem}"]
    assert len(gallery_of(corpus.root / "pages" / "muscle_other.md")) == corpus.count


def test_a_page_that_is_a_fifo_fails_alone(corpus: Corpus) -> None:
    pages = page_corpus(corpus, "Bad")
    fifo = pages / "muscle_bad.md"
    fifo.unlink()
    os.mkfifo(fifo)
    done = pages_process(corpus)
    assert done.returncode == 1, done.stderr
    assert error_lines(done.stderr, corpus.root) == [f"{fifo}:1: not a regular file (FIFO)"]
    assert len(gallery_of(pages / "muscle_good.md")) == corpus.count
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_fifo_among_other_pages_is_skipped_when_looking_for_a_set_page(
    corpus: Corpus,
) -> None:
    """A set without its page makes the step read the other pages (to find one
    under an older name): a FIFO there is not a page, and must not be waited on."""
    pages = page_corpus(corpus, "New")
    (pages / "muscle_new.md").unlink()
    os.mkfifo(pages / "notes.md")
    done = pages_process(corpus)
    assert done.returncode == 0, done.stderr
    assert len(gallery_of(pages / "muscle_new.md")) == corpus.count
    assert stat.S_ISFIFO((pages / "notes.md").lstat().st_mode)


# -- 6. YAML aliases ---------------------------------------------------------------

LAUGHS = "lol0: &l0 lol\n" + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


@pytest.mark.parametrize(
    ("front", "line", "problem"),
    [
        (LAUGHS, 7, "YAML aliases expand to over 100000 values (an alias bomb?)"),
        ("loop: &a [*a]\n", 2, "recursive YAML alias: an anchor is used inside its own value"),
        ("loop: &a {k: *a}\n", 2, "recursive YAML alias: an anchor is used inside its own value"),
    ],
    ids=["billion-laughs", "recursive-list", "recursive-map"],
)
def test_alias_bombs_fail_their_page_alone(
    corpus: Corpus, front: str, line: int, problem: str
) -> None:
    pages = page_corpus(corpus, "Bad")
    bad = pages / "muscle_bad.md"
    bad.write_text(f"---\n{front}gallery:\n---\nbody\n", encoding="utf-8")
    assert len(bad.read_bytes()) < 1024
    before = bad.read_bytes()
    done = pages_process(corpus)
    assert done.returncode == 1, done.stderr
    assert error_lines(done.stderr, corpus.root) == [f"{bad}:{line}: {problem}"]
    assert bad.read_bytes() == before
    assert len(gallery_of(pages / "muscle_good.md")) == corpus.count


def test_aliases_within_the_limit_still_work(corpus: Corpus) -> None:
    pages = page_corpus(corpus)
    page = pages / "muscle_good.md"
    page.write_text(PAGE.replace("title: 'Author title'", "title: &t 'T'\nalt: *t"), "utf-8")
    result = cli("pages", "--config", str(corpus.config))
    assert result.exit_code == 0, result.output
    assert len(gallery_of(page)) == corpus.count


# -- 7. a page saved while the build runs ---------------------------------------------


def test_a_page_saved_during_the_build_keeps_the_authors_version(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the read and the write, another process (the author's editor) saves
    the page: the build leaves their version and says so."""
    pages = page_corpus(corpus, "Other")
    page = pages / "muscle_good.md"
    edited = PAGE.replace("The author's body.", "Saved by the author mid-build.")
    real_update = frontmatter.update

    def update_then_author_saves(fm: frontmatter.FrontMatter, specs: Any) -> str:
        new = real_update(fm, specs)
        if "Author title" in fm.text and page.read_text(encoding="utf-8") == PAGE:
            script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
            subprocess.run([sys.executable, "-c", script, str(page), edited], check=True)
        return new

    monkeypatch.setattr(frontmatter, "update", update_then_author_saves)
    problem = "page changed while the build ran: not rewritten (run again)"
    assert_page_fails_alone(corpus, page, problem)
    assert page.read_text(encoding="utf-8") == edited
    assert not [p for p in pages.iterdir() if p.name.startswith(".")]  # no temp file left


# -- 8. owner, group, mode; read-only and symlinked pages ---------------------------


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("giving files to another user needs root")


def test_rewritten_pages_and_outputs_keep_owner_group_and_mode(corpus: Corpus) -> None:
    needs_root()
    pages = page_corpus(corpus)
    assert corpus.build().exit_code == 0
    page = pages / "muscle_good.md"
    page.write_text(PAGE, encoding="utf-8")  # stale again: the build rewrites it
    thumb = corpus.out / "muscles" / "png" / "Good-1-thumb.png"
    for path, mode in ((page, 0o640), (thumb, 0o604)):
        os.chown(path, 4321, 4322)
        path.chmod(mode)
    corpus.configure(paths={"pages": str(pages)}, variants={"webp": False}, thumbs={"width": 20})
    result = corpus.build()
    assert result.exit_code == 0, result.output
    assert len(gallery_of(page)) == corpus.count
    assert Image.open(thumb).width == 20  # rewritten
    for path, mode in ((page, 0o640), (thumb, 0o604)):
        info = path.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 4322, mode)


def test_a_read_only_page_is_reported_not_rewritten(corpus: Corpus) -> None:
    pages = page_corpus(corpus, "Other")
    page = pages / "muscle_good.md"
    page.chmod(0o444)
    assert_page_fails_alone(corpus, page, "read-only page (no write permission): not rewritten")
    assert page.read_text(encoding="utf-8") == PAGE


def test_a_symlinked_page_is_edited_through_its_link(corpus: Corpus) -> None:
    pages = page_corpus(corpus)
    elsewhere = corpus.root / "drafts" / "good.md"
    elsewhere.parent.mkdir()
    link = pages / "muscle_good.md"
    link.rename(elsewhere)
    link.symlink_to(elsewhere)
    result = cli("pages", "--config", str(corpus.config))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.readlink() == elsewhere
    assert len(gallery_of(elsewhere)) == corpus.count


def test_a_dangling_page_link_is_refused_and_kept(corpus: Corpus) -> None:
    pages = page_corpus(corpus, "Other")
    link = pages / "muscle_good.md"
    link.unlink()
    link.symlink_to(corpus.root / "nowhere.md")
    problem = "symbolic link to a missing file: not followed (fix or remove the link)"
    assert_page_fails_alone(corpus, link, problem)
    assert link.is_symlink() and not (corpus.root / "nowhere.md").exists()


# -- 9. the lock file ----------------------------------------------------------------


@pytest.fixture
def victim(corpus: Corpus) -> Iterator[Path]:
    path = corpus.root / "precious.txt"
    path.write_text("not a lock file\n", encoding="utf-8")
    yield path
    assert path.read_text(encoding="utf-8") == "not a lock file\n"


def test_a_symlinked_lock_file_is_an_error_and_its_target_is_kept(
    corpus: Corpus, victim: Path
) -> None:
    corpus.out.mkdir()
    lock = corpus.out / LOCK_NAME
    lock.symlink_to(victim)
    result = corpus.build()
    assert result.exit_code == 1
    assert error_lines(result.stderr, corpus.root) == [
        f"{lock}: lock file is a symbolic link: remove it"
    ]
    assert lock.is_symlink()


@pytest.mark.parametrize("how", ["hard link", "other data"])
def test_a_lock_file_that_is_not_ours_is_never_truncated(
    corpus: Corpus, victim: Path, how: str
) -> None:
    corpus.out.mkdir()
    lock = corpus.out / LOCK_NAME
    if how == "hard link":
        os.link(victim, lock)
        problem = "lock file has other hard links: remove it"
    else:
        lock.write_text("not a lock file\n", encoding="utf-8")
        problem = "not a lock file of ours (it holds other data): remove it"
    result = corpus.build()
    assert result.exit_code == 1
    assert error_lines(result.stderr, corpus.root) == [f"{lock}: {problem}"]
    assert lock.read_text(encoding="utf-8") == "not a lock file\n"


# -- 11. folders of their own ----------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "pages", "problem"),
    [
        ("raw/out", None, "paths.raw and paths.output overlap"),
        ("out", "out/pages", "paths.output and paths.pages overlap"),
        ("raw", None, "paths.raw and paths.output: the same folder"),
        ("/", None, "paths.output: / is a system or home folder"),
        ("/usr", None, "paths.output: /usr is a system or home folder"),
        ("~", None, "is a system or home folder"),
    ],
)
def test_overlapping_or_system_folders_are_refused(
    corpus: Corpus, output: str, pages: str | None, problem: str
) -> None:
    paths: dict[str, Any] = {"output": output}
    if pages is not None:
        paths["pages"] = pages
    write_config(corpus.config, corpus.raw, corpus.out, paths=paths)
    result = corpus.build()
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{corpus.config}: "), lines
    assert problem in lines[0], lines[0]
    assert not (corpus.root / "out").exists()


# -- 12. clean and the manifest --------------------------------------------------------


def test_clean_keeps_a_listed_file_that_is_not_what_we_wrote(corpus: Corpus) -> None:
    assert corpus.build().exit_code == 0
    mine = corpus.out / "muscles" / "png" / "Good-2.png"
    draw_frame(7, SIZE).save(mine)  # a person's own picture under our name
    result = cli("clean", "--config", str(corpus.config))
    assert result.exit_code == 0, result.output
    assert error_lines(result.stderr, corpus.root) == [
        f"{mine}: not removed: not the file the build wrote (changed or replaced since)"
    ]
    left = [p for p in corpus.out.rglob("*") if p.is_file()]
    assert left == [mine]


def _future(manifest: dict[str, Any]) -> str:
    manifest["version"] = 2
    return "made by a newer muscle-assets (manifest format 2, this one reads 1)"


def _no_hash(manifest: dict[str, Any]) -> str:
    relpath = min(manifest["outputs"])
    del manifest["outputs"][relpath]["sha256"]
    return f"outputs[{relpath!r}]: 'sha256' missing or not text"


def _a_list(manifest: dict[str, Any]) -> str:
    manifest["outputs"] = list(manifest["outputs"])
    return "'outputs' must be a JSON object"


def _bad_box(manifest: dict[str, Any]) -> str:
    sha = min(manifest["frames"])
    manifest["frames"][sha]["bbox"] = [1, 2]
    return f"frames[{sha!r}]: 'bbox' must be null or a list of 4 integers"


@pytest.mark.parametrize("spoil", [_future, _no_hash, _a_list, _bad_box])
@pytest.mark.parametrize("command", ["build", "check", "pages", "clean", "thumbs"])
def test_a_manifest_we_cannot_trust_is_refused_by_every_command(
    corpus: Corpus, spoil: Callable[[dict[str, Any]], str], command: str
) -> None:
    assert corpus.build().exit_code == 0
    corpus.configure(paths={"pages": str(corpus.root / "pages")})
    path = corpus.out / MANIFEST_NAME
    manifest = json.loads(path.read_text(encoding="utf-8"))
    problem = spoil(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    before = tree_hashes(corpus.out)
    result = cli(command, "--config", str(corpus.config))
    assert result.exit_code == 1, result.output
    lines = error_lines(result.stderr, corpus.root)
    assert len(lines) == 1 and lines[0].startswith(f"{path}: {problem}"), lines
    after = tree_hashes(corpus.out)
    after.setdefault(LOCK_NAME, before[LOCK_NAME])  # clean removes the (empty) lock file
    assert after == before


def test_a_manifest_that_is_a_fifo_is_refused_not_waited_on(corpus: Corpus) -> None:
    corpus.out.mkdir()
    os.mkfifo(corpus.out / MANIFEST_NAME)
    done = build_process(corpus)
    assert done.returncode == 1, done.stderr
    assert error_lines(done.stderr, corpus.root) == [
        f"{corpus.out / MANIFEST_NAME}: cannot read manifest: not a regular file (FIFO)"
    ]


# -- 14. transparency by pixels, names by what they are ---------------------------------


def _opaque_rgba(path: Path) -> str:
    draw_frame(3, SIZE, transparent=False).convert("RGBA").save(path)
    return "frame has no transparency but Bad-1.png has: all frames of a set must be of one kind"


def _bad_text_crc(path: Path) -> str:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "renderer")
    draw_frame(3, SIZE).save(path, pnginfo=info)
    chunks = png_chunks(path.read_bytes())
    data = assemble_png(chunks)
    at = data.index(b"tEXt") + 4 + len(dict(chunks)[b"tEXt"])
    path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    return "corrupt PNG: bad CRC in tEXt chunk"


@pytest.mark.parametrize("breaker", [_opaque_rgba, _bad_text_crc])
def test_bad_frame_fails_its_set_alone(corpus: Corpus, breaker: Callable[[Path], str]) -> None:
    corpus.write("Bad")
    problem = breaker(corpus.frame("Bad", 3))
    assert_fails_alone(corpus.build(), corpus, [(corpus.frame("Bad", 3), problem)])


def test_a_solid_set_in_rgba_is_one_kind(corpus: Corpus) -> None:
    """Every frame opaque RGBA, one of them RGB: all solid, so one kind, no defect."""
    for k in range(1, corpus.count + 1):
        frame = draw_frame(k, SIZE, transparent=False)
        (frame if k == 2 else frame.convert("RGBA")).save(corpus.frame("Solid", k))
    assert corpus.build().exit_code == 0
    assert_built(corpus, "Solid")


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_trns_colour_key_is_transparency(corpus: Corpus, mode: str) -> None:
    """A grey or RGB PNG whose tRNS chunk names white: white is see-through."""
    for k in range(1, corpus.count + 1):
        frame = draw_frame(k, SIZE, transparent=False).convert(mode)
        key = (255, 255, 255) if mode == "RGB" else 255
        frame.save(corpus.frame("Keyed", k), transparency=key)
    assert corpus.build().exit_code == 0
    with Image.open(corpus.out / "muscles" / "png" / "Keyed-1.png") as out:
        alpha = np.asarray(out.convert("RGBA").getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255


@pytest.mark.parametrize(
    ("name", "shown", "problem"),
    [
        ("Bad-3.png\n", "Bad-3.png\\n", "file name has a line break or other control character"),
        ("Bad-3.png\r", "Bad-3.png\\r", "file name has a line break or other control character"),
        ("B\nad-3.png", "B\\nad-3.png", "set id 'B\\nad' is not allowed"),
        ("-1.png", "-1.png", "no set id before the frame number"),
    ],
    ids=["trailing-newline", "trailing-cr", "newline-inside", "empty-id"],
)
def test_a_name_that_hides_a_frame_is_a_defect(
    corpus: Corpus, name: str, shown: str, problem: str
) -> None:
    if name.startswith("Bad-3"):  # the rest of the set is there: only the name is wrong
        corpus.write("Bad")
        corpus.frame("Bad", 3).rename(corpus.raw / name)
    else:
        buffer = io.BytesIO()
        draw_frame(3, SIZE).save(buffer, format="PNG")
        (corpus.raw / name).write_bytes(buffer.getvalue())
    result = corpus.build()
    assert result.exit_code == 1
    lines = error_lines(result.stderr, corpus.root)
    assert len(lines) == 1 and lines[0].startswith(f"{corpus.raw / shown}: {problem}"), lines
    assert_built(corpus)
    assert_consistent(corpus.out)
