"""painterly's own Winograd's convolutions, F(4x4, 3x3), against direct ones in float64
(forward, the input's gradient, gradcheck), band by band, and the extractor that uses
them (on CPUs with AVX-512) against the direct extractor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly import matching, nnpack, winograd
from painterly.layers import LAYERS
from painterly.objective import extract
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


def _relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.detach().double() - reference).norm() / reference.norm())


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
    generator = torch.Generator().manual_seed(c_in)
    x = torch.randn(1, c_in, h, w, generator=generator)
    weight = torch.randn(c_out, c_in, 3, 3, generator=generator) / (3 * c_in**0.5)
    bias = torch.randn(c_out, generator=generator)
    upstream = torch.randn(1, c_out, h, w, generator=generator)

    x64 = x.double().requires_grad_(True)
    reference = F.conv2d(x64, weight.double(), bias.double(), padding=1)
    (reference_grad,) = torch.autograd.grad(reference, x64, upstream.double())

    x32 = x.clone().requires_grad_(True)
    ours = _conv(weight)(x32, bias)
    (grad,) = torch.autograd.grad(ours, x32, upstream)
    assert ours.shape == reference.shape and grad.shape == x.shape
    assert ours.is_contiguous(memory_format=torch.channels_last)
    assert _relative(ours, reference.detach()) < 1e-5
    assert _relative(grad, reference_grad) < 1e-5


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
    direct, fast = load_extractor(), load_extractor(winograd=True)
    methods = fast.methods(torch.rand(1, 3, 192, 256), LAYERS.index("conv5_1"))
    assert methods[:3] == ["channels_last"] * 3  # conv1_1 .. conv2_1: direct, no NCHW
    assert set(methods[3:-1]) == {"winograd"}  # conv2_2 (96x128) .. conv4_4 (24x32)
    assert methods[-1] == "channels_last"  # conv5_1 at 12x16: too small
    layers = ["conv1_1", "conv3_1", "conv4_2", "conv5_1"]
    image = torch.rand(1, 3, 192, 256, generator=torch.Generator().manual_seed(2))
    grads, features = [], []
    for extractor in (direct, fast):
        x = image.clone().requires_grad_(True)
        out = extract(extractor, x, layers, None)
        sum(o.pow(2).mean() for o in out.values()).backward()
        grads.append(x.grad)
        features.append(out)
    for layer in layers:
        assert _relative(features[1][layer].detach(), features[0][layer].detach().double()) < 1e-4
        assert features[1][layer].is_contiguous(memory_format=torch.channels_last)
    assert _relative(grads[1], grads[0].double()) < 1e-3


def test_bf16_autocast_and_gpus_use_the_direct_convolutions():
    fast = load_extractor(winograd=True)
    image = torch.rand(1, 3, 64, 64)
    assert fast._use_winograd(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fast._use_winograd(image)
    assert not load_extractor()._use_winograd(image)
