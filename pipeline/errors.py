"""Exceptions that carry a message written for the user.

Everything below the CLI raises these; only ``cli.py`` turns them into output and
exit codes, so library callers (tests, other tools) keep full control.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Sequence
from pathlib import Path


class PipelineError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""


class ConfigError(PipelineError):
    """The configuration is invalid; every problem is listed, not just the first."""

    def __init__(self, source: Path | str, problems: Sequence[str]) -> None:
        self.source = str(source)
        self.problems = list(problems)
        super().__init__("\n".join(f"{self.source}: {p}" for p in self.problems))


class FileError(PipelineError):
    """A problem with one file: the message is ``<file>: <problem>``."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FrameError(FileError):
    """One input file is unusable."""


class UnknownSetError(PipelineError):
    """Set ids named on the command line that are not in the raw folder."""

    def __init__(self, set_ids: Sequence[str], raw_dir: Path, known: Sequence[str] = ()) -> None:
        self.set_ids = list(set_ids)
        names = ", ".join(_with_suggestion(s, known) for s in self.set_ids)
        super().__init__(f"{raw_dir}: unknown set id(s): {names}")


def _with_suggestion(set_id: str, known: Sequence[str]) -> str:
    """``leg-soleus (did you mean Leg-Soleus?)``: a different case first, then the
    closest spelling, so a typo on the command line costs one look."""
    same_case = [k for k in known if k.casefold() == set_id.casefold()]
    by_fold = {k.casefold(): k for k in known}
    close = same_case or [
        by_fold[m] for m in difflib.get_close_matches(set_id.casefold(), list(by_fold), n=1)
    ]
    return f"{set_id} (did you mean {close[0]}?)" if close else set_id


class OutputError(FileError):
    """An output could not be written (permissions, disk full, ...)."""


class ManifestError(FileError):
    """The manifest cannot be trusted: unreadable, of an unknown version or shape."""


class LockError(PipelineError):
    """Another build holds the output root."""


class PageError(PipelineError):
    """A page that cannot be updated: ``<file>:<line>: <problem>``, one line."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}:{line}: {problem}")


def describe_os_error(exc: OSError) -> str:
    """An OS error in words for the user (the file is named by the caller)."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (is the output folder writable?)"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)
