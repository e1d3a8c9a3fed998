"""How much memory a transfer will need, checked before it starts.

The estimate is linear in the pixels of each stage, with the activations VGG19 keeps for
its backward pass scaled by how deep the losses reach, plus the optimiser's memory at the
final size. Its constants were measured as peak resident memory of whole processes on
the 2-core CPU (benchmarks/speed.py memory prints the estimate beside the measurement):
memory that a stage frees stays with the process, so the stages add up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import torch

from .errors import MemoryRefused
from .images import fitted_size
from .layers import LAYERS, MIN_SIDE, layer_channels
from .settings import TransferSettings

GB = 1024**3
#: The process with torch and the network loaded, and its inputs.
BASE_BYTES = int(0.65 * GB)
#: Bytes per pixel of a stage's image for the network's saved activations and their
#: gradients, through conv5_1 (the default losses' deepest layer). fp32: 2.13 measured
#: with glibc's defaults, 2.25 with freed memory kept (session 4; 3.55 GB at 1024 px).
ACTIVATION_BYTES_PER_PIXEL = {torch.bfloat16: 1.29 * GB / 1e6, None: 2.25 * GB / 1e6}
#: Bytes per pixel of the final image for each optimiser's memory (L-BFGS: 10 pairs;
#: measured with freed memory kept, as the command line runs).
OPTIMIZER_BYTES_PER_PIXEL = {"lbfgs": 0.78 * GB / 1e6, "lbfgs-b": 1.2 * GB / 1e6,
                             "adam": 0.05 * GB / 1e6, "gd": 0.05 * GB / 1e6}
#: Bytes per pixel of the final image for NNPACK's workspace, which Winograd's
#: convolutions need and PyTorch keeps for the process: the transformed tiles of the
#: largest one (conv1_2 at full size, 64 channels in and out). A forward and backward pass
#: peaked 0.77 GB higher than with direct convolutions at 1024x768, 2.47 GB at 2048x1536
#: (session 6).
WINOGRAD_BYTES_PER_PIXEL = 0.98 * GB / 1e6


def _activations_per_pixel(deepest: str) -> float:
    """Values of the feature maps (with pools) up to ``deepest``, per input pixel."""
    total, area = 0.0, 1.0
    for index, layer in enumerate(LAYERS[: LAYERS.index(deepest) + 1]):
        if index > 0 and layer.endswith("_1"):
            area /= 4
            total += layer_channels(LAYERS[index - 1]) * area  # the pool's output
        total += layer_channels(layer) * area
    return total


def estimate_bytes(
    stage_pixels: list[int], deepest: str, dtype: torch.dtype | None, optimizer: str,
    winograd: bool = False,
) -> int:
    """Peak memory of a transfer whose stages have ``stage_pixels`` pixels each (the last
    is the final size), with losses reaching ``deepest``, the network in ``dtype`` and,
    with ``winograd``, Winograd's convolutions."""
    depth = _activations_per_pixel(deepest) / _activations_per_pixel("conv5_1")
    per_pixel = ACTIVATION_BYTES_PER_PIXEL[dtype] * depth
    activations = sum(per_pixel * pixels for pixels in stage_pixels)
    final = OPTIMIZER_BYTES_PER_PIXEL[optimizer] + WINOGRAD_BYTES_PER_PIXEL * winograd
    return int(BASE_BYTES + activations + final * stage_pixels[-1])


def memory_needed(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    dtype: torch.dtype | None,
    winograd: bool = False,
) -> int:
    """Estimated peak bytes of a transfer of a photo and paintings of these (w, h) sizes,
    with the network in ``dtype`` (and Winograd's convolutions, with ``winograd``)."""

    def pixels(size: tuple[int, int], long_side: int) -> int:
        width, height = fitted_size(size, long_side)
        return width * height

    sizes = settings.stage_sizes()
    stages = [pixels(photo_size, size) for size in sizes]
    # The constants were measured with a painting as large as the photo. A larger one
    # only goes forward, without gradients: count its excess at a quarter.
    painting = max(pixels(p, settings.style_long_side(sizes[-1])) for p in painting_sizes)
    extra = max(0, painting - stages[-1]) // 4
    deepest = max(settings.layers_needed() or ["conv1_1"], key=LAYERS.index)
    return estimate_bytes([*stages[:-1], stages[-1] + extra], deepest, dtype, settings.optimizer,
                          winograd)


def check_memory(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    device: torch.device,
    dtype: torch.dtype | None,
    winograd: bool = False,
) -> None:
    """Refuse a run whose estimated memory is over ``settings.max_memory`` (or what the
    device has available) with :class:`MemoryRefused`, naming the largest ``size`` that
    fits. ``dtype`` and ``winograd`` are the network's arithmetic."""
    if settings.max_memory is not None:
        limit = int(settings.max_memory * GB)
    else:
        limit = available_bytes(device)
    needed = memory_needed(settings, photo_size, painting_sizes, dtype, winograd)
    if needed <= limit:
        return

    def fits(size: int) -> bool:
        scales = None if settings.scales is None else tuple(s for s in settings.scales if s < size)
        smaller = replace(settings, size=size, scales=scales)
        return memory_needed(smaller, photo_size, painting_sizes, dtype, winograd) <= limit

    largest = None
    low, high = MIN_SIDE, settings.size - 1  # the largest size that fits is in here
    if fits(low):
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        largest = low
    raise MemoryRefused(needed, limit, largest, from_setting=settings.max_memory is not None)


def available_bytes(device: torch.device) -> int:
    """Memory free for a run now: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + BASE_BYTES)  # the process's own base lives in host memory
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
