"""What a ReLU and a max pool decided, kept as bits, and gradients taken back through
them, as compiled loops (numba) over bfloat16 or float32 feature maps in the
channels-last layout.

A tiled evaluation's second pass needs, to take a gradient back through the network's
layers to the pixels, only which responses a ReLU let through and which position of each
2x2 window a pool took: a convolution's input gradient needs its weights, not its input.
:mod:`painterly.replay` keeps those as bits in the first pass (a bit a value, where a
bfloat16 response takes 16, a float32 one 32) instead of running the forward pass again.

Maps come as their values' bits (uint16 or uint32), (H, W, C) for a (1, C, H, W)
channels-last tensor, C a multiple of 8; a mask holds 8 channels a byte, (H, W, C // 8).
A response is let through where it is not 0 (ReLU's outputs are 0 or above, or NaN,
which PyTorch's ReLU gradient lets through too); a pool takes the first largest of its
window in row order, a NaN above all (as PyTorch's max pool on the CPU), and its bit is
set only where that response is let through too. Each loop works on a share of rows and
releases the GIL: the callers hand shares to threads (:func:`painterly.sliced.by_rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from . import matching
from .matching import _compiled
from .sliced import by_rows


class _Loops(NamedTuple):
    """The loops for one floating type, and how torch and numpy hold its bits."""

    signed: torch.dtype  # torch views a float as a signed integer of its width
    unsigned: type
    relu_bits: Callable
    pool_bits: Callable
    masked: Callable
    unpooled: Callable


def _loops(signed: torch.dtype, unsigned: type, magnitude: int, inf: int, nan_bits: int,
           sign: int) -> _Loops:
    """The loops over maps of one type's bits, compiled with its patterns as constants
    (as fast as loops written for the one type): ``magnitude`` the bits without the
    sign, ``inf`` +inf's (above them, without the sign, a NaN), ``nan_bits`` a NaN's as
    the pool orders it (above every number)."""
    patterns = tuple(unsigned(value) for value in (magnitude, inf, nan_bits, sign, 0))
    return _Loops(signed, unsigned, *_forward_loops(*patterns), *_gradient_loops(unsigned))


def _forward_loops(magnitude, inf, nan_bits, sign, zero) -> tuple[Callable, Callable]:
    """The loops that keep a ReLU's and a pool's decisions, for one type's patterns."""

    @_compiled
    def relu_bits(values, bits):
        """bits (P, C // 8): which of ReLU's ``values`` (P, C) are not 0 (nor -0)."""
        for p in range(values.shape[0]):
            for group in range(bits.shape[1]):
                byte = np.uint8(0)
                for k in range(8):
                    through = (values[p, group * 8 + k] & magnitude) != 0
                    byte |= np.uint8(through) << np.uint8(k)
                bits[p, group] = byte

    @_compiled
    def nonnegative(bits):
        """A ReLU output's bits, ordered as the values: NaN (of either sign) above +inf,
        as PyTorch's pool takes a NaN; -0 as 0."""
        if (bits & magnitude) > inf:
            return nan_bits
        return bits if bits < sign else zero

    @_compiled
    def pool_bits(values, pooled, bits):
        """The 2x2 max pool of ``values`` (2h, W, C) into ``pooled`` (h, W // 2, C), and
        in ``bits`` (2h, W, C // 8) the position each window's value came from, where
        that value is not 0. Branch-free, so that the channels' loop vectorises."""
        for i in range(pooled.shape[0]):
            for j in range(pooled.shape[1]):
                for group in range(bits.shape[2]):
                    b0 = b1 = b2 = b3 = np.uint8(0)
                    for k in range(8):
                        c = group * 8 + k
                        u0 = nonnegative(values[2 * i, 2 * j, c])
                        u1 = nonnegative(values[2 * i, 2 * j + 1, c])
                        u2 = nonnegative(values[2 * i + 1, 2 * j, c])
                        u3 = nonnegative(values[2 * i + 1, 2 * j + 1, c])
                        top = max(max(u0, u1), max(u2, u3))  # bits order as the values
                        pooled[i, j, c] = top
                        on = np.uint8(top != 0)
                        # The first largest; of NaNs the last (each replaces the one before).
                        nan = np.uint8(top == nan_bits)
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

    return relu_bits, pool_bits


