"""What the second pass of a tiled evaluation costs, and what replaying it from pass 1's
records saves: a tile's shallow part (conv1_1 to conv3_4 and pool3, with bf16) as
painterly ran it before session 30, and as :mod:`painterly.replay` runs it.

- run again: pass 1 runs the crop forward without a graph (for the moments and the
  map); pass 2 runs it again with its graph and back-propagates the style layers' and
  the map's gradients (autograd);
- replayed: pass 1's forward also keeps the ReLU bits of the layers no loss reads (a
  pool's choice folded into its input's) and pool1's and pool2's outputs
  (``replay.forward``); pass 2 recomputes only conv1_1, conv2_1 and conv3_1 (the style
  layers, from the image and those pools; their ReLU bits from them) and takes the
  gradients back through the bits (``replay.backward``).

The gradients agree (printed, relative to autograd's: 0, the same bits).

    python benchmarks/pass_two.py [--crops 800 1616] [--tag TAG]

Writes results/pass_two{TAG}.md.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import torch
from speed import keep_memory_as_the_cli, machine  # benchmarks/speed.py, beside this script

from painterly import replay
from painterly.vgg import load_extractor

RESULTS = ROOT / "benchmarks" / "results"
SHALLOW = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
           "conv3_4")
STYLE = ("conv1_1", "conv2_1", "conv3_1")
BF16 = torch.bfloat16


class Shallow:
    """The shallow part on one crop, with fixed gradients at the style layers and the map."""

    def __init__(self, side: int) -> None:
        torch.manual_seed(0)
        self.net = load_extractor()
        self.image = torch.rand(1, 3, side, side)
        with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
            features = self.net(self.image, SHALLOW)
            pool3 = self.net.pool(features["conv3_4"])
        # In the features' layout (channels-last), as the losses' slopes come: gradients
        # in another layout make the backward's passes strided.
        self.slopes = {layer: torch.randn_like(features[layer], dtype=torch.float32)
                       for layer in STYLE}
        self.map_slope = torch.randn_like(pool3, dtype=torch.float32)

    def forward(self) -> torch.Tensor:
        """Pass 1 run again's: the map, without a graph."""
        with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
            return self.net.pool(self.net(self.image, SHALLOW)["conv3_4"])

    def autograd(self) -> torch.Tensor:
        """Pass 2 run again: the forward with its graph, and its backward."""
        crop = self.image.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=BF16):
            features = self.net(crop, SHALLOW)
            pool3 = self.net.pool(features["conv3_4"])
        share = sum((features[layer].float() * self.slopes[layer]).sum() for layer in STYLE)
        (share + (pool3.float() * self.map_slope).sum()).backward()
        return crop.grad

    def forward_keeping(self) -> replay.Record:
        """Pass 1 keeping its record (the map it makes is timed, not used)."""
        return replay.forward(self.net, self.image, frozenset(STYLE), SHALLOW[-1], pools=True)[2]

    def backward_from(self, record: replay.Record) -> torch.Tensor:
        """Pass 2 from the record: the style layers recomputed (their slopes here are
        fixed, but a loss would read them), the slopes and the map's taken back."""
        replay.recompute(self.net, self.image, record, frozenset(STYLE))
        slopes = {layer: slope.to(BF16) for layer, slope in self.slopes.items()}
        return replay.backward(self.net, record, slopes, self.map_slope.to(BF16),
                               torch.float32)


def best_of(repeats: int, work):
    """The shortest of ``repeats`` runs of ``work`` (seconds) and its last result."""
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - began)
    return min(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, nargs="+", default=[800, 1616])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    keep_memory_as_the_cli()  # as a tiled run's tiles do: no page faults for each new tensor
    lines = [(f"# Pass 2 of a tiled evaluation: the forward again, or replayed "
             f"({machine(torch.device('cpu'))})"), "",
             (f"Seconds, best of {args.repeats}; a tile's two passes over its shallow part "
             "(bf16)."), "",
             ("| crop | forward | forward + backward (autograd) | two passes, run again "
             "| forward keeping the record | pass 2 from it | replayed | ratio "
             "| kept bytes / pixel | gradient's difference |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for side in args.crops:
        part = Shallow(side)
        forward, _ = best_of(args.repeats, part.forward)
        both, reference = best_of(args.repeats, part.autograd)
        keeping, kept = best_of(args.repeats, part.forward_keeping)
        kept_bytes = kept.nbytes / side ** 2  # (before pass 2 adds the read layers' bits)
        backward, gradient = best_of(args.repeats, functools.partial(part.backward_from, kept))
        difference = ((gradient - reference).norm() / reference.norm()).item()
        lines.append(f"| {side} | {forward:.2f} | {both:.2f} | {forward + both:.2f} | "
                     f"{keeping:.2f} | {backward:.2f} | {keeping + backward:.2f} | "
                     f"{(keeping + backward) / (forward + both):.2f} | {kept_bytes:.0f} | "
                     f"{difference:.1e} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"pass_two{args.tag}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
