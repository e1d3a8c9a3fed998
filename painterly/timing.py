"""How long a print-size run will take, said before it starts: each stage's work
(:func:`painterly.cost.iteration_cost`: its pixels, or on tiles its crops' pixels with
the statistics pass) in units of one bare forward and backward pass of the network, timed
on this machine just before the run.

An iteration cost 1.35-1.76 such passes of its work in the two 4096 px runs of
benchmarks/README.md (print-size section; bf16 with tiles of 1360 px, Winograd's
convolutions with tiles of 880), whole or tiled; with ITERATION_PASSES and one more
iteration a stage for its targets the estimate came within 11% of both runs' times
(1165 s for 1054, 1500 s for 1555).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from .cost import iteration_cost
from .events import PlannedStage
from .objective import extract
from .vgg import VGG19Features

#: Runs whose final stage is larger than this are timed ahead; a smaller one's progress
#: bar shows the time left within its first seconds.
TIMED_ABOVE = 1024
#: An iteration's time in bare passes over the same work.
ITERATION_PASSES = 1.55
#: The image the pass is timed on (h, w): large enough to be past a small image's overheads.
_CALIBRATION = (384, 512)


def seconds_per_pixel(extractor: VGG19Features, deepest: str, dtype: torch.dtype | None,
                      device: torch.device) -> float:
    """Seconds of one forward and backward pass through ``deepest`` a pixel, in
    ``dtype`` on ``device``: the second of two passes over a 512x384 noise image (the
    first sets up the convolutions)."""
    image = torch.rand(1, 3, *_CALIBRATION, device=device, requires_grad=True)
    seconds = 0.0
    for _ in range(2):
        began = time.perf_counter()
        extract(extractor, image, [deepest], dtype)[deepest].float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - began
    return seconds / (_CALIBRATION[0] * _CALIBRATION[1])


def stage_work(stage: PlannedStage, deepest: str) -> float:
    """A stage's work in pixels through a forward and backward pass: its iterations, and
    one more for its targets, times the work of one (:func:`painterly.cost.iteration_cost`,
    losses reaching ``deepest``)."""
    return (stage.iterations + 1) * iteration_cost(stage.height, stage.width, stage.tile, deepest,
                                                   stage.split)


def estimate_seconds(stages: Sequence[PlannedStage], deepest: str, per_pixel: float) -> float:
    """The run's seconds: its stages' work (:func:`stage_work`) in ITERATION_PASSES passes
    of ``per_pixel`` seconds a pixel."""
    return sum(stage_work(stage, deepest) for stage in stages) * ITERATION_PASSES * per_pixel
