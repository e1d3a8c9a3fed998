"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3), of painterly's own, with
their input gradient: on CPUs with AVX-512, whose direct fp32
convolutions (oneDNN's) already run near the cores' peak, VGG19's layers from 128
channels up 1.5-2.3x as fast forward and back (benchmarks/README.md, session 35).

Each 4x4 block of the output is a 6x6 block of the input transformed (``B^T d B``),
multiplied channel by channel with the kernel's transform (``G g G^T``) and transformed
back (``A^T m A``): 36 multiplications per channel pair instead of 144 (Lavin and Gray,
*Fast Algorithms for Convolutional Neural Networks*, 2016). The products are 36 matrix
products over all blocks at once, which the BLAS runs at its peak; the transforms are a
few sums: compiled loops (numba, the ``[fast]`` extra) that read each value once, or
without numba PyTorch's operations on strided slices, several passes over memory. Those
sums, not the products, are what stop it paying on small channel counts: ``worthwhile``
keeps it to the layers it was measured faster on.

Its relative error is ~1e-5 a layer in fp32 (direct: ~2e-6). The network's weights are
frozen, so only the input's gradient is needed: itself such a convolution of the output's
gradient with the kernel transposed and rotated by 180 degrees (:func:`gradient_kernel`).
The blocks go in bands of rows, so that the transformed values held at once stay bounded
(:data:`BAND_VALUES`) whatever the picture's size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import matching
from .layers import LAYERS, layer_channels
from .matching import _compiled
from .sliced import by_rows

# Lavin and Gray's F(4x4, 3x3), points 0, +-1, +-2 and infinity.
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
                  dtype=torch.float64)
_G_KRON_G = torch.kron(_G, _G)  # (36, 9): row 6a + b, column 3i + j: G[a, i] G[b, j]

#: Transformed values (36 per block and channel) a band holds at most: bands of ~16 MB
#: in fp32 keep the transforms' temporaries a few such bands, at any picture size.
BAND_VALUES = 4 * 2**20

#: Input channels -> the fewest output positions (H * W) where a layer's forward pass and
#: input gradient beat oneDNN's direct ones on AVX-512 (a 2-core Xeon, session 35,
#: benchmarks/results/speed_convolutions_*_xeon_emr_s35.md): 512 -> 512 channels at 64x48
#: 2.3x, at 32x24 2.1x, at 16x12 1.1x; 256 -> 256 at 128x96 1.9x, at 32x24 1.4x; 128 ->
#: 256 at 128x96 1.6x, at 32x24 1.06x; 128 -> 128 at 256x192 1.45x, at 128x96 1.01x.
#: Fewer channels (64) never: their transforms cost more than the products save.
_MIN_POSITIONS = {512: 768, 256: 768, 128: 64 * 48}


def worthwhile(in_channels: int, out_channels: int, positions: int) -> bool:
    """Whether a 3x3 convolution of these channels over ``positions`` output pixels is
    faster by this Winograd's method than by the direct one."""
    least = _MIN_POSITIONS.get(in_channels)
    return least is not None and positions >= least


def kernel_bytes(deepest: str) -> int:
    """The bytes of the transformed kernels, forward and gradient, that VGG19's layers up
    to ``deepest`` hold where they may run by this method (fp32): 410 MB to conv5_1."""
    layers = LAYERS[: LAYERS.index(deepest) + 1]
    return sum(2 * 36 * 4 * layer_channels(before) * layer_channels(layer)
               for before, layer in itertools.pairwise(layers)
               if layer_channels(before) in _MIN_POSITIONS)


def gradient_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The kernel (in, out, 3, 3) whose convolution maps an output's gradient to the input's."""
    return weight.transpose(0, 1).flip(2, 3).contiguous()


def transformed(weight: torch.Tensor) -> torch.Tensor:
    """A kernel (out, in, 3, 3) as :func:`conv3x3` takes it: ``G g G^T`` for each channel
    pair, (36, in, out), in ``weight``'s dtype."""
    out_channels, in_channels = weight.shape[:2]
    # One matrix product, (G kron G) times every pair's 9 values laid out as the result
    # wants them: a run's kernels to conv5_1, forward and gradient, in 0.16 s, against
    # 0.77 s in float64 with the result transposed after (session 36). In fp32 that is
    # ~3e-8 off the float64 transform, far below the method's own ~2e-6.
    nine = weight.detach().permute(2, 3, 1, 0).reshape(9, in_channels * out_channels)
    return (_G_KRON_G.to(weight.dtype) @ nine).view(36, in_channels, out_channels)


