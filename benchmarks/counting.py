"""Ways to count swd's histograms on a GPU (painterly.swd._count), timed alone.

    python benchmarks/counting.py [--size 512]

Each layer of the default style loss projects its N positions on K directions and counts
each direction's values in its bins; on an H100 that count (index_add_ of ones) was the
largest single kernel of an iteration (session 18's profile). Here the same counts, with
values spread like a picture's (a bell over the bins), by each candidate that captures
in a CUDA graph (no value read back), against torch.bincount (which reads one back).
Writes benchmarks/results/counting_<tag>.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from painterly.layers import layer_channels
from painterly.swd import _add_ones, bins_for

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def index_add_float(flat: torch.Tensor, size: int) -> torch.Tensor:
    ones = torch.ones(1, device=flat.device).expand(len(flat))
    return torch.zeros(size, device=flat.device).index_add_(0, flat, ones)


def scatter_add_int64(flat: torch.Tensor, size: int) -> torch.Tensor:
    index = flat.long()
    return index.new_zeros(size).scatter_add_(0, index, index.new_ones(1).expand(len(index)))


def histc(flat: torch.Tensor, size: int) -> torch.Tensor:
    return torch.histc(flat.float(), bins=size, min=0, max=size)


def bincount(flat: torch.Tensor, size: int) -> torch.Tensor:
    return torch.bincount(flat, minlength=size)


METHODS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "index_add_ int32 (now)": lambda flat, size: _add_ones(flat, minlength=size),
    "index_add_ float32": index_add_float,
    "scatter_add_ int64": scatter_add_int64,
    "histc": histc,
    "bincount (reads back)": bincount,
}


def milliseconds(work: Callable[[], object], repeats: int = 20) -> float:
    times = []
    for _ in range(repeats + 2):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    generator = torch.Generator("cuda").manual_seed(0)
    positions = args.size * (args.size * 3 // 4)
    lines = [(f"{torch.cuda.get_device_name()}; the counts of {args.size} px's layers, "
              "median ms of 20 (CUDA events)"), "",
             "| layer | values | bins a direction | " + " | ".join(METHODS) + " |",
             "|---|---|---|" + "---|" * len(METHODS)]
    totals = dict.fromkeys(METHODS, 0.0)
    for depth, layer in enumerate(LAYERS):
        n, k = positions // 4**depth, layer_channels(layer)
        bins = bins_for(n)
        place = (torch.randn(k, n, device="cuda", generator=generator) * bins / 6 + bins / 2)
        place = place.clamp_(0, bins - 1).int()
        flat = (place + torch.arange(k, device="cuda", dtype=torch.int32).unsqueeze(1) * bins)
        flat = flat.view(-1)
        want = bincount(flat, k * bins)
        row = f"| {layer} | {k * n} | {bins} |"
        for name, method in METHODS.items():
            assert torch.equal(method(flat, k * bins).long(), want), name
            spent = milliseconds(lambda method=method, flat=flat, size=k * bins:
                                 method(flat, size))
            totals[name] += spent
            row += f" {spent:.3f} |"
        lines.append(row)
    lines.append("| all | | | " + " | ".join(f"**{t:.3f}**" for t in totals.values()) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "results" / f"counting{args.tag}.md").write_text(text)


if __name__ == "__main__":
    main()
