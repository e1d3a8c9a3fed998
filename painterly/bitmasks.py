"""What a ReLU and a max pool decided, kept as bits, and gradients taken back through
them, as compiled loops (numba) over bfloat16 feature maps in the channels-last layout.

A tiled evaluation's second pass needs, to take a gradient back through the network's
layers to the pixels, only which responses a ReLU let through and which position of each
2x2 window a pool took: a convolution's input gradient needs its weights, not its input.
:mod:`painterly.replay` keeps those as bits in the first pass (a bit a value, where a
bfloat16 response takes 16) instead of running the forward pass again.

Maps come as bfloat16's bits (uint16), (H, W, C) for a (1, C, H, W) channels-last tensor,
C a multiple of 8; a mask holds 8 channels a byte, (H, W, C // 8). A response is let
through where it is not 0 (ReLU's outputs are 0 or above, or NaN, which PyTorch's ReLU
gradient lets through too); a pool takes the first largest of its window in row order, a
NaN above all (as PyTorch's max pool on the CPU), and its bit is set only where that
response is let through too. Each loop works on a share of
rows and releases the GIL: the callers hand shares to threads (:func:`painterly.sliced.by_rows`).
"""

from __future__ import annotations

import numpy as np
import torch

from . import matching
from .matching import _compiled
from .sliced import by_rows

#: +inf's bfloat16 bits: above them (without the sign) a NaN.
_INF = 0x7F80
#: The bits without the sign.
_MAGNITUDE = 0x7FFF
#: A NaN's bits, as the pool orders it: above every number.
_NAN = 0x7FC0


def available() -> bool:
    """Whether the loops can run here (numba is installed)."""
    return matching.available()


@_compiled
def _relu_bits(values, bits):
    """bits (P, C // 8): which of ReLU's ``values`` (P, C) are not 0 (nor -0)."""
    for p in range(values.shape[0]):
        for group in range(bits.shape[1]):
            byte = np.uint8(0)
            for k in range(8):
                through = (values[p, group * 8 + k] & np.uint16(_MAGNITUDE)) != 0
                byte |= np.uint8(through) << np.uint8(k)
            bits[p, group] = byte


@_compiled
def _pool_bits(values, pooled, bits):
    """The 2x2 max pool of ``values`` (2h, W, C) into ``pooled`` (h, W // 2, C), and in
    ``bits`` (2h, W, C // 8) the position each window's value came from, where that
    value is not 0. Branch-free, so that the channels' loop vectorises."""
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            for group in range(bits.shape[2]):
                b0 = b1 = b2 = b3 = np.uint8(0)
                for k in range(8):
                    c = group * 8 + k
                    u0 = _nonnegative(values[2 * i, 2 * j, c])
                    u1 = _nonnegative(values[2 * i, 2 * j + 1, c])
                    u2 = _nonnegative(values[2 * i + 1, 2 * j, c])
                    u3 = _nonnegative(values[2 * i + 1, 2 * j + 1, c])
                    top = max(max(u0, u1), max(u2, u3))  # bits order as the values
                    pooled[i, j, c] = top
                    on = np.uint8(top != 0)
                    # The first largest; of NaNs the last (each one replaces the one before).
                    nan = np.uint8(top == _NAN)
                    a3 = np.uint8(u3 == top)
                    a2 = np.uint8(u2 == top) & ~(a3 & nan) & np.uint8(1)
                    a1 = np.uint8(u1 == top) & ~((a2 | a3) & nan) & np.uint8(1)
                    a0 = np.uint8(u0 == top) & ~((a1 | a2 | a3) & nan) & np.uint8(1)
                    a1 &= ~(a0 & ~nan) & np.uint8(1)
                    a2 &= ~((a0 | a1) & ~nan) & np.uint8(1)
                    a3 &= ~((a0 | a1 | a2) & ~nan) & np.uint8(1)
                    shift = np.uint8(k)
                    b0 |= (a0 & on) << shift
                    b1 |= (a1 & on) << shift
                    b2 |= (a2 & on) << shift
                    b3 |= (a3 & on) << shift
                bits[2 * i, 2 * j, group] = b0
                bits[2 * i, 2 * j + 1, group] = b1
                bits[2 * i + 1, 2 * j, group] = b2
                bits[2 * i + 1, 2 * j + 1, group] = b3


@_compiled
def _nonnegative(bits):
    """A ReLU output's bits, ordered as the values: NaN (of either sign) above +inf, as
    PyTorch's pool takes a NaN; -0 as 0."""
    if (bits & np.uint16(_MAGNITUDE)) > np.uint16(_INF):
        return np.uint16(_NAN)
    return bits if bits < np.uint16(0x8000) else np.uint16(0)


