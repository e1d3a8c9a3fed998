"""3x3 convolutions by Winograd's minimal filtering in NNPACK, on CPUs without AVX-512,
with their input gradient: about 1.6x faster than oneDNN's direct fp32 convolutions for
VGG19's forward and backward on AVX2 CPUs (``benchmarks/README.md``), at a relative error
near 1e-5 per layer. NNPACK's kernels are AVX2's: on a CPU with AVX-512, where oneDNN's
direct ones are twice as wide, they were no faster than those (a 2-core Xeon, session 35),
and :mod:`painterly.winograd`'s method serves instead.

PyTorch ships NNPACK but uses it only for batches of 16 or more and has no backward for
it. An image's gradient through a 3x3, stride-1, padding-1 convolution is itself such a
convolution of the output's gradient, with the kernel transposed (in and out channels
swapped) and rotated by 180 degrees, so both directions run through NNPACK. The kernels'
gradients are never needed: the network's weights are frozen.

NNPACK transforms the kernel at every call, a cost that does not shrink with the image:
on small images or few channels the direct convolution wins. ``worthwhile`` says where
Winograd's is at least ~1.2x faster, by thresholds measured on a 2-core AMD EPYC with
AVX2 (benchmarks/README.md).
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def available() -> bool:
    """Whether this torch build has NNPACK and this CPU runs it (the call initialises it:
    NNPACK fails every convolution until it has been made)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def preferred() -> bool:
    """Whether Winograd's convolutions here are NNPACK's: it is available and the CPU has
    no AVX-512 (PyTorch's own reading of the CPU's capability)."""
    return available() and torch.backends.cpu.get_cpu_capability() != "AVX512"


#: (in, out) channels -> the fewest output positions (H * W) where NNPACK beats oneDNN's
#: direct convolution by ~1.2x or more; layers not listed (conv1_1's 3 channels) never do.
_MIN_POSITIONS = {(64, 64): 288 * 384, (64, 128): 64 * 85, (128, 128): 48 * 64,
                  (128, 256): 48 * 64, (256, 256): 32 * 42, (256, 512): 32 * 42,
                  (512, 512): 32 * 42}


def worthwhile(in_channels: int, out_channels: int, positions: int) -> bool:
    """Whether a 3x3 convolution of these channels over ``positions`` output pixels is
    faster by Winograd's method than by the direct one."""
    least = _MIN_POSITIONS.get((in_channels, out_channels))
    return least is not None and positions >= least


class _Conv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, backward_weight: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
        ctx.backward_weight = backward_weight
        return torch._nnpack_spatial_convolution(x.contiguous(), weight, bias, [1, 1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        grad_x = torch._nnpack_spatial_convolution(grad.contiguous(), ctx.backward_weight, None,
                                                   [1, 1])
        return grad_x, None, None, None


def conv3x3(x: torch.Tensor, weight: torch.Tensor, backward_weight: torch.Tensor,
            bias: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for fp32 CPU tensors, x (N, C, H, W) and
    weight (C', C, 3, 3); differentiable in ``x`` only. ``backward_weight`` is
    ``winograd.gradient_kernel(weight)``, made once by the caller. Call :func:`available` first."""
    return _Conv3x3.apply(x, weight, backward_weight, bias)