class _Conv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: torch.Tensor, backward_kernel: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        ctx.backward_kernel = backward_kernel
        return _convolve(x, kernel, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        return input_gradient(grad, ctx.backward_kernel), None, None, None


def conv3x3(x: torch.Tensor, kernel: torch.Tensor, backward_kernel: torch.Tensor,
            bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for x (N, C, H, W), returned channels-last;
    ``kernel`` is ``transformed(weight)`` and ``backward_kernel``
    ``transformed(gradient_kernel(weight))``, made once by the caller. Differentiable in
    ``x`` only."""
    return _Conv3x3.apply(x, kernel, backward_kernel, bias)


def input_gradient(gradient: torch.Tensor, backward_kernel: torch.Tensor) -> torch.Tensor:
    """The gradient at a :func:`conv3x3`'s input from ``gradient`` at its output (what
    autograd computes), channels-last; ``backward_kernel`` as :func:`conv3x3` takes it."""
    return _convolve(gradient, backward_kernel, None)


def _convolve(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The convolution of x (N, C, H, W) with a transformed kernel (36, C, K), image by
    image and band by band of 4-pixel rows, into a channels-last (N, K, H, W)."""
    count, channels, height, width = x.shape
    out_channels = kernel.shape[2]
    rows, columns = -(-height // 4), -(-width // 4)
    out = torch.empty(count, out_channels, height, width, dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last)
    transform = _looped if _compiles(x) else _sliced
    band = max(1, BAND_VALUES // (36 * columns * max(channels, out_channels)))
    for index in range(count):
        pixels = x[index].permute(1, 2, 0)  # (H, W, C): a view of a channels-last x
        if not pixels.is_contiguous():
            pixels = pixels.contiguous()
        image = out[index].permute(1, 2, 0)  # (H, W, K), the same memory
        for first in range(0, rows, band):
            last = min(rows, first + band)
            blocks = torch.bmm(transform.input(pixels, 4 * first - 1, last - first, columns),
                               kernel)
            transform.output(blocks.view(6, 6, last - first, columns, out_channels),
                             image[4 * first: min(4 * last, height)], bias)
    return out


def _compiles(x: torch.Tensor) -> bool:
    """Whether the compiled loops serve ``x``: on the CPU, in float32 or float64, with
    numba installed."""
    return (matching.available() and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64))


def _sliced_input(pixels: torch.Tensor, top: int, rows: int, columns: int) -> torch.Tensor:
    """``B^T d B`` of the 6x6 blocks (stride 4) of ``rows`` block rows from input row
    ``top`` of pixels (H, W, C), zero outside it (the convolution's padding of 1 px):
    (36, rows * columns, C), by PyTorch's operations on strided slices of a padded copy."""
    height, width, channels = pixels.shape
    bottom = top + 4 * rows + 2
    padded = F.pad(pixels[max(top, 0): min(bottom, height)],
                   (0, 0, 1, 4 * columns + 1 - width, max(-top, 0), max(bottom - height, 0)))
    half = padded.new_empty(6, rows, 4 * columns + 2, channels)
    _b_transpose([padded[i: i + 4 * rows: 4] for i in range(6)], list(half))
    blocks = padded.new_empty(36, rows * columns, channels)
    grid = blocks.view(6, 6, rows, columns, channels)
    _b_transpose([half[:, :, j: j + 4 * columns: 4] for j in range(6)],
                 [grid[:, b] for b in range(6)])
    return blocks


def _sliced_output(blocks: torch.Tensor, target: torch.Tensor,
                   bias: torch.Tensor | None) -> None:
    """``A^T m A`` of blocks (6, 6, rows, columns, K), plus ``bias``, into target
    (at most 4 rows, at most 4 columns, K: what of the blocks' pixels the picture has),
    by PyTorch's operations on strided slices."""
    _, _, rows, columns, channels = blocks.shape
    half = blocks.new_empty(6, 4, rows, columns, channels)
    _a_transpose([blocks[:, b] for b in range(6)], [half[:, s] for s in range(4)])
    values = blocks.new_empty(rows, 4, columns, 4, channels)
    _a_transpose(list(half), [values[:, r].permute(2, 0, 1, 3) for r in range(4)])
    values = values.view(4 * rows, 4 * columns, channels)[: target.shape[0], : target.shape[1]]
    if bias is None:
        target.copy_(values)
    else:
        torch.add(values, bias, out=target)


def _b_transpose(d: Sequence[torch.Tensor], out: Sequence[torch.Tensor]) -> None:
    """out[a] = sum_i B^T[a, i] d[i], B^T's rows (4 0 -5 0 1 0), (0 -4 -4 1 1 0),
    (0 4 -4 -1 1 0), (0 -2 -1 2 1 0), (0 2 -1 -2 1 0), (0 4 0 -5 0 1), sharing sums."""
    p = torch.add(d[4], d[2], alpha=-4)
    q = torch.add(d[3], d[1], alpha=-4)
    r = d[4] - d[2]
    s = d[3] - d[1]
    torch.add(torch.add(d[4], d[2], alpha=-5), d[0], alpha=4, out=out[0])
    torch.add(p, q, out=out[1])
    torch.sub(p, q, out=out[2])
    torch.add(r, s, alpha=2, out=out[3])
    torch.add(r, s, alpha=-2, out=out[4])
    torch.add(torch.add(d[5], d[3], alpha=-5), d[1], alpha=4, out=out[5])


def _a_transpose(m: Sequence[torch.Tensor], out: Sequence[torch.Tensor]) -> None:
    """out[s] = sum_b A^T[s, b] m[b], A^T's rows (1 1 1 1 1 0), (0 1 -1 2 -2 0),
    (0 1 1 4 4 0), (0 1 -1 8 -8 1), sharing sums."""
    u = m[1] + m[2]
    v = m[1] - m[2]
    w = m[3] + m[4]
    z = m[3] - m[4]
    torch.add(m[0] + u, w, out=out[0])
    torch.add(v, z, alpha=2, out=out[1])
    torch.add(u, w, alpha=4, out=out[2])
    torch.add(torch.add(v, z, alpha=8), m[5], out=out[3])


def _looped_input(pixels: torch.Tensor, top: int, rows: int, columns: int) -> torch.Tensor:
    """:func:`_sliced_input` by the compiled loop, a share of the block rows a thread,
    with no padded copy: the loop reads zeros outside ``pixels`` itself."""
    channels = pixels.shape[2]
    blocks = pixels.new_empty(36, rows, columns, channels)
    source, target = pixels.detach().numpy(), blocks.numpy()
    by_rows(rows, lambda part: _input_loop(source, top + 4 * part.start, target[:, part]),
            blocks.numel())
    return blocks.view(36, rows * columns, channels)


def _looped_output(blocks: torch.Tensor, target: torch.Tensor,
                   bias: torch.Tensor | None) -> None:
    """:func:`_sliced_output` by the compiled loop, a share of the block rows a thread,
    straight into ``target`` (no copy of whole blocks to crop)."""
    _, _, rows, columns, channels = blocks.shape
    source = blocks.numpy().reshape(36, rows, columns, channels)
    pixels = target.detach().numpy()
    add = (np.zeros(channels, dtype=source.dtype) if bias is None
           else bias.detach().to(blocks.dtype).numpy())
    by_rows(rows, lambda part: _output_loop(source[:, part], pixels[4 * part.start:], add),
            blocks.numel())


class _Transforms(NamedTuple):
    input: Callable[[torch.Tensor, int, int], torch.Tensor]
    output: Callable[[torch.Tensor], torch.Tensor]


_sliced = _Transforms(_sliced_input, _sliced_output)
_looped = _Transforms(_looped_input, _looped_output)

# The transforms' constants as float32: a float32 value times them stays float32 in the
# loops (a Python number would widen it to float64), a float64 one float64.
_TWO, _FOUR, _FIVE, _EIGHT = (np.float32(n) for n in (2, 4, 5, 8))


@_compiled
def _input_loop(pixels, top, blocks):
    """blocks[6a + b, t, u] = (B^T d B)[a, b] for the 6x6 block d at (top + 4t, 4u - 1)
    of pixels (H, W, C), zero outside it; blocks (36, rows, columns, C). Each channel's
    loop is straight arithmetic over contiguous values, which the compiler vectorises: a
    value outside is a select against zero on a condition fixed for the loop, read from
    a clamped place (never a product with 0, which would let an inf through as NaN)."""
    height, width = pixels.shape[0], pixels.shape[1]
    columns, channels = blocks.shape[2], blocks.shape[3]
    zero = blocks.dtype.type(0)
    half = np.empty((6, 6, channels), dtype=blocks.dtype)
    inside = np.empty(6, dtype=np.bool_)
    clamped = np.empty(6, dtype=np.int64)
    for t in range(blocks.shape[1]):
        y = top + 4 * t
        for i in range(6):
            inside[i] = 0 <= y + i < height
            clamped[i] = min(max(y + i, 0), height - 1)
        r0, r1, r2 = clamped[0], clamped[1], clamped[2]
        r3, r4, r5 = clamped[3], clamped[4], clamped[5]
        for u in range(columns):
            for j in range(6):  # B^T down each column of the block
                column = 4 * u - 1 + j
                there = 0 <= column < width
                k = min(max(column, 0), width - 1)
                i0, i1, i2 = there and inside[0], there and inside[1], there and inside[2]
                i3, i4, i5 = there and inside[3], there and inside[4], there and inside[5]
                for c in range(channels):
                    d0 = pixels[r0, k, c] if i0 else zero
                    d1 = pixels[r1, k, c] if i1 else zero
                    d2 = pixels[r2, k, c] if i2 else zero
                    d3 = pixels[r3, k, c] if i3 else zero
                    d4 = pixels[r4, k, c] if i4 else zero
                    d5 = pixels[r5, k, c] if i5 else zero
                    p, q, r, s = d4 - _FOUR * d2, d3 - _FOUR * d1, d4 - d2, d3 - d1
                    half[0, j, c] = _FOUR * d0 - _FIVE * d2 + d4
                    half[1, j, c] = p + q
                    half[2, j, c] = p - q
                    half[3, j, c] = r + _TWO * s
                    half[4, j, c] = r - _TWO * s
                    half[5, j, c] = _FOUR * d1 - _FIVE * d3 + d5
            for a in range(6):  # and B along each row
                for c in range(channels):
                    d0, d1, d2 = half[a, 0, c], half[a, 1, c], half[a, 2, c]
                    d3, d4, d5 = half[a, 3, c], half[a, 4, c], half[a, 5, c]
                    p, q, r, s = d4 - _FOUR * d2, d3 - _FOUR * d1, d4 - d2, d3 - d1
                    blocks[6 * a, t, u, c] = _FOUR * d0 - _FIVE * d2 + d4
                    blocks[6 * a + 1, t, u, c] = p + q
                    blocks[6 * a + 2, t, u, c] = p - q
                    blocks[6 * a + 3, t, u, c] = r + _TWO * s
                    blocks[6 * a + 4, t, u, c] = r - _TWO * s
                    blocks[6 * a + 5, t, u, c] = _FOUR * d1 - _FIVE * d3 + d5


@_compiled
def _output_loop(blocks, pixels, bias):
    """pixels[4t + r, 4u + s] = (A^T m A)[r, s] + bias for the blocks
    m (36, rows, columns, K), where pixels (H, W, K) has that place. A block's rows past
    the last are written to the last, before the last's own (from the bottom up), which
    keeps the stores unconditional and the channels' loop vectorised."""
    height, width = pixels.shape[0], pixels.shape[1]
    columns, channels = blocks.shape[2], blocks.shape[3]
    half = np.empty((6, 4, channels), dtype=blocks.dtype)
    for t in range(blocks.shape[1]):
        y0, y1 = min(4 * t, height - 1), min(4 * t + 1, height - 1)
        y2, y3 = min(4 * t + 2, height - 1), min(4 * t + 3, height - 1)
        for u in range(columns):
            for a in range(6):  # A^T along each row of the block
                row = 6 * a
                for c in range(channels):
                    m0, m1 = blocks[row, t, u, c], blocks[row + 1, t, u, c]
                    m2, m3 = blocks[row + 2, t, u, c], blocks[row + 3, t, u, c]
                    m4, m5 = blocks[row + 4, t, u, c], blocks[row + 5, t, u, c]
                    p, q, r, s = m1 + m2, m1 - m2, m3 + m4, m3 - m4
                    half[a, 0, c] = m0 + p + r
                    half[a, 1, c] = q + _TWO * s
                    half[a, 2, c] = p + _FOUR * r
                    half[a, 3, c] = q + _EIGHT * s + m5
            for k in range(min(4, width - 4 * u)):  # and A down each column
                x = 4 * u + k
                for c in range(channels):
                    m0, m1, m2 = half[0, k, c], half[1, k, c], half[2, k, c]
                    m3, m4, m5 = half[3, k, c], half[4, k, c], half[5, k, c]
                    p, q, r, s = m1 + m2, m1 - m2, m3 + m4, m3 - m4
                    b = bias[c]
                    pixels[y3, x, c] = q + _EIGHT * s + m5 + b
                    pixels[y2, x, c] = p + _FOUR * r + b
                    pixels[y1, x, c] = q + _TWO * s + b
                    pixels[y0, x, c] = m0 + p + r + b
