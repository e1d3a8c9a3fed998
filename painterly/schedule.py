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
    detail: int  # at each stage above DETAIL_ABOVE px


#: Stages larger than this add detail to a look settled up to it, and get the preset's
#: ``detail`` iterations each: a print-size picture's time then grows with its pixels,
#: not with its pixels times the iterations a small picture needs. At 1024 px itself 8
#: iterations leave the strokes half-formed (content 0.95 / style 0.11 against 0.59 /
#: 0.022 with 60, benchmarks/README.md), so a picture up to 1024 px is painted in full
#: and a larger one is that picture with detail added. Past it the strokes form in a few
#: iterations: the 4096 px stage's picture after 3, 5 and 8 looks the same at full size,
#: and shrunk to 1024 px it drifts a little further from the photo and the painting
#: with each (content 0.618 / 0.620 / 0.633). ``normal`` gives it 3: a 4096 px run 30%
#: faster than with 5, shrunk closer to both (content 0.546 / Gram 0.079 against 0.591
#: / 0.083), its strokes at full size a shade softer (benchmarks/README.md, session 17).
DETAIL_ABOVE = 1024


#: --quality -> its schedule. ``normal`` is the fewest full-size iterations whose
#: picture looks as finished as with more and stays well inside issue 14's bar (swd: 40
#: instead of 60 measured content 0.478 / 0.382 against 0.459 / 0.365, and the
#: painting's distribution 0.101 / 0.112 against 0.099 / 0.108, in three quarters of
#: the time); ``draft`` is closer than neural-style's reference pictures to the photo
#: and to the painting's distribution (swd needs 15 full-size iterations for that on
#: The Scream, 10 fall just short); ``fine`` spends about 2.5 times ``normal``.
QUALITY = {
    "draft": Preset(final=15, before=20, coarse=30, detail=3),
    "normal": Preset(final=40, before=30, coarse=50, detail=3),
    "fine": Preset(final=100, before=100, coarse=100, detail=20),
}


@dataclass(frozen=True)
class Stage:
    """One stage of a coarse-to-fine run: the output's long side and its iterations."""

    size: int
    iterations: int


QUALITIES = tuple(QUALITY)


def plan(sizes: Sequence[int], quality: str, iterations: int | None = None) -> tuple[Stage, ...]:
    """Each stage of ``sizes`` (coarse to fine, the last the full size) with its
    iterations: ``iterations`` at every stage when given, else the ``quality``'s preset.
    Of the stages up to DETAIL_ABOVE px, the largest gets the preset's ``final`` count,
    the one before it ``before`` and every coarser one ``coarse``; each stage above
    DETAIL_ABOVE gets ``detail``."""
    if iterations is not None:
        return tuple(Stage(size, iterations) for size in sizes)
    preset = QUALITY[quality]
    settled = [size for size in sizes if size <= DETAIL_ABOVE] or list(sizes[:1])
    counts = [preset.coarse] * (len(settled) - 2) + [preset.before, preset.final][-len(settled):]
    counts += [preset.detail] * (len(sizes) - len(settled))
    return tuple(Stage(size, count) for size, count in zip(sizes, counts))