@_compiled
def _masked(gradient, bits, out):
    """out (P, C) = ``gradient`` where ``bits`` (P, C // 8) are set, else 0. Into another
    array: written in place the loop stays scalar (9x slower)."""
    for p in range(gradient.shape[0]):
        for group in range(bits.shape[1]):
            byte = bits[p, group]
            for k in range(8):
                keep = np.uint16(0) - np.uint16((byte >> np.uint8(k)) & np.uint8(1))
                out[p, group * 8 + k] = gradient[p, group * 8 + k] & keep


@_compiled
def _unpooled(gradient, bits, out, first):
    """out (h, W, C), rows ``first`` on of a pool's input: ``gradient`` (H // 2, W // 2,
    C) at the window's position where ``bits`` (h, W, C // 8) are set, else 0 (also in
    an odd last row or column, which the pool left out)."""
    rows, cols = gradient.shape[0], gradient.shape[1]
    for i in range(out.shape[0]):
        row = (first + i) // 2
        inside_row = row < rows
        row = min(row, rows - 1)
        for j in range(out.shape[1]):
            inside = np.uint16(0) - np.uint16(inside_row and j // 2 < cols)
            col = min(j // 2, cols - 1)
            for group in range(bits.shape[2]):
                byte = bits[i, j, group]
                for k in range(8):
                    keep = (np.uint16(0) - np.uint16((byte >> np.uint8(k)) & np.uint8(1))) & inside
                    out[i, j, group * 8 + k] = gradient[row, col, group * 8 + k] & keep


def _rows(values: torch.Tensor) -> np.ndarray:
    """A (1, C, H, W) channels-last bfloat16 tensor's memory as (H, W, C) uint16."""
    return values.view(torch.uint16).permute(0, 2, 3, 1)[0].numpy()


def _channels_last(values: torch.Tensor) -> torch.Tensor:
    return values.contiguous(memory_format=torch.channels_last)


def _empty(channels: int, height: int, width: int) -> torch.Tensor:
    return torch.empty((1, channels, height, width), dtype=torch.bfloat16,
                       memory_format=torch.channels_last)


def relu_mask(responses: torch.Tensor) -> np.ndarray:
    """(H, W, C // 8) bits: where ReLU's ``responses`` (1, C, H, W) bfloat16 are not 0."""
    values = _rows(_channels_last(responses))
    flat = values.reshape(-1, values.shape[2])
    bits = np.empty((flat.shape[0], flat.shape[1] // 8), dtype=np.uint8)
    by_rows(len(flat), lambda part: _relu_bits(flat[part], bits[part]), flat.size)
    return bits.reshape(*values.shape[:2], -1)


def pool(responses: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The 2x2 max pool of ReLU's ``responses`` (1, C, H, W) bfloat16, channels-last, and
    (H, W, C // 8) bits: the position each window's value came from, where it is not 0."""
    channels, height, width = responses.shape[1:]
    values = _rows(_channels_last(responses))
    pooled = _empty(channels, height // 2, width // 2)
    out = _rows(pooled)
    # An odd last row or column is no window's: its bits stay 0.
    bits = np.zeros((height, width, channels // 8), dtype=np.uint8)
    by_rows(len(out), lambda part: _pool_bits(
        values[2 * part.start: 2 * part.stop], out[part], bits[2 * part.start: 2 * part.stop]),
        values.size)
    return pooled, bits


def masked(gradient: torch.Tensor, bits: np.ndarray) -> torch.Tensor:
    """``gradient`` (1, C, H, W) where ``bits`` (:func:`relu_mask`) are set, else 0:
    bfloat16, channels-last."""
    values = _rows(_channels_last(gradient.to(torch.bfloat16)))
    out = _empty(*gradient.shape[1:])
    flat, into = (array.reshape(-1, array.shape[2]) for array in (values, _rows(out)))
    masks = bits.reshape(len(flat), -1)
    by_rows(len(flat), lambda part: _masked(flat[part], masks[part], into[part]), flat.size)
    return out


def unpool(gradient: torch.Tensor, bits: np.ndarray) -> torch.Tensor:
    """A pool's input gradient from its output's ``gradient`` (1, C, H // 2, W // 2) and
    its ``bits`` (:func:`pool`, (H, W, C // 8)): bfloat16, channels-last."""
    values = _rows(_channels_last(gradient.to(torch.bfloat16)))
    out = _empty(gradient.shape[1], *bits.shape[:2])
    into = _rows(out)
    by_rows(len(into), lambda part: _unpooled(values, bits[part], into[part], part.start),
            into.size)
    return out
