"""Validation of a whole set: naming defects plus what the pixels tell.

Defects are data (``Defect``), not exceptions, so ``check`` can list every problem
of every set in one run and ``build`` can skip only the broken sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline.frames import FrameInfo, frame_problem
from pipeline.sets import Defect


def set_defects(infos: Mapping[int, FrameInfo], paths: Mapping[int, Path]) -> list[Defect]:
    """Defects that appear only when frames are compared, or frame by frame."""
    defects: list[Defect] = []
    for k in sorted(infos):
        problem = frame_problem(infos[k])
        if problem:
            defects.append(Defect(paths[k], problem))
    if not infos:
        return defects
    first = min(infos)
    ref = infos[first]
    for k in sorted(infos):
        info = infos[k]
        if (info.width, info.height) != (ref.width, ref.height):
            defects.append(
                Defect(
                    paths[k],
                    f"frame is {info.width}x{info.height} but {paths[first].name} is "
                    f"{ref.width}x{ref.height}: all frames of a set must be the same size",
                )
            )
        elif info.has_alpha != ref.has_alpha:
            has, lacks = ("has", "has no") if info.has_alpha else ("has no", "has")
            defects.append(
                Defect(
                    paths[k],
                    f"frame {has} transparency but {paths[first].name} {lacks}: "
                    "all frames of a set must be of one kind",
                )
            )
    return defects
