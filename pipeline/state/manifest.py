"""Incremental state: what each output was made from, kept in the output root.

An output is up to date when the fingerprint of its inputs (source hashes, the
shared crop, the values that change its bytes, the stage's version) matches the one
recorded, and the file on disk is the one recorded (size + mtime fast path, then
content hash, as git's index does). Existence and mtimes alone never decide.

Frame probes (size, visible box) are cached by the source's content hash and the
config values that change a probe (background colour, tolerance), so an unchanged
set is planned without decoding a pixel.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ManifestError
from pipeline.sources.files import open_regular
from pipeline.sources.frames import PROBE_VERSION, FrameInfo
from pipeline.state.outputs import Output, write_bytes_atomic

MANIFEST_NAME = ".muscle-assets-manifest.json"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The content hash of a regular file. Opened without blocking and checked
    before reading: a FIFO or device put in a file's place since discovery would
    otherwise make the build wait or read forever."""
    with open_regular(path) as handle:
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# What each entry must hold: a manifest of another shape is refused, not guessed at
# (dropping it would forget which files are ours, and ``clean`` would miss them).
_SOURCE_KEYS = {"size": int, "mtime_ns": int, "sha256": str}
_FRAME_KEYS = {"width": int, "height": int, "has_alpha": bool, "flat": bool}
_OUTPUT_KEYS = {
    "set": str,
    "fingerprint": str,
    "sha256": str,
    "size": int,
    "mtime_ns": int,
    "written": dict,
}
_WRITTEN_KEYS = {
    "relpath": str,
    "stage": str,
    "kind": str,
    "format": str,
    "width": int,
    "height": int,
    "bytes": int,
}
_SECTIONS = {"sources": _SOURCE_KEYS, "frames": _FRAME_KEYS, "outputs": _OUTPUT_KEYS}


def _shape_problem(data: Any) -> str | None:
    """What is wrong with a loaded manifest's shape, or None."""
    if not isinstance(data, dict):
        return "not a manifest (expected a JSON object)"
    version = data.get("version")
    if version != FORMAT_VERSION:
        if isinstance(version, int) and version > FORMAT_VERSION:
            return (
                f"made by a newer muscle-assets (manifest format {version}, this one "
                f"reads {FORMAT_VERSION}): upgrade, or remove the file to rebuild everything"
            )
        return f"unknown manifest format {version!r} (expected {FORMAT_VERSION})"
    for section, keys in _SECTIONS.items():
        entries = data.get(section, {})
        if not isinstance(entries, dict):
            return f"{section!r} must be a JSON object"
        for name, entry in entries.items():
            problem = _entry_problem(entry, keys)
            if problem is None and section == "outputs":
                problem = _entry_problem(entry["written"], _WRITTEN_KEYS)
            if problem is None and section == "frames" and not _is_box(entry.get("bbox")):
                problem = "'bbox' must be null or a list of 4 integers"
            if problem is not None:
                return f"{section}[{name!r}]: {problem}"
    return None


def _is_box(value: Any) -> bool:
    return value is None or (
        isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) for v in value)
    )


def _entry_problem(entry: Any, keys: dict[str, type]) -> str | None:
    if not isinstance(entry, dict):
        return "expected a JSON object"
    for key, kind in keys.items():
        if not isinstance(entry.get(key), kind):
            return f"{key!r} missing or not {'text' if kind is str else kind.__name__}"
    return None


