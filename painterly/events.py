"""What a run tells its caller: progress after each iteration, where it stands (to resume
it), and how it ends when asked to stop. Plain records, below everything that writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from PIL import Image

from .tiles import DEEP_TILE_FACTOR, Split


@dataclass(frozen=True)
class Checkpoint:
    """Enough to continue a transfer to the result an uninterrupted run gives (with the
    same inputs and settings)."""

    stage: int  # index into settings.stage_sizes()
    done: int  # iterations finished, across all stages
    image: torch.Tensor  # (1, 3, h, w) the iterate at this stage's size, on the CPU
    optimizer: dict  # the optimiser's state (see optimizers.minimize's resume)


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a run as planned: its picture's size, iterations, the tile side
    the network sees it in (None: whole), and, on tiles, where the network's deep
    layers see it (:mod:`painterly.tiling`)."""

    width: int
    height: int
    iterations: int
    tile: int | None
    split: Split = Split.NONE
    replay: bool = False  # on tiles: their second pass from records (painterly.replay)


@dataclass(frozen=True)
class Plan:
    """What a run is about to do, told before any work starts."""

    stages: tuple[PlannedStage, ...]
    memory: int  # estimated peak bytes
    limit: int  # bytes the run may use (--max-memory, or what is available)
    # Estimated wall time for a run above painterly.timing.TIMED_ABOVE px (None below);
    # a resumed run's from the stage it resumes.
    seconds: float | None = None
    # Whether a tiled run keeps the memory it frees (faster) rather than giving large
    # blocks back (painterly.allocator.allocate_for): the estimate counts it.
    keeps_memory: bool = False
    # The network's arithmetic, concrete: 'fp32', 'winograd' or 'bf16'
    # (painterly.arithmetic.resolved).
    precision: str = "fp32"

    @property
    def tiled(self) -> bool:
        """Whether any stage is seen in tiles (a print-size picture)."""
        return any(stage.tile is not None for stage in self.stages)

    def summary(self) -> str:
        """The plan in one line: its size, stages, tiles and the memory it expects, and
        for a print-size run the time."""
        final = self.stages[-1]
        sizes = ", ".join(f"{max(s.width, s.height)}" for s in self.stages)
        line = (f"{final.width}x{final.height} px, stages {sizes} px, "
                f"{sum(s.iterations for s in self.stages)} iterations in "
                f"{_ARITHMETIC[self.precision]}")
        if self.tiled:
            first = next(s for s in self.stages if s.tile is not None)
            line += (f"; from {max(first.width, first.height)} px the network sees "
                     f"tiles of {first.tile} px")
            notes = []
            if first.split is Split.WHOLE:
                notes.append("its deep layers the whole picture")
            elif first.split is Split.TILED:
                notes.append(f"its deep layers tiles of {first.tile * DEEP_TILE_FACTOR} px")
            if final.replay:
                notes.append("each tile's forward pass run once")
            line += f" ({', '.join(notes)})" if notes else ""
        line += f"; about {self.memory / 1024**3:.1f} GB of {self.limit / 1024**3:.1f} GB"
        if self.seconds is not None:
            line += f" and {_duration(self.seconds)} (timed on this machine)"
        return line


_ARITHMETIC = {"fp32": "fp32", "winograd": "fp32 (Winograd's convolutions)", "bf16": "bf16"}


def _duration(seconds: float) -> str:
    """A rough duration: seconds under 2 minutes, minutes under 2 hours, else hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Progress:
    """What a callback learns after each iteration. Losses are unweighted distances."""

    iteration: int  # counted across all scales
    iterations: int
    size: int  # long side of the image being optimised now, px
    total: float
    content: float
    style: float
    tv: float
    elapsed: float  # seconds since the optimisation started
    # Share of the run's work done, each iteration weighted by the pixels the network
    # sees in it (a 2048 px iteration is 16 of 512 px) and each stage's targets counted
    # as one iteration more before its first, as the plan's time counts them: a fair
    # time left.
    fraction: float = 0.0
    # The current image, (1, 3, h, w) in [0, 1] at this scale's size (the luminance
    # image in luminance mode); shared with the optimiser: read it, don't keep it.
    image: torch.Tensor | None = field(default=None, repr=False, compare=False)
    # Where the run stands, to continue it later with stylize(resume=...); builds (and
    # copies the image) only when called, and only valid during the callback.
    checkpoint: Callable[[], Checkpoint] | None = field(default=None, repr=False, compare=False)
    # The picture as it looks now, at this scale's size and in the chosen colour mode
    # (the photo's chroma put back in luminance mode); only valid during the callback.
    picture: Callable[[], Image.Image] | None = field(default=None, repr=False, compare=False)

    def numbers(self) -> Progress:
        """This progress without the image and callables: safe to keep or pickle."""
        return replace(self, image=None, checkpoint=None, picture=None)


class StopRequested(Exception):
    """Raise this from a progress callback to stop a run; :func:`painterly.stylize` then
    raises :class:`Interrupted` with the picture so far."""


class Interrupted(Exception):
    """A run stopped by its callback: the picture so far, and where it stood."""

    def __init__(self, picture: Image.Image, progress: Progress, checkpoint: Checkpoint) -> None:
        super().__init__(f"stopped at iteration {progress.iteration} of {progress.iterations}")
        self.picture = picture
        self.progress = progress
        self.checkpoint = checkpoint
