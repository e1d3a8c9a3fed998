"""A tile's gradient without running its network forward a second time.

A tiled evaluation (:mod:`painterly.tiling`) needs the whole picture's statistics before
any tile can take its share of the style loss back to its pixels: a first pass over the
tiles gathers them, a second back-propagates. Run as autograd runs it, the second pass
runs each tile's forward again, for the graph: at 4096 px a third of a tiled iteration.
Yet a convolution's input gradient needs only its weights and its output's gradient, a
ReLU's only where its responses were above 0, a max pool's only which position of each
window it took. So the first pass keeps those as bits (:mod:`painterly.bitmasks`, a bit
a response), and the inputs of the layers the losses read (a pool's output, at most a
quarter of its block's pixels); the second recomputes only the layers the losses read,
from those inputs, and takes their slopes back through the kept bits, layer by layer.
What the second pass recomputes is not kept: a read layer's ReLU bits (its responses
hold them), the input of a read layer that follows another (conv4_2's). Where a read
layer's responses are few (the deep layers': KEPT_RESPONSE_VALUES), or no more
than its input, they are kept instead, and pass 2 does not recompute them.
The gradient is autograd's to the bit where each response feeds one loss (rounding
aside where several gradients meet at a layer: their order).

It serves the network in bfloat16 or in float32 on the CPU, by direct convolutions or
painterly's own Winograd's, with numba and max pools (the bits are of responses in the
channels-last layout, which those paths run); elsewhere (NNPACK's Winograd convolutions,
NCHW; a GPU) the tiles run their forward again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from . import bitmasks, nnpack
from .layers import LAYERS, layer_channels
from .tiles import stride
from .vgg import VGG19Features

#: A read layer's responses are kept in its record, not recomputed by pass 2, where they
#: take at most this many values a pixel of the picture: conv4_1's and conv4_2's 8 and
#: conv5_1's 2, in bfloat16 32 bytes a pixel more than their inputs and bits, for 55k of
#: the 94k multiplications a pixel pass 2 would recompute: an evaluation at 4096 px on
#: 1056 px tiles 4.5% faster (benchmarks/README.md, session 32). The shallow ones'
#: (conv2_1's 32 values, conv3_1's 16) would cost 48 bytes more a pixel for 4% more.
KEPT_RESPONSE_VALUES = 8


def replays(pooling: str, dtype: torch.dtype | None, device: torch.device,
            winograd: bool = False) -> bool:
    """Whether a tiled evaluation with ``pooling`` and the network in ``dtype`` (None:
    float32; ``winograd``: by Winograd's convolutions) on ``device`` can take its second
    pass from kept bits: not by NNPACK's (NCHW)."""
    return (bitmasks.available() and (dtype or torch.float32) in bitmasks.DTYPES
            and device.type == "cpu" and pooling == "max"
            and not (winograd and nnpack.preferred()))


def record_bytes(read: Iterable[str], deepest: str, start: str = LAYERS[0],
                 pools: bool = False, itemsize: int = 2) -> float:
    """Bytes a :class:`Record` holds a pixel of the picture its crop covers, for a run
    from ``start`` to ``deepest`` (``pools``: and its pool) whose losses read the ``read``
    layers: a bit a response of the layers the losses do not read and of the pooled ones,
    and the inputs of the read layers (``itemsize`` bytes a value: 2 in bfloat16, 4 in
    float32) where the second pass cannot recompute them (:func:`_kept_input`), or their
    responses where those are small or no larger (:func:`_kept_response`)."""
    layers = _layers(start, deepest)
    read = set(read)
    total = 0.0
    for index, layer in enumerate(layers):
        values = layer_channels(layer) / stride(layer) ** 2
        # A read layer's ReLU bits come from its recomputed responses (:func:`recompute`).
        total += values / 8 * (_pooled(layers, index, pools) or layer not in read)
        if _kept_input(layers, index, read, pools):
            total += _input_values(layers, index) * itemsize
        if _kept_response(layers, index, read, pools):
            total += _response_values(layer) * itemsize
    return total


def _kept_response(layers: list[str], index: int, read: set[str] | frozenset[str],
                   pools: bool) -> bool:
    """Whether a record keeps the responses of ``layers[index]``, a layer a loss reads,
    not recomputing them in pass 2: where they take at most KEPT_RESPONSE_VALUES a pixel
    of the picture, or no more than the input it would keep instead
    (:func:`_needs_input`)."""
    layer = layers[index]
    if layer not in read:
        return False
    size = _response_values(layer)
    return size <= KEPT_RESPONSE_VALUES or (_needs_input(layers, index, read, pools)
                                            and size <= _input_values(layers, index))


def _kept_input(layers: list[str], index: int, read: set[str] | frozenset[str],
                pools: bool) -> bool:
    """Whether a record keeps the input of ``layers[index]``: where pass 2 needs it and
    does not have the layer's responses kept instead."""
    return (_needs_input(layers, index, read, pools)
            and not _kept_response(layers, index, read, pools))


def _needs_input(layers: list[str], index: int, read: set[str] | frozenset[str],
                 pools: bool) -> bool:
    """Whether pass 2 needs the input of ``layers[index]`` kept to recompute it: a layer
    a loss reads, but the first (its input is the crop) and one right after another read
    layer, unpooled (its input is that layer's response, which pass 2 has anyway:
    conv4_2's, 8 values a pixel of a deep part's)."""
    if layers[index] not in read or index == 0:
        return False
    before = layers[index - 1]
    return before not in read or _pooled(layers, index - 1, pools)


def _response_values(layer: str) -> float:
    """Values a pixel of the picture of a layer's responses."""
    return layer_channels(layer) / stride(layer) ** 2


def _input_values(layers: list[str], index: int) -> float:
    """Values a pixel of the picture of the input of ``layers[index]`` (not the first):
    the layer before's responses, pooled where the layer starts a block."""
    return layer_channels(layers[index - 1]) / stride(layers[index]) ** 2


@dataclass
class Record:
    """What the first pass keeps of one tile's crop, for :func:`backward`."""

    start: str
    deepest: str
    pools: bool  # whether the deepest layer's pool ran (a split's cut)
    dtype: torch.dtype  # the network's: bfloat16 or float32
    #: Each layer's ReLU bits; where a pool follows, the pool's (its choice, if let
    #: through). A layer a loss reads has its ReLU bits from :func:`recompute`.
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    #: The ReLU bits of a pooled layer a loss reads too (from :func:`recompute`).
    relus: dict[str, np.ndarray] = field(default_factory=dict)
    #: The input of each layer a loss reads, where :func:`_kept_input` keeps it.
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    #: The responses of each layer a loss reads, where :func:`_kept_response` keeps them.
    responses: dict[str, torch.Tensor] = field(default_factory=dict)
    #: Each layer's input shape (1, C, H, W), for its input gradient.
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: How each layer convolved (VGG19Features.methods): its gradient goes back the same way.
    methods: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        """The bytes it holds: its bits, its kept inputs and its kept responses."""
        return (sum(bits.nbytes for bits in (*self.masks.values(), *self.relus.values()))
                + sum(value.numel() * value.element_size()
                      for value in (*self.inputs.values(), *self.responses.values())))


def _layers(start: str, deepest: str) -> list[str]:
    return LAYERS[LAYERS.index(start): LAYERS.index(deepest) + 1]


def _pooled(layers: list[str], index: int, pools: bool) -> bool:
    """Whether a pool follows ``layers[index]`` within the run."""
    if index + 1 < len(layers):
        return layers[index + 1].endswith("_1")
    return pools


def forward(extractor: VGG19Features, crop: torch.Tensor, read: frozenset[str], deepest: str,
            start: str = LAYERS[0], pools: bool = False, dtype: torch.dtype = torch.bfloat16
            ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, Record]:
    """The responses of the ``read`` layers to ``crop`` (a picture's pixels, or from
    ``start`` on its map), the network run in ``dtype`` to ``deepest``; with ``pools``,
    also the deepest layer's pool (else None); and the :class:`Record` of the run.
    Without gradients; the same responses as the extractor's, to the bit."""
    record = Record(start, deepest, pools, dtype)
    layers = _layers(start, deepest)
    out: dict[str, torch.Tensor] = {}
    pooled = None
    with torch.no_grad(), _autocast(dtype):
        x = extractor.preprocess(crop) if start == LAYERS[0] else crop
        record.methods = extractor.methods(x, LAYERS.index(deepest), LAYERS.index(start))
        for index, layer in enumerate(layers):
            if _kept_input(layers, index, read, pools):
                record.inputs[layer] = x
            record.shapes[layer] = tuple(x.shape)
            x = extractor.respond(layer, x, record.methods[index])
            if layer in read:
                out[layer] = x
            if _kept_response(layers, index, read, pools):
                record.responses[layer] = x
            if _pooled(layers, index, pools):
                x, record.masks[layer] = bitmasks.pool(x)
                pooled = x
            elif layer not in read:
                record.masks[layer] = bitmasks.relu_mask(x)
    return out, pooled if pools else None, record


def _autocast(dtype: torch.dtype) -> torch.autocast:
    """The network in ``dtype``: bfloat16 by autocast, float32 as it is."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)


def recompute(extractor: VGG19Features, crop: torch.Tensor, record: Record,
              read: frozenset[str]) -> dict[str, torch.Tensor]:
    """The ``read`` layers' responses again, each from its kept input, the crop or the
    response before it, detached: the same values :func:`forward` gave. Their ReLU bits,
    which :func:`forward` leaves out of the ``record`` (the responses hold them), go into
    it here, for :func:`backward`."""
    out: dict[str, torch.Tensor] = {}
    layers = _layers(record.start, record.deepest)
    with torch.no_grad(), _autocast(record.dtype):
        for index, layer in enumerate(layers):
            if layer not in read:
                continue
            if layer in record.responses:
                out[layer] = record.responses[layer].detach()  # (pass 2 makes it a leaf)
            else:
                if index == 0:
                    x = extractor.preprocess(crop) if record.start == LAYERS[0] else crop
                else:
                    x = record.inputs.get(layer)
                    x = out[layers[index - 1]] if x is None else x
                out[layer] = extractor.respond(layer, x, record.methods[index])
            bits = record.relus if _pooled(layers, index, record.pools) else record.masks
            bits[layer] = bitmasks.relu_mask(out[layer])
    return out


def backward(extractor: VGG19Features, record: Record, slopes: dict[str, torch.Tensor],
             pooled_slope: torch.Tensor | None, crop_dtype: torch.dtype) -> torch.Tensor:
    """The gradient at the crop of sum(slope * response) over the layers' ``slopes``
    (each (1, C, h, w), a loss's gradient at a layer's responses) and, where the run
    pooled its deepest layer, ``pooled_slope`` at that pool's output; in ``crop_dtype``."""
    layers = _layers(record.start, record.deepest)
    gradient = pooled_slope
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        slope = slopes.get(layer)
        if _pooled(layers, index, record.pools):
            gradient = None if gradient is None else bitmasks.unpool(
                gradient, record.masks[layer], record.dtype)
            if slope is not None:
                gradient = slope if gradient is None else gradient.add_(slope)
                gradient = bitmasks.masked(gradient, record.relus[layer], record.dtype)
        else:
            if slope is not None:  # (in place: a fresh crop-sized block costs its page faults)
                gradient = slope if gradient is None else gradient.add_(slope)
            if gradient is not None:
                gradient = bitmasks.masked(gradient, record.masks[layer], record.dtype)
        if gradient is None:  # nothing reaches below this layer yet
            continue
        gradient = _input_gradient(extractor, record, layer, gradient,
                                   record.methods[index] == "winograd")
    shape = record.shapes[layers[0]]
    if gradient is None:
        return torch.zeros(shape, dtype=crop_dtype)
    if record.start != LAYERS[0]:
        return gradient.to(crop_dtype)
    return extractor.preprocess_gradient(gradient.float()).to(crop_dtype)


def _input_gradient(extractor: VGG19Features, record: Record, layer: str,
                    gradient: torch.Tensor, winograd: bool) -> torch.Tensor:
    """The gradient at ``layer``'s input from ``gradient`` at its convolution's output,
    as autograd takes it back through the way the layer convolved."""
    if winograd:
        return extractor.input_gradient(layer, gradient)
    weight = extractor.convs[layer].weight.to(record.dtype)
    # The input is read for its shape and layout only: channels-last, as the gradient
    # is, or the gradient would be copied to NCHW first.
    shape_only = torch.empty(record.shapes[layer], dtype=record.dtype,
                             memory_format=torch.channels_last)
    return torch.ops.aten.convolution_backward(
        gradient, shape_only, weight, None,
        [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False])[0]


def pooled_shape(record: Record) -> tuple[int, ...]:
    """The shape of the deepest layer's pool's output in a run that pooled it."""
    _, _, height, width = record.shapes[record.deepest]
    return (1, layer_channels(record.deepest), height // 2, width // 2)
