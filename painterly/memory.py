"""How much memory a transfer will need, checked before it starts; and the process's
allocator, told to keep what a run frees for its next iteration.

The estimate is linear in the pixels of each stage, with the activations VGG19 keeps for
its backward pass scaled by how deep the losses reach, plus the optimiser's memory at the
final size. Its constants were measured as peak resident memory of whole processes on
the 2-core CPU (benchmarks/speed.py memory prints the estimate beside the measurement):
memory that a stage frees stays with the process, so the stages add up.
"""

from __future__ import annotations

import ctypes
import functools
import os

import torch

from .errors import PainterlyError
from .layers import LAYERS, layer_channels

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
    stage_pixels: list[int], deepest: str, dtype: torch.dtype | None, optimizer: str
) -> int:
    """Peak memory of a transfer whose stages have ``stage_pixels`` pixels each (the last
    is the final size), with losses reaching ``deepest`` and the network in ``dtype``."""
    depth = _activations_per_pixel(deepest) / _activations_per_pixel("conv5_1")
    per_pixel = ACTIVATION_BYTES_PER_PIXEL[dtype] * depth
    activations = sum(per_pixel * pixels for pixels in stage_pixels)
    return int(BASE_BYTES + activations + OPTIMIZER_BYTES_PER_PIXEL[optimizer] * stage_pixels[-1])


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


#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Large enough that no tensor is served by mmap, or trimmed off the heap's top.
_KEEP = 2**31 - 1


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 -- present in glibc only, not musl or macOS
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of giving it back to the
    kernel, so that each iteration stops paying page faults for fresh, zeroed pages.

    PyTorch on a CPU frees and allocates every activation and gradient again in each
    iteration; glibc's malloc maps large blocks anew and trims the heap's free top, and
    the kernel zeroes each page on its first touch: 2-8% of a 512 px iteration here
    (benchmarks/README.md). What a run frees is reused by it, so its peak barely moves.
    This changes the whole process's allocator, so the command line calls it and
    a library leaves it to the program; :func:`release_freed_memory` gives the memory
    back. Returns False (and does nothing) where the C library is not glibc.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP) and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP))


def release_freed_memory() -> None:
    """Give the memory the process has freed back to the kernel (glibc's malloc_trim),
    e.g. after a run in a long-lived process that called :func:`keep_freed_memory`."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def check_fits(needed: int, limit: int, largest_size: int | None, source: str) -> None:
    """Refuse a run that needs more than ``limit`` bytes, naming the largest size that
    fits (``largest_size``; None if none does)."""
    if needed <= limit:
        return
    advice = (f"--size {largest_size} fits" if largest_size is not None
              else "no size fits; free memory or lower the style scale")
    raise PainterlyError(
        f"this run needs about {needed / GB:.1f} GB but {source} allows {limit / GB:.1f} GB; "
        f"{advice} (or set --max-memory)"
    )
