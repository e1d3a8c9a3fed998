"""How long a print-size run will take, said before it starts: each stage's work
(:func:`painterly.cost.iteration_cost`: its pixels, or on tiles its crops' pixels with
the statistics pass) in units of one bare forward and backward pass of the network, timed
on this machine just before the run.

Fitted on four runs of sessions 25-27 (benchmarks/README.md, print-size section: 4096 px
in 8 GB and 8192 px in 16 GB, with bf16 and with Winograd's fp32 convolutions), a stage
took 1.15-1.47 such passes of its work an iteration, counting one iteration more for
its targets, whole or tiled (a 128 px stage, where fixed costs outweigh the network,
2.5-6). The pass timed before a run varies by ~5% from run to run, so ITERATION_PASSES
leans to the high side: the estimates 259 s for 243, 901 for 828, 512 for 495 and 1810
for 1669; and for four runs of session 28, not fitted on, 245 s for 249, 245 for 232,
928 for 915 and 431 for 401. A run that keeps what its tiles free takes
:data:`painterly.cost.KEPT_TIME` of that on its tiled stages: session 29's three, 220 s
said for 214, 757 for 784 and 400 for 380.
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
ITERATION_PASSES = 1.4
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


def stage_work(stage: PlannedStage, deepest: str, kept: bool = False) -> float:
    """A stage's work in pixels through a forward and backward pass: its iterations, and
    one more for its targets, times the work of one (:func:`painterly.cost.iteration_cost`,
    losses reaching ``deepest``, in a run that keeps the memory it frees if ``kept``)."""
    return (stage.iterations + 1) * iteration_cost(stage.height, stage.width, stage.tile, deepest,
                                                   stage.split, kept, stage.replay)


def estimate_seconds(stages: Sequence[PlannedStage], deepest: str, per_pixel: float,
                     kept: bool = False) -> float:
    """The run's seconds: its stages' work (:func:`stage_work`) in ITERATION_PASSES passes
    of ``per_pixel`` seconds a pixel."""
    work = sum(stage_work(stage, deepest, kept) for stage in stages)
    return work * ITERATION_PASSES * per_pixel
