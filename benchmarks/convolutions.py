"""Each 3x3 layer of VGG19 alone, forward and input gradient, by each way painterly can
convolve it on a CPU: oneDNN's direct convolution (channels-last), NNPACK's Winograd
(NCHW) and painterly's own Winograd F(4x4, 3x3), its transforms as numba's loops and as
PyTorch's operations. Which of them pays where is what painterly.winograd.worthwhile and
painterly.nnpack.worthwhile encode.

    python benchmarks/convolutions.py [--size 512] [--rounds 7] [--tag TAG]

Writes results/speed_convolutions_<size>[TAG].md: milliseconds, the fastest of the rounds,
the ways timed in turn within each round so that a slow spell of the machine falls on all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import speed
import torch
import torch.nn.functional as F

from painterly import nnpack, winograd
from painterly.layers import LAYERS, layer_channels


def _ways(x: torch.Tensor, weight: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Each way to run the layer forward and take a gradient back, as a call."""
    upstream = torch.randn(x.shape[0], weight.shape[0], *x.shape[2:])
    direct = weight.contiguous(memory_format=torch.channels_last)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    kernels = (winograd.transformed(weight),
               winograd.transformed(winograd.gradient_kernel(weight)))

    def run(convolve, inputs, grad):
        leaf = inputs.detach().requires_grad_(True)
        convolve(leaf).backward(grad)

    ways = {"direct": lambda: run(lambda v: F.conv2d(v, direct, padding=1), channels_last,
                                  upstream.contiguous(memory_format=torch.channels_last))}
    if nnpack.available():
        backward = winograd.gradient_kernel(weight)
        ways["NNPACK"] = lambda: run(lambda v: nnpack.conv3x3(v, weight, backward, None),
                                     x.contiguous(), upstream.contiguous())
    grad = upstream.contiguous(memory_format=torch.channels_last)
    ways["ours, loops"] = lambda: run(lambda v: winograd.conv3x3(v, *kernels, None),
                                      channels_last, grad)

    def sliced():
        compiles = winograd._compiles
        winograd._compiles = lambda _: False
        try:
            run(lambda v: winograd.conv3x3(v, *kernels, None), channels_last, grad)
        finally:
            winograd._compiles = compiles
    ways["ours, PyTorch's operations"] = sliced
    return ways


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="the image's long side (4:3)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    height, width = args.size * 3 // 4, args.size
    title = (f"painterly on {speed.machine(torch.device('cpu'))}; VGG19's 3x3 layers at "
             f"{width}x{height} px, each forward and input gradient alone, ms (fastest of "
             f"{args.rounds} rounds)")
    lines = [title, ""]
    rows, names = [], None
    channels = 3
    for index, layer in enumerate(LAYERS):
        if index and layer.endswith("_1"):
            height, width = height // 2, width // 2
        out = layer_channels(layer)
        x = torch.randn(1, channels, height, width)
        ways = _ways(x, torch.randn(out, channels, 3, 3) / (3 * channels**0.5))
        best = dict.fromkeys(ways, float("inf"))
        for _ in range(args.rounds + 1):  # the first round sets up kernels and compiles
            for name, way in ways.items():
                start = time.perf_counter()
                way()
                best[name] = min(best[name], time.perf_counter() - start)
        names = list(ways)
        times = " | ".join(f"{1000 * best[name]:.1f}" for name in names)
        rows.append(f"| {layer} | {channels} -> {out} | {width}x{height} | {times} |")
        channels = out
    lines += ["| layer | channels | positions | " + " | ".join(names) + " |",
              "|---|---|---|" + "---|" * len(names)] + rows
    speed.write(f"convolutions_{args.size}{args.tag}", lines)


if __name__ == "__main__":
    main()
