"""What the second pass of a tiled evaluation costs, and what keeping pass 1's masks would
save: a tile's shallow part (conv1_1 to conv3_4 and pool3, with bf16) as painterly runs
it, and as it could run from what pass 1 keeps instead of running the forward again.

- today: pass 1 runs the crop forward without a graph (for the moments and the map);
  pass 2 runs it again with its graph and back-propagates the style layers' and the
  map's gradients (autograd);
- kept masks: pass 1's forward also keeps each layer's ReLU mask (with each pool's
  argmax folded into its input's) and pool1's and pool2's outputs; pass 2 recomputes
  only conv1_1, conv2_1 and conv3_1 (the style layers, from the image and those pools)
  and back-propagates by hand: mask, then the convolution's input gradient.

The gradients agree (printed, relative to autograd's); the masks are held as bools,
a byte a value (packing them to bits, which 8192 px's memory would need, costs more).

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
import torch.nn.functional as F
from speed import keep_memory_as_the_cli, machine  # benchmarks/speed.py, beside this script

from painterly.vgg import load_extractor

RESULTS = ROOT / "benchmarks" / "results"
SHALLOW = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
           "conv3_4")
STYLE = ("conv1_1", "conv2_1", "conv3_1")
POOLED = ("conv1_2", "conv2_2", "conv3_4")  # each block's last layer, whose pool follows
BF16 = torch.bfloat16


class Shallow:
    """The shallow part on one crop, with fixed gradients at the style layers and the map."""

    def __init__(self, side: int) -> None:
        torch.manual_seed(0)
        self.net = load_extractor()
        self.image = torch.rand(1, 3, side, side)
        self.weights = {layer: self.net.convs[layer].weight.to(BF16).contiguous(
            memory_format=torch.channels_last) for layer in SHALLOW}
        self.biases = {layer: self.net.convs[layer].bias.to(BF16) for layer in SHALLOW}
        with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
            features = self.net(self.image, SHALLOW)
            pool3 = self.net.pool(features["conv3_4"])
        # In the features' layout (channels-last), as the losses' slopes come: gradients
        # in another layout make the backward's passes strided.
        self.slopes = {layer: torch.randn_like(features[layer], dtype=torch.float32)
                       for layer in STYLE}
        self.map_slope = torch.randn_like(pool3, dtype=torch.float32)

    def forward(self) -> torch.Tensor:
        """Pass 1 today: the map, without a graph."""
        with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
            return self.net.pool(self.net(self.image, SHALLOW)["conv3_4"])

    def autograd(self) -> torch.Tensor:
        """Pass 2 today: the forward again with its graph, and its backward."""
        crop = self.image.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=BF16):
            features = self.net(crop, SHALLOW)
            pool3 = self.net.pool(features["conv3_4"])
        share = sum((features[layer].float() * self.slopes[layer]).sum() for layer in STYLE)
        (share + (pool3.float() * self.map_slope).sum()).backward()
        return crop.grad

    def forward_keeping(self) -> dict[str, torch.Tensor]:
        """Pass 1 keeping masks: each layer's ReLU mask (with its pool's argmax), and the
        pools' outputs the style layers need."""
        kept: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            x = self._input()
            for layer in SHALLOW:
                x = F.relu_(F.conv2d(x, self.weights[layer], self.biases[layer], padding=1))
                if layer in POOLED:
                    pooled, index = F.max_pool2d(x, 2, return_indices=True)
                    argmax = torch.zeros(x.shape[0], x.shape[1], x.shape[2] * x.shape[3],
                                         dtype=torch.bool)
                    argmax.scatter_(2, index.flatten(2), True)
                    kept[layer] = argmax.view(x.shape) & (x > 0)
                    kept["pool_" + layer] = x = pooled
                else:
                    kept[layer] = x > 0
        return kept

    def backward_from(self, kept: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pass 2 from kept masks: the style layers recomputed from their inputs, their
        slopes and the map's taken back layer by layer."""
        inputs = {"conv1_1": self._input(), "conv2_1": kept["pool_conv1_2"],
                  "conv3_1": kept["pool_conv2_2"]}
        with torch.no_grad():
            # A loss's slope needs its layer's responses: here the slopes are fixed, but
            # the responses' recomputing is timed.
            for layer in STYLE:
                F.relu_(F.conv2d(inputs[layer], self.weights[layer], self.biases[layer],
                                 padding=1))
            gradient = self.map_slope.to(BF16)
            for index in range(len(SHALLOW) - 1, -1, -1):
                layer = SHALLOW[index]
                mask = kept[layer]
                if layer in POOLED:
                    gradient = gradient.repeat_interleave(2, 2).repeat_interleave(2, 3)
                    gradient = F.pad(gradient, (0, mask.shape[-1] - gradient.shape[-1],
                                                0, mask.shape[-2] - gradient.shape[-2]))
                if layer in STYLE:
                    gradient = gradient + self.slopes[layer].to(BF16)
                channels = 3 if index == 0 else self.weights[SHALLOW[index - 1]].shape[0]
                shape = (1, channels, *mask.shape[-2:])
                gradient = torch.ops.aten.convolution_backward(
                    gradient * mask, gradient.new_empty(1).expand(shape), self.weights[layer],
                    None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False])[0]
            gradient = gradient.float()
            if self.net.flip_channels:
                gradient = gradient.flip(1)
            return gradient * self.net._scale

    def _input(self) -> torch.Tensor:
        return self.net.preprocess(self.image).to(BF16).contiguous(
            memory_format=torch.channels_last)


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
    lines = [(f"# Pass 2 of a tiled evaluation: the forward again, or kept masks "
             f"({machine(torch.device('cpu'))})"), "",
             (f"Seconds, best of {args.repeats}; a tile's two passes over its shallow part "
             "(bf16)."), "",
             ("| crop | forward | forward + backward (autograd) | today's two passes "
             "| forward keeping masks | backward from them | their two passes | ratio "
             "| kept bytes / pixel | gradient's difference |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for side in args.crops:
        part = Shallow(side)
        forward, _ = best_of(args.repeats, part.forward)
        both, reference = best_of(args.repeats, part.autograd)
        keeping, kept = best_of(args.repeats, part.forward_keeping)
        backward, gradient = best_of(args.repeats, functools.partial(part.backward_from, kept))
        kept_bytes = sum(t.numel() * t.element_size() for t in kept.values()) / side ** 2
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
