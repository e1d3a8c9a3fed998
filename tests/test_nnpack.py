"""NNPACK's Winograd convolutions against float64 direct ones, forward and backward, and
the extractor that uses them (on CPUs without AVX-512) against the direct extractor."""

from __future__ import annotations

import pytest
import torch
from convolutions import errors, extractors_compared

from painterly import nnpack, winograd
from painterly.layers import LAYERS
from painterly.vgg import load_extractor

pytestmark = pytest.mark.skipif(not nnpack.available(), reason="this torch has no NNPACK")


@pytest.fixture
def nnpack_preferred(monkeypatch):
    """The extractor's choice on a CPU without AVX-512, on any CPU."""
    monkeypatch.setattr(nnpack, "preferred", lambda: True)


@pytest.mark.parametrize(("c_in", "c_out", "h", "w"), [(3, 8, 9, 7), (16, 32, 24, 20),
                                                      (64, 16, 5, 33)])
def test_forward_and_input_gradient_match_float64(c_in, c_out, h, w):
    def convolve(x, weight, bias):
        return nnpack.conv3x3(x, weight, winograd.gradient_kernel(weight), bias)

    output, gradient = errors(convolve, c_in, c_out, h, w)
    assert output < 1e-5 and gradient < 1e-5


def test_worthwhile_only_where_it_was_measured_faster():
    assert not nnpack.worthwhile(3, 64, 10**7)  # conv1_1: never
    assert not nnpack.worthwhile(512, 512, 16 * 21)  # conv5_1 at 256 px: too small
    assert nnpack.worthwhile(512, 512, 48 * 64)  # conv4_x at 512 px
    assert nnpack.worthwhile(256, 256, 96 * 128)


def test_the_nnpack_extractor_matches_the_direct_one(nnpack_preferred):
    direct, fast = load_extractor(), load_extractor(winograd=True)
    assert fast is not direct and fast is load_extractor(winograd=True)
    image = torch.rand(1, 3, 384, 512, generator=torch.Generator().manual_seed(2))
    _, responses, gradient = extractors_compared(image, ["conv1_1", "conv3_1", "conv4_2",
                                                         "conv5_1"])
    assert max(responses.values()) < 1e-4 and gradient < 5e-3


def test_a_direct_layer_before_an_nnpack_one_keeps_its_layout(nnpack_preferred):
    fast = load_extractor(winograd=True)
    methods = fast.methods(torch.rand(1, 3, 384, 512), LAYERS.index("conv5_1"))
    assert methods[:4] == ["nchw", "nnpack", "nnpack", "nnpack"]  # conv1_1 .. conv2_2
    assert methods[-1] == "channels_last"  # conv5_1 at 24x32: too small to gain
    out = fast(torch.rand(1, 3, 384, 512), ["conv1_1", "conv5_1"])
    assert out["conv1_1"].is_contiguous()
    assert out["conv5_1"].is_contiguous(memory_format=torch.channels_last)
    small = fast.methods(torch.rand(1, 3, 64, 64), LAYERS.index("conv5_1"))
    assert set(small) == {"channels_last"}
    assert set(load_extractor().methods(torch.rand(1, 3, 384, 512), 3)) == {"channels_last"}
