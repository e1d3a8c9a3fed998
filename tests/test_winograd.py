"""painterly's own Winograd's convolutions, F(4x4, 3x3), against direct ones in float64
(forward, the input's gradient, gradcheck), band by band, and the extractor that uses
them (on CPUs with AVX-512) against the direct extractor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from convolutions import errors, extractors_compared

from painterly import matching, nnpack, winograd
from painterly.layers import LAYERS
from painterly.vgg import load_extractor


@pytest.fixture
def ours(monkeypatch):
    """The extractor's choice on a CPU with AVX-512, on any CPU."""
    monkeypatch.setattr(nnpack, "preferred", lambda: False)


@pytest.fixture(params=["compiled", "sliced"])
def transforms(request, monkeypatch):
    """Each test both ways: the transforms as numba's loops and as PyTorch's operations."""
    if request.param == "sliced":
        monkeypatch.setattr(winograd, "_compiles", lambda x: False)
    elif not matching.available():
        pytest.skip("numba is not installed")


def _conv(weight: torch.Tensor):
    kernels = (winograd.transformed(weight),
               winograd.transformed(winograd.gradient_kernel(weight)))
    return lambda x, bias=None: winograd.conv3x3(x, *kernels, bias)


# Sides that are and are not multiples of the 4-pixel blocks, a 1x1 image, one channel.
@pytest.mark.parametrize(("c_in", "c_out", "h", "w"), [(3, 8, 9, 7), (16, 32, 24, 20),
                                                      (64, 16, 5, 33), (1, 1, 1, 1),
                                                      (4, 6, 2, 3)])
@pytest.mark.usefixtures("transforms")
def test_forward_and_input_gradient_match_float64(c_in, c_out, h, w):
    def convolve(x, weight, bias):
        out = _conv(weight)(x, bias)
        assert out.is_contiguous(memory_format=torch.channels_last)
        return out

    output, gradient = errors(convolve, c_in, c_out, h, w)
    assert output < 1e-5 and gradient < 1e-5


@pytest.mark.usefixtures("transforms")
def test_float64_is_exact_to_rounding_and_passes_gradcheck():
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(4, 3, 3, 3, generator=generator, dtype=torch.float64)
    x = torch.randn(1, 3, 6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    conv = _conv(weight)
    assert torch.allclose(conv(x), F.conv2d(x, weight, padding=1), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(conv, (x,))


@pytest.mark.usefixtures("transforms")
def test_a_batch_is_each_of_its_images_convolved():
    generator = torch.Generator().manual_seed(5)
    weight = torch.randn(4, 3, 3, 3, generator=generator, dtype=torch.float64)
    x = torch.randn(2, 3, 7, 6, generator=generator, dtype=torch.float64)
    assert torch.allclose(_conv(weight)(x), F.conv2d(x, weight, padding=1), rtol=0, atol=1e-12)


@pytest.mark.usefixtures("transforms")
def test_bands_give_the_same_convolution(monkeypatch):
    generator = torch.Generator().manual_seed(4)
    weight = torch.randn(8, 16, 3, 3, generator=generator, dtype=torch.float64)
    x = torch.randn(1, 16, 37, 21, generator=generator, dtype=torch.float64)
    whole = _conv(weight)(x)
    monkeypatch.setattr(winograd, "BAND_VALUES", 36 * 6 * 16 * 2)  # two block rows a band
    banded = _conv(weight)(x)
    assert torch.allclose(banded, whole, rtol=0, atol=1e-12)
    assert torch.allclose(banded, F.conv2d(x, weight, padding=1), rtol=0, atol=1e-12)


@pytest.mark.usefixtures("transforms")
def test_block_rows_shared_between_threads_give_the_same_convolution():
    """Two threads' shares of the block rows (painterly.sliced.by_rows), the picture
    cutting the last block row and column (45 x 30 px), a bias: each share writes its own
    rows of the result, the cut blocks only the pixels the picture has."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator = torch.Generator().manual_seed(6)
        weight = torch.randn(32, 32, 3, 3, generator=generator, dtype=torch.float64)
        bias = torch.randn(32, generator=generator, dtype=torch.float64)
        x = torch.randn(1, 32, 45, 30, generator=generator, dtype=torch.float64)
        expected = F.conv2d(x, weight, bias, padding=1)
        assert torch.allclose(_conv(weight)(x, bias), expected, rtol=0, atol=1e-11)
    finally:
        torch.set_num_threads(threads)


def test_the_gradient_kernel_is_the_adjoint():
    # <conv(x), y> == <x, conv_T(y)> for the kernel and its gradient kernel, in float64.
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(5, 4, 3, 3, generator=generator, dtype=torch.float64)
    x = torch.randn(1, 4, 6, 7, generator=generator, dtype=torch.float64)
    y = torch.randn(1, 5, 6, 7, generator=generator, dtype=torch.float64)
    forward = F.conv2d(x, weight, padding=1)
    adjoint = F.conv2d(y, winograd.gradient_kernel(weight), padding=1)
    assert float((forward * y).sum()) == pytest.approx(float((x * adjoint).sum()), rel=1e-12)


def test_worthwhile_only_where_it_was_measured_faster():
    assert not winograd.worthwhile(64, 64, 10**7)  # conv1_2: the transforms cost more
    assert not winograd.worthwhile(64, 128, 10**7)  # conv2_1
    assert winograd.worthwhile(128, 128, 192 * 256)  # conv2_2 at 512 px
    assert not winograd.worthwhile(128, 256, 24 * 32)  # conv3_1 at 128 px: a tie
    assert winograd.worthwhile(256, 256, 24 * 32)  # conv3_x at 128 px
    assert winograd.worthwhile(512, 512, 24 * 32)  # conv5_1 at 512 px
    assert not winograd.worthwhile(512, 512, 12 * 16)  # conv4_x at 128 px: a tie


def test_the_extractor_matches_the_direct_one(ours):
    fast = load_extractor(winograd=True)
    methods = fast.methods(torch.rand(1, 3, 192, 256), LAYERS.index("conv5_1"))
    assert methods[:3] == ["channels_last"] * 3  # conv1_1 .. conv2_1: direct, no NCHW
    assert set(methods[3:-1]) == {"winograd"}  # conv2_2 (96x128) .. conv4_4 (24x32)
    assert methods[-1] == "channels_last"  # conv5_1 at 12x16: too small
    image = torch.rand(1, 3, 192, 256, generator=torch.Generator().manual_seed(2))
    features, responses, gradient = extractors_compared(image, ["conv1_1", "conv3_1",
                                                                "conv4_2", "conv5_1"])
    assert max(responses.values()) < 1e-4 and gradient < 1e-3
    assert all(value.is_contiguous(memory_format=torch.channels_last)
               for value in features.values())


def test_bf16_autocast_and_gpus_use_the_direct_convolutions():
    fast = load_extractor(winograd=True)
    image = torch.rand(1, 3, 64, 64)
    assert fast._use_winograd(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fast._use_winograd(image)
    assert not load_extractor()._use_winograd(image)
