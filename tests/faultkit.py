"""Helpers for the bad-input, fault and fuzz tests: PNG bytes built by hand, the
CLI run in-process or as a real process (optionally without root's file-permission
override), and the checks every scenario ends with (outputs whole and matching the
manifest, sources untouched, errors one line each)."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from click.testing import CliRunner, Result
from PIL import Image

from pipeline.cli import main
from pipeline.state.manifest import MANIFEST_NAME
from tests.conftest import write_set

SIZE = 48
KINDS = ("png", "thumb.png", "webp", "thumb.webp")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# -- PNG bytes -----------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a well-formed PNG as (type, body) pairs."""
    assert data[:8] == PNG_SIGNATURE
    chunks: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def chunk(kind: bytes, body: bytes) -> bytes:
    """One chunk with a correct CRC, so a decoder gets past the checksum to the body."""
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def assemble_png(chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(chunk(kind, body) for kind, body in chunks)


def encode_png(pixels: np.ndarray, colour_type: int, bit_depth: int) -> bytes:
    """Encode grey (0), RGB (2), grey+alpha (4) or RGBA (6) at 8 or 16 bits: Pillow
    cannot write 16-bit colour PNGs, which renderers do produce."""
    height, width = pixels.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    rows = np.ascontiguousarray(pixels.astype(dtype)).reshape(height, -1).view(np.uint8)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return assemble_png([(b"IHDR", ihdr), (b"IDAT", zlib.compress(raw)), (b"IEND", b"")])


def bomb_png(width: int, height: int) -> bytes:
    """A tiny file that claims a huge canvas: the header is all a bomb check may read."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    row = b"\x00" + b"\x00" * 4 * min(width, 4096)
    return assemble_png([(b"IHDR", ihdr), (b"IDAT", zlib.compress(row * 16)), (b"IEND", b"")])


# -- running the CLI ---------------------------------------------------------------


def write_config(path: Path, raw: Path, out: Path, **sections: dict[str, Any]) -> Path:
    data: dict[str, Any] = {"paths": {"raw": str(raw), "output": str(out)}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def cli(*args: str) -> Result:
    """The CLI in-process, stderr kept apart so its lines can be checked one by one."""
    return CliRunner().invoke(main, list(args))


def _drop_file_override() -> None:  # pragma: no cover - runs in the child
    """Give up CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH for this process and what it
    executes: root then obeys file modes like any user (PR_CAPBSET_DROP = 24)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def permissions_enforceable() -> str | None:
    """``None`` when a child process will obey file modes, else why not."""
    if os.geteuid() != 0:
        return None
    probe = subprocess.run(
        [sys.executable, "-c", "pass"], preexec_fn=_drop_file_override, check=False
    )
    return None if probe.returncode == 0 else "cannot drop root's file-permission override"


def cli_process(
    *args: str, obey_permissions: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process (``python -m pipeline``). With
    ``obey_permissions`` a root child loses its permission override, so chmod
    really denies it (a non-root child obeys file modes anyway)."""
    drop = obey_permissions and os.geteuid() == 0
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=_drop_file_override if drop else None,
    )


def cli_while_chmod(folder: Path, mode: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI, obeying permissions, while ``folder`` has ``mode`` (0o755 again after)."""
    folder.chmod(mode)
    try:
        return cli_process(*args, obey_permissions=True)
    finally:
        folder.chmod(0o755)


def error_lines(stderr: str, root: Path) -> list[str]:
    """The lines of ``stderr``, each checked to be ``<file under root>: <problem>``."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in lines:
        assert line.startswith(f"{root}{os.sep}") or line.startswith(f"{root}:"), line
        _path, sep, problem = line.partition(": ")
        assert sep and problem.strip(), line
    return lines


def shown(path: Path) -> str:
    """How a path appears on stderr: bytes that are not UTF-8 come out escaped."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


# -- checking what is on disk ------------------------------------------------------


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 and mode of every file under ``folder``, by relative path."""
    hashes: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            hashes[str(path.relative_to(folder))] = f"{digest} {path.stat().st_mode:o}"
    return hashes


@dataclass
class Untouched:
    """Folders that no scenario may change: hashed when watched, checked at the end."""

    before: dict[Path, dict[str, str]]

    def watch(self, *folders: Path) -> None:
        for folder in folders:
            self.before[folder] = tree_hashes(folder)

    def verify(self) -> None:
        for folder, hashes in self.before.items():
            assert tree_hashes(folder) == hashes, f"{folder} was modified"


def temp_files(folder: Path) -> list[Path]:
    return list(folder.rglob("*.tmp")) if folder.exists() else []


def load_manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    return data


def assert_consistent(out: Path) -> dict[str, Any]:
    """Every output decodes to the end, every manifest entry matches its file's
    bytes, and no temporary file is left: the state a build must always leave."""
    assert not temp_files(out), temp_files(out)
    manifest = load_manifest(out) if (out / MANIFEST_NAME).exists() else {"outputs": {}}
    for relpath, entry in manifest["outputs"].items():
        path = out / relpath
        assert path.is_file(), f"manifest lists {relpath}, which is missing"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{relpath} does not match its manifest entry"
    for path in out.rglob("*"):
        if path.suffix in (".png", ".webp", ".avif", ".gif"):
            assert_decodes(path)
    return manifest


def assert_decodes(path: Path) -> None:
    with Image.open(path) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()


# -- holding the lock from another process ---------------------------------------------

_HOLDER = """
import sys
from pathlib import Path
from pipeline.state.lock import output_lock
with output_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def lock_held_elsewhere(out_root: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``out_root``'s lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out_root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=30)


# -- a small corpus -----------------------------------------------------------------


@dataclass
class Corpus:
    """A raw folder holding the set ``Good`` (and whatever a test adds), an output
    root and a config file, all in ``tmp_path``. Sets have ``count`` frames (4
    unless the test is about frame numbers: the checks do not depend on it, and
    small sets keep the suite fast)."""

    root: Path
    count: int

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def config(self) -> Path:
        return self.root / "pipeline.yaml"

    def write(self, set_id: str) -> None:
        write_set(self.raw, set_id, size=SIZE, frames=range(1, self.count + 1))

    def build(self, *args: str) -> Result:
        return cli("build", "--config", str(self.config), "-j", "1", *args)

    def configure(self, **sections: dict[str, object]) -> None:
        base: dict[str, dict[str, object]] = {
            "frames": {"count": self.count},
            "png": {"optimize_level": 0},
        }
        for name, values in sections.items():
            base.setdefault(name, {}).update(values)
        write_config(self.config, self.raw, self.out, **base)

    def frame(self, set_id: str, k: int) -> Path:
        return self.raw / f"{set_id}-{k}.png"


def make_corpus(root: Path, count: int) -> Corpus:
    corpus = Corpus(root, count)
    corpus.write("Good")
    corpus.configure()
    return corpus


def output_names(set_id: str, count: int) -> list[str]:
    names = []
    for k in range(1, count + 1):
        for kind in KINDS:
            stem, _, ext = kind.rpartition(".")
            names.append(f"{set_id}-{k}{'-' + stem if stem else ''}.{ext}")
    return names


def assert_built(corpus: Corpus, set_id: str = "Good") -> None:
    png = corpus.out / "muscles" / "png"
    for name in output_names(set_id, corpus.count):
        assert (png / name).is_file(), name
        assert_decodes(png / name)


def assert_fails_alone(result: Result, corpus: Corpus, expected: list[tuple[Path, str]]) -> None:
    """Exit 1, exactly the expected lines (file and problem), the good set built,
    nothing of the broken set written, every output whole."""
    assert result.exit_code == 1, result.output
    lines = error_lines(result.stderr, corpus.root)
    assert len(lines) == len(expected), lines
    for line, (path, problem) in zip(lines, expected, strict=True):
        assert line.startswith(f"{shown(path)}: "), line
        assert problem in line, line
    assert_built(corpus)
    strays = [p for p in corpus.out.rglob("*") if p.is_file() and not p.name.startswith("Good")]
    assert {p.name for p in strays} <= {".muscle-assets-manifest.json", ".muscle-assets.lock"}
    assert_consistent(corpus.out)