def fingerprint(data: Any) -> str:
    """A stable hash of JSON-able data (sorted keys, so dict order never matters)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Manifest:
    """The manifest, or one set's part of it (the same shape, fewer entries)."""

    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    frames: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set by every change, so a no-op build does not even serialise the manifest.
    dirty: bool = field(default=False, compare=False)

    # -- files ---------------------------------------------------------------
    @classmethod
    def load(cls, out_root: Path) -> Manifest:
        """The manifest in ``out_root``; an absent one is empty (everything is
        built). One that cannot be read, or is of an unknown version or shape, is
        refused with :class:`ManifestError`: it is the only record of which files
        are ours, so it is never silently dropped or overwritten."""
        path = out_root / MANIFEST_NAME
        try:
            with open_regular(path) as handle:
                text = handle.read()
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise ManifestError(path, f"cannot read manifest: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(
                path, "not valid JSON: remove the file to rebuild everything"
            ) from exc
        problem = _shape_problem(data)
        if problem is not None:
            raise ManifestError(path, problem)
        return cls(
            sources=dict(data.get("sources", {})),
            frames=dict(data.get("frames", {})),
            outputs=dict(data.get("outputs", {})),
        )

    def save(self, out_root: Path) -> None:
        data = {
            "version": FORMAT_VERSION,
            "sources": self.sources,
            "frames": self.frames,
            "outputs": self.outputs,
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        path = out_root / MANIFEST_NAME
        try:
            if path.read_bytes() == text:
                return  # a no-op build leaves the manifest (and its mtime) alone
        except OSError:
            pass
        write_bytes_atomic(path, text)
        self.dirty = False

    # -- slices --------------------------------------------------------------
    def part_for(
        self,
        set_id: str,
        source_keys: Iterable[str],
        by_set: dict[str, dict[str, dict[str, Any]]] | None = None,
    ) -> Manifest:
        """The entries one set needs; pass ``by_set`` (from :meth:`outputs_by_set`)
        when taking many sets' parts, so each does not scan every output."""
        sources = {k: self.sources[k] for k in source_keys if k in self.sources}
        shas = {entry["sha256"] for entry in sources.values()}
        outputs = by_set.get(set_id, {}) if by_set is not None else self.outputs_of(set_id)
        return Manifest(
            sources=sources,
            frames={sha: self.frames[sha] for sha in shas if sha in self.frames},
            outputs=dict(outputs),
        )

    def outputs_by_set(self) -> dict[str, dict[str, dict[str, Any]]]:
        grouped: dict[str, dict[str, dict[str, Any]]] = {}
        for relpath, entry in self.outputs.items():
            grouped.setdefault(str(entry.get("set")), {})[relpath] = entry
        return grouped

    def merge(self, other: Manifest) -> None:
        self.dirty = self.dirty or other.dirty
        self.sources.update(other.sources)
        self.frames.update(other.frames)
        self.outputs.update(other.outputs)

    # -- sources -------------------------------------------------------------
    def source_sha(self, key: str, path: Path) -> str:
        """Content hash of a source, re-read only when its size or mtime changed."""
        stat = path.stat()
        entry = self.sources.get(key)
        if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            return str(entry["sha256"])
        sha = file_sha256(path)
        self.dirty = True
        self.sources[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
        return sha

    def frame_info(self, sha: str, probe: str) -> FrameInfo | None:
        """The cached probe of a source, if it was made with the same ``probe`` key
        (the visible box of an opaque frame depends on the background settings)."""
        entry = self.frames.get(sha)
        if not entry or entry.get("probe") != probe or entry.get("version") != PROBE_VERSION:
            return None
        return FrameInfo.from_json(entry)

    def record_frame_info(self, sha: str, probe: str, info: FrameInfo) -> None:
        self.frames[sha] = {**info.to_json(), "probe": probe, "version": PROBE_VERSION}
        self.dirty = True

    # -- outputs -------------------------------------------------------------
    def output_current(self, relpath: str, fp: str, path: Path | str) -> bool:
        """True when ``path`` is the file this manifest recorded for fingerprint ``fp``."""
        entry = self.outputs.get(relpath)
        if not entry or entry.get("fingerprint") != fp:
            return False
        try:
            stat = os.stat(path)  # noqa: PTH116 - str paths: no pathlib parsing per output
        except OSError:
            return False
        if entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            return True
        if entry["size"] != stat.st_size or file_sha256(Path(path)) != entry["sha256"]:
            return False
        entry["mtime_ns"] = stat.st_mtime_ns  # touched but identical: refresh fast path
        self.dirty = True
        return True

    def record_output(
        self,
        set_id: str,
        fp: str,
        path: Path,
        written: Output,
        versions: Iterable[tuple[str, Any]] = (),
    ) -> None:
        stat = path.stat()
        self.dirty = True
        entry = self.outputs[str(written.relpath)] = {
            "set": set_id,
            "fingerprint": fp,
            "sha256": file_sha256(path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "written": written.to_json(),
        }
        if recorded := dict(versions):  # only outputs made by versioned encoders
            entry["versions"] = recorded

    def recorded_versions(self, relpath: str) -> dict[str, Any] | None:
        """The encoder versions an output was built with (``None``: not recorded,
        as in manifests written before versions were kept apart)."""
        entry = self.outputs.get(relpath)
        versions = entry.get("versions") if entry else None
        return dict(versions) if isinstance(versions, dict) else None

    def note_versions(self, relpath: str, versions: Iterable[tuple[str, Any]]) -> None:
        """Record the versions of a current output whose entry predates them (its
        fingerprint already covers them, so they are the ones it was built with)."""
        entry = self.outputs.get(relpath)
        if entry is not None and "versions" not in entry and (known := dict(versions)):
            entry["versions"] = known
            self.dirty = True

    def written(self, relpath: str) -> Output | None:
        entry = self.outputs.get(relpath)
        return Output.from_json(entry["written"]) if entry else None

    def forget_outputs(self, relpaths: Iterable[str]) -> None:
        for relpath in relpaths:
            if self.outputs.pop(relpath, None) is not None:
                self.dirty = True

    def outputs_of(self, set_id: str) -> dict[str, dict[str, Any]]:
        """Recorded outputs of one set, by relpath."""
        return {k: v for k, v in self.outputs.items() if v.get("set") == set_id}

    def forget_sources_except(self, keys: Iterable[str]) -> None:
        """Drop source entries not in ``keys`` and frame probes no source refers to,
        so the manifest does not grow with sets that are gone."""
        keep = set(keys)
        sources = {k: v for k, v in self.sources.items() if k in keep}
        shas = {entry["sha256"] for entry in sources.values()}
        frames = {k: v for k, v in self.frames.items() if k in shas}
        if len(sources) != len(self.sources) or len(frames) != len(self.frames):
            self.sources, self.frames, self.dirty = sources, frames, True
