"""ReLU's and max pool's decisions as bits (painterly/bitmasks.py), against PyTorch's own
pool and autograd's gradients through ReLU and the pool, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly import bitmasks

pytestmark = pytest.mark.skipif(not bitmasks.available(), reason="numba is not installed")

DTYPES = pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])


def _responses(channels: int, height: int, width: int, seed: int,
               dtype: torch.dtype) -> torch.Tensor:
    """A convolution's outputs before ReLU in ``dtype``, channels-last, with ties in
    windows, a NaN and -0."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(1, channels, height, width, generator=generator)
    values = (values * 4).round() / 4  # coarse: many equal values, ties within windows
    values[0, 0, 0, :2] = float("nan")
    values[0, 1, 0, 0] = -0.0
    return values.to(dtype).contiguous(memory_format=torch.channels_last)


SHAPES = pytest.mark.parametrize(("channels", "height", "width"),
                                 [(8, 6, 10), (64, 37, 51), (128, 20, 33)])


@DTYPES
@SHAPES
def test_the_pool_and_its_gradient_are_pytorchs(channels, height, width, dtype):
    before = _responses(channels, height, width, 0, dtype).requires_grad_(True)
    after = F.relu(before)
    pooled = F.max_pool2d(after, 2)
    slope = torch.randn(pooled.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    (expected,) = torch.autograd.grad(pooled, before, slope)
    mine, bits = bitmasks.pool(after.detach().contiguous(memory_format=torch.channels_last))
    assert mine.shape == pooled.shape and mine.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(mine, pooled.detach(), rtol=0, atol=0, equal_nan=True)
    gradient = bitmasks.unpool(slope, bits, dtype)
    assert gradient.dtype == dtype and gradient.shape == before.shape
    assert torch.equal(gradient.float(), expected.float())


@DTYPES
@SHAPES
def test_the_relu_gradient_is_autograds(channels, height, width, dtype):
    before = _responses(channels, height, width, 2, dtype).requires_grad_(True)
    after = F.relu(before)
    slope = torch.randn(after.shape, generator=torch.Generator().manual_seed(3)).to(dtype)
    (expected,) = torch.autograd.grad(after, before, slope)
    bits = bitmasks.relu_mask(after.detach())
    assert bits.shape == (height, width, channels // 8)
    assert torch.equal(bitmasks.masked(slope, bits, dtype).float(), expected.float())


@DTYPES
def test_a_mask_is_a_bit_a_response(dtype):
    after = F.relu(_responses(64, 16, 16, 4, dtype))
    assert bitmasks.relu_mask(after).nbytes * 8 == after.numel()
    assert bitmasks.pool(after)[1].nbytes * 8 == after.numel()
    # Hand-checked: the bits of one position's first 8 channels.
    values = torch.zeros(1, 8, 1, 1, dtype=dtype)
    values[0, [0, 3, 7], 0, 0] = torch.tensor([1.0, 2.0, 0.5], dtype=dtype)
    assert bitmasks.relu_mask(values)[0, 0, 0] == 0b10001001
