"""Winograd's convolutions (NNPACK) against float64 direct ones, forward and backward,
and the extractor that uses them against the direct extractor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly import winograd
from painterly.layers import LAYERS
from painterly.objective import extract
from painterly.vgg import load_extractor

pytestmark = pytest.mark.skipif(not winograd.available(), reason="this torch has no NNPACK")


def _relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.detach().double() - reference).norm() / reference.norm())


@pytest.mark.parametrize(("c_in", "c_out", "h", "w"), [(3, 8, 9, 7), (16, 32, 24, 20),
                                                      (64, 16, 5, 33)])
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
    ours = winograd.conv3x3(x32, weight, winograd.gradient_kernel(weight), bias)
    (grad,) = torch.autograd.grad(ours, x32, upstream)
    assert ours.shape == reference.shape and grad.shape == x.shape
    assert _relative(ours, reference.detach()) < 1e-5
    assert _relative(grad, reference_grad) < 1e-5


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
    assert not winograd.worthwhile(3, 64, 10**7)  # conv1_1: never
    assert not winograd.worthwhile(512, 512, 16 * 21)  # conv5_1 at 256 px: too small
    assert winograd.worthwhile(512, 512, 48 * 64)  # conv4_x at 512 px
    assert winograd.worthwhile(256, 256, 96 * 128)


def test_the_winograd_extractor_matches_the_direct_one():
    direct, fast = load_extractor(), load_extractor(winograd=True)
    assert fast is not direct and fast is load_extractor(winograd=True)
    layers = ["conv1_1", "conv3_1", "conv4_2", "conv5_1"]
    generator = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 384, 512, generator=generator)  # big enough to use NNPACK
    grads, features = [], []
    for extractor in (direct, fast):
        x = image.clone().requires_grad_(True)
        out = extract(extractor, x, layers, None)
        sum(o.pow(2).mean() for o in out.values()).backward()
        grads.append(x.grad)
        features.append(out)
    for layer in layers:
        assert _relative(features[1][layer].detach(), features[0][layer].detach().double()) < 1e-4
    assert _relative(grads[1], grads[0].double()) < 5e-3


def test_a_direct_layer_before_a_winograd_one_keeps_its_layout():
    fast = load_extractor(winograd=True)
    methods = fast._methods(torch.rand(1, 3, 384, 512), LAYERS.index("conv5_1"))
    assert methods[:4] == ["nchw", "winograd", "winograd", "winograd"]  # conv1_1 .. conv2_2
    assert methods[-1] == "channels_last"  # conv5_1 at 24x32: too small to gain
    out = fast(torch.rand(1, 3, 384, 512), ["conv1_1", "conv5_1"])
    assert out["conv1_1"].is_contiguous()
    assert out["conv5_1"].is_contiguous(memory_format=torch.channels_last)
    small = fast._methods(torch.rand(1, 3, 64, 64), LAYERS.index("conv5_1"))
    assert set(small) == {"channels_last"}
    assert set(load_extractor()._methods(torch.rand(1, 3, 384, 512), 3)) == {"channels_last"}


def test_bf16_autocast_and_gpus_use_the_direct_convolutions():
    fast = load_extractor(winograd=True)
    image = torch.rand(1, 3, 64, 64)
    assert fast._use_winograd(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fast._use_winograd(image)
    assert not load_extractor()._use_winograd(image)