def _gradient_loops(unsigned: type) -> tuple[Callable, Callable]:
    """The loops that take a gradient back through kept decisions, for one type's
    unsigned bits."""
    zero = unsigned(0)

    @_compiled
    def masked(gradient, bits, out, naught):
        """out (P, C) = ``gradient`` where ``bits`` (P, C // 8) are set, else 0. Into
        another array: written in place the loop stays scalar (9x slower). ``naught``
        is the type's 0, an argument: as a constant the float32 loop stayed scalar."""
        for p in range(gradient.shape[0]):
            for group in range(bits.shape[1]):
                byte = bits[p, group]
                for k in range(8):
                    keep = naught - ((byte >> np.uint8(k)) & np.uint8(1))
                    out[p, group * 8 + k] = gradient[p, group * 8 + k] & keep

    @_compiled
    def unpooled(gradient, bits, out, first):
        """out (h, W, C), rows ``first`` on of a pool's input: ``gradient`` (H // 2, W //
        2, C) at the window's position where ``bits`` (h, W, C // 8) are set, else 0
        (also in an odd last row or column, which the pool left out)."""
        rows, cols = gradient.shape[0], gradient.shape[1]
        for i in range(out.shape[0]):
            row = (first + i) // 2
            inside_row = row < rows
            row = min(row, rows - 1)
            for j in range(out.shape[1]):
                inside = zero - unsigned(inside_row and j // 2 < cols)
                col = min(j // 2, cols - 1)
                for group in range(bits.shape[2]):
                    byte = bits[i, j, group]
                    for k in range(8):
                        keep = (zero - unsigned((byte >> np.uint8(k)) & np.uint8(1))) & inside
                        out[i, j, group * 8 + k] = gradient[row, col, group * 8 + k] & keep

    return masked, unpooled


_LOOPS = {
    torch.bfloat16: _loops(torch.int16, np.uint16, 0x7FFF, 0x7F80, 0x7FC0, 0x8000),
    torch.float32: _loops(torch.int32, np.uint32, 0x7FFFFFFF, 0x7F800000, 0x7FC00000,
                          0x80000000),
}
#: The types whose maps the loops take.
DTYPES = tuple(_LOOPS)


def available() -> bool:
    """Whether the loops can run here (numba is installed)."""
    return matching.available()


def _rows(values: torch.Tensor) -> np.ndarray:
    """A (1, C, H, W) channels-last tensor's memory as (H, W, C) unsigned bits."""
    kind = _LOOPS[values.dtype]
    return values.view(kind.signed).permute(0, 2, 3, 1)[0].numpy().view(kind.unsigned)


def _channels_last(values: torch.Tensor) -> torch.Tensor:
    return values.contiguous(memory_format=torch.channels_last)


def _empty(channels: int, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty((1, channels, height, width), dtype=dtype,
                       memory_format=torch.channels_last)


def relu_mask(responses: torch.Tensor) -> np.ndarray:
    """(H, W, C // 8) bits: where ReLU's ``responses`` (1, C, H, W), of a type in
    :data:`DTYPES`, are not 0."""
    values = _rows(_channels_last(responses))
    flat = values.reshape(-1, values.shape[2])
    bits = np.empty((flat.shape[0], flat.shape[1] // 8), dtype=np.uint8)
    loop = _LOOPS[responses.dtype].relu_bits
    by_rows(len(flat), lambda part: loop(flat[part], bits[part]), flat.size)
    return bits.reshape(*values.shape[:2], -1)


def pool(responses: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The 2x2 max pool of ReLU's ``responses`` (1, C, H, W), of a type in :data:`DTYPES`,
    channels-last, and (H, W, C // 8) bits: the position each window's value came from,
    where it is not 0."""
    channels, height, width = responses.shape[1:]
    values = _rows(_channels_last(responses))
    pooled = _empty(channels, height // 2, width // 2, responses.dtype)
    out = _rows(pooled)
    # An odd last row or column is no window's: its bits stay 0.
    bits = np.zeros((height, width, channels // 8), dtype=np.uint8)
    loop = _LOOPS[responses.dtype].pool_bits
    by_rows(len(out), lambda part: loop(
        values[2 * part.start: 2 * part.stop], out[part], bits[2 * part.start: 2 * part.stop]),
        values.size)
    return pooled, bits


def masked(gradient: torch.Tensor, bits: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """``gradient`` (1, C, H, W) where ``bits`` (:func:`relu_mask`) are set, else 0: in
    ``dtype`` (of :data:`DTYPES`), channels-last."""
    values = _rows(_channels_last(gradient.to(dtype)))
    out = _empty(*gradient.shape[1:], dtype)
    flat, into = (array.reshape(-1, array.shape[2]) for array in (values, _rows(out)))
    masks = bits.reshape(len(flat), -1)
    loop = _LOOPS[dtype].masked
    naught = _LOOPS[dtype].unsigned(0)
    by_rows(len(flat), lambda part: loop(flat[part], masks[part], into[part], naught),
            flat.size)
    return out


def unpool(gradient: torch.Tensor, bits: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A pool's input gradient from its output's ``gradient`` (1, C, H // 2, W // 2) and
    its ``bits`` (:func:`pool`, (H, W, C // 8)): in ``dtype`` (of :data:`DTYPES`),
    channels-last."""
    values = _rows(_channels_last(gradient.to(dtype)))
    out = _empty(gradient.shape[1], *bits.shape[:2], dtype)
    into = _rows(out)
    loop = _LOOPS[dtype].unpooled
    by_rows(len(into), lambda part: loop(values, bits[part], into[part], part.start),
            into.size)
    return out
