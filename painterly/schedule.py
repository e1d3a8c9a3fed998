"""How a coarse-to-fine run spends its iterations: the ``--quality`` presets.

The look (the large strokes, the layout) is settled at the cheap coarse stages; a stage
at the full size costs 16 times one at a quarter of the side and adds the strokes'
detail, so the presets give the full size what the distances need and no more
(benchmarks/README.md has the measurements behind each count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """A quality's schedule: L-BFGS iterations at the full size, at the stage before
    it, and at each earlier (coarser) stage. The look is settled at the cheap coarse
    stages; the full size adds the strokes' detail (benchmarks/README.md)."""

    final: int
    before: int
    coarse: int


#: --quality -> its schedule. ``normal`` paints what 100 iterations at every scale
#: painted before, in well under half the time; ``draft`` beats neural-style's
#: reference pictures on both distances; ``fine`` spends about twice ``normal``.
QUALITY = {
    "draft": Preset(final=10, before=20, coarse=30),
    "normal": Preset(final=60, before=30, coarse=50),
    "fine": Preset(final=100, before=100, coarse=100),
}


@dataclass(frozen=True)
class Stage:
    """One stage of a coarse-to-fine run: the output's long side and its iterations."""

    size: int
    iterations: int


QUALITIES = tuple(QUALITY)


def plan(sizes: Sequence[int], quality: str, iterations: int | None = None) -> tuple[Stage, ...]:
    """Each stage of ``sizes`` (coarse to fine, the last the full size) with its
    iterations: ``iterations`` at every stage when given, else the ``quality``'s preset
    (the last count to the full size, the middle one to the stage before it, the first
    to every coarser stage)."""
    if iterations is not None:
        return tuple(Stage(size, iterations) for size in sizes)
    preset = QUALITY[quality]
    counts = [preset.coarse] * (len(sizes) - 2) + [preset.before, preset.final][-len(sizes):]
    return tuple(Stage(size, count) for size, count in zip(sizes, counts))
