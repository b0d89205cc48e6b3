"""Validation of a whole set: naming defects plus what the pixels tell.

Defects are data (``Defect``), not exceptions, so ``check`` can list every problem
of every set in one run and ``build`` can skip only the broken sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline.sources.frames import FrameInfo, frame_problem
from pipeline.sources.sets import Defect


def set_defects(infos: Mapping[int, FrameInfo], paths: Mapping[int, Path]) -> list[Defect]:
    """Defects that appear only when frames are compared, or frame by frame.

    Transparency is judged by pixels, not by the PNG's colour type: a frame is
    see-through when some alpha is below 255 (a tRNS colour counts). The renders of
    a set share one background, so a set is all see-through or all solid; a solid
    frame among see-through ones (exported flattened) would flash a filled square
    in the animation. An RGBA set whose every pixel is opaque is a solid set."""
    defects: list[Defect] = []
    for k in sorted(infos):
        problem = frame_problem(infos[k])
        if problem:
            defects.append(Defect(paths[k], problem))
    if not infos:
        return defects
    first = min(infos)
    ref = infos[first]
    see_through = [k for k in sorted(infos) if infos[k].see_through]
    solid = [k for k in sorted(infos) if not infos[k].see_through]
    # The fewer kind is the odd one out (on a tie, the kind of the first frame wins):
    # one frame exported without its alpha should be named, not the fifteen others.
    odd = solid if len(solid) < len(see_through) or infos[first].see_through else see_through
    kind_ref = (see_through if odd is solid else solid)[:1]
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
        elif kind_ref and k in odd:
            has, lacks = ("has", "has no") if info.see_through else ("has no", "has")
            defects.append(
                Defect(
                    paths[k],
                    f"frame {has} transparency but {paths[kind_ref[0]].name} {lacks}: "
                    "all frames of a set must be of one kind",
                )
            )
    return defects
