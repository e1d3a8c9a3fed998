"""VGG19's convolutional part as a feature extractor.

The extractor takes images in painterly's one convention, (1, 3, H, W) float RGB in
[0, 1], and applies the preprocessing that belongs to its weights (Caffe's BGR 0..255
minus the mean pixel, or torchvision's ImageNet mean/std) itself, so that no other
module ever sees it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from . import nnpack, winograd
from .layers import LAYERS, layer_channels
from .weights import VGGWeights, load_weights

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """VGG19's 16 conv layers (with ReLU) and its pools, returning chosen layers' responses.

    ``forward(image, layers)`` runs only as deep as the deepest requested layer. The
    weights are frozen: gradients flow to the image only. With ``winograd``, fp32 CPU
    images go through Winograd's convolutions where they are faster: NNPACK's on CPUs
    without AVX-512 (:mod:`painterly.nnpack`), painterly's own elsewhere
    (:mod:`painterly.winograd`); anything else (a GPU, bf16 autocast) through the direct
    ones.
    """

    def __init__(self, weights: VGGWeights, pooling: str = "max", winograd: bool = False) -> None:
        super().__init__()
        self.pooling = pooling
        self.winograd = winograd
        self.preprocessing = weights.preprocessing
        self.source = weights.source
        self.convs = nn.ModuleDict()
        in_channels = 3
        for layer in LAYERS:
            weight, bias = weights.convs[layer]
            out_channels = layer_channels(layer)
            conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            conv.requires_grad_(False)
            self.convs[layer] = conv
            in_channels = out_channels
        # Both preprocessings are image * scale - shift, per RGB channel; Caffe's also
        # flips RGB to BGR afterwards.
        if weights.preprocessing == "caffe":
            scale = torch.full((3,), 255.0)
            shift = torch.tensor(CAFFE_MEAN_BGR[::-1])
        else:
            scale = 1.0 / torch.tensor(IMAGENET_STD)
            shift = torch.tensor(IMAGENET_MEAN) * scale
        self.flip_channels = weights.preprocessing == "caffe"
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)
        # Channels-last convolutions run about 1.3x faster on CPU (oneDNN) and on GPUs.
        self.to(memory_format=torch.channels_last)
        self.eval()
        # (layer, transformed) -> its NCHW kernel and gradient kernel (NNPACK's), or both
        # transformed (painterly.winograd's)
        self._winograd_kernels: dict[tuple[str, bool], tuple[torch.Tensor, torch.Tensor]] = {}

    def _use_winograd(self, x: torch.Tensor) -> bool:
        return (self.winograd and x.device.type == "cpu" and x.dtype == torch.float32
                and not torch.is_autocast_enabled("cpu"))

    def methods(self, x: torch.Tensor, deepest: int, first: int = 0) -> list[str]:
        """How each layer from ``first`` (whose input ``x`` is) up to ``deepest``
        convolves its input: by Winograd's method where it is faster, NNPACK's ("nnpack",
        NCHW) or painterly's ("winograd", channels-last), else directly, in "nchw" where
        the next layer is NNPACK's and "channels_last" otherwise. A change of layout
        between layers costs more than channels-last gains: at 512 px, conv1_1's
        channels-last output took 77 ms to transpose for conv1_2, and the gradients met in
        mixed layouts, which made the ReLU's and the adds' passes strided
        (benchmarks/README.md)."""
        height, width = x.shape[-2:]
        fast = self._use_winograd(x)
        ours, name = (nnpack, "nnpack") if nnpack.preferred() else (winograd, "winograd")
        methods = []
        for index, layer in enumerate(LAYERS[first: deepest + 1], start=first):
            if index > first and layer.endswith("_1"):
                height, width = height // 2, width // 2
            conv = self.convs[layer]
            methods.append(name if fast and ours.worthwhile(
                conv.in_channels, conv.out_channels, height * width) else "channels_last")
        for index in range(len(methods) - 1):
            if methods[index] != "nnpack" and methods[index + 1] == "nnpack":
                methods[index] = "nchw"
        return methods

    def _conv(self, layer: str, x: torch.Tensor, method: str) -> torch.Tensor:
        """One layer's convolution by ``method`` (:meth:`methods`)."""
        conv = self.convs[layer]
        if method == "channels_last":  # about 1.3x faster than NCHW on oneDNN
            return conv(x.contiguous(memory_format=torch.channels_last))
        kernels = self._kernels(layer, transformed=method == "winograd")
        if method == "nchw":
            return F.conv2d(x.contiguous(), kernels[0], conv.bias, padding=1)
        if method == "nnpack":
            return nnpack.conv3x3(x, *kernels, conv.bias)
        return winograd.conv3x3(x, *kernels, conv.bias)

    def _kernels(self, layer: str, transformed: bool) -> tuple[torch.Tensor, torch.Tensor]:
        kernels = self._winograd_kernels.get((layer, transformed))
        if kernels is None:  # made on first use, on the device the module is on by then
            kernels = _kernels(self.convs[layer].weight, transformed)
            self._winograd_kernels[layer, transformed] = kernels
        return kernels

    def input_gradient(self, layer: str, gradient: torch.Tensor) -> torch.Tensor:
        """The gradient at ``layer``'s input from ``gradient`` at its convolution's
        output, by painterly's Winograd's method: what autograd computes for a layer
        convolved by it ("winograd"), for a second pass that replays it
        (:mod:`painterly.replay`)."""
        return winograd.input_gradient(gradient, self._kernels(layer, transformed=True)[1])

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """(1, 3, H, W) RGB in [0, 1] -> the input the weights were trained on."""
        x = image * self._scale - self._shift
        return x.flip(1) if self.flip_channels else x

    def respond(self, layer: str, x: torch.Tensor, method: str = "channels_last"
                ) -> torch.Tensor:
        """A layer's responses, after its ReLU, to its input ``x``, convolved by
        ``method`` (:meth:`methods`; bfloat16 autocast always runs "channels_last")."""
        # In place is safe: conv's backward needs its input, not its output.
        return F.relu_(self._conv(layer, x, method))

    def preprocess_gradient(self, gradient: torch.Tensor) -> torch.Tensor:
        """The gradient at the image from ``gradient`` at :meth:`preprocess`'s output."""
        return (gradient.flip(1) if self.flip_channels else gradient) * self._scale

    def forward(self, image: torch.Tensor, layers: Iterable[str],
                start: str = "conv1_1") -> dict[str, torch.Tensor]:
        """Responses of ``layers`` (canonical names) to ``image`` (1, 3, H, W) RGB in [0, 1].

        Returns a dict mapping each requested layer to a (1, C, H', W') tensor. With
        ``start``, ``image`` is instead what that layer's convolution takes (after its
        block's pool), and the network runs on from there (:meth:`pool` makes it from the
        last layer of the block before).
        """
        first = LAYERS.index(start)
        wanted = set(layers)
        if not wanted:
            return {}
        deepest = max(LAYERS.index(layer) for layer in wanted)
        methods = self.methods(image, deepest, first)
        x = self.preprocess(image) if first == 0 else image
        out: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(LAYERS[first: deepest + 1], start=first):
            if index > first and layer.endswith("_1"):
                x = self.pool(x)
            x = self.respond(layer, x, methods[index - first])
            if layer in wanted:
                out[layer] = x
        return out

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The pool that starts each block after the first."""
        return F.max_pool2d(x, 2) if self.pooling == "max" else F.avg_pool2d(x, 2)


def _kernels(weight: torch.Tensor, transformed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's kernel and its gradient's: NCHW, as NNPACK takes them, or
    ``transformed`` as :func:`painterly.winograd.conv3x3` does."""
    backward = winograd.gradient_kernel(weight)
    if not transformed:
        return weight.contiguous(), backward
    return winograd.transformed(weight), winograd.transformed(backward)


@functools.lru_cache(maxsize=2)
def _cached_extractor(weights: VGGWeights, pooling: str, device: str,
                      winograd: bool) -> VGG19Features:
    return VGG19Features(weights, pooling, winograd).to(device)


def load_extractor(
    weights: str | os.PathLike[str] | None = None,
    pooling: str = "max",
    device: str | torch.device = "cpu",
    winograd: bool = False,
) -> VGG19Features:
    """The feature extractor for a weights file (None: the bundled one), cached.

    Repeated calls with the same file, pooling, device and ``winograd`` return the same
    module.
    """
    return _cached_extractor(load_weights(weights), pooling, str(torch.device(device)), winograd)
