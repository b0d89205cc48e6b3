"""Encoders that know nothing of the pipeline: PNG/WebP/AVIF, GIF, video, pixels.

Each encoder takes its typed, frozen settings (a :class:`Settings`); a stage puts
them in its plan, and the same object is what the output's fingerprint covers
(:meth:`Settings.params`), so what is fingerprinted is exactly what is rendered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

Params = tuple[tuple[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that changes an encoder's bytes besides the pixels."""

    def params(self) -> Params:
        """``(name, value)`` in field order: what an output's fingerprint covers. A
        field left ``None`` (an option not used) is not part of it."""
        values = ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))
        return tuple((name, value) for name, value in values if value is not None)
