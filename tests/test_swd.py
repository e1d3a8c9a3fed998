"""The swd style loss by histogram matching (painterly/swd.py): against a float64
reference of its own definition, against the sorted loss it stands for, and by hand; each
test both ways the loss is computed on a CPU (painterly.matching's compiled loops, and the
tensor operations a GPU runs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly import matching, swd
from painterly.sliced import quantiles, sketch
from painterly.swd import (
    MARGIN,
    _add_ones,  # the GPU's way of counting, tried on the CPU
    bins_for,
    histogram,
    matched_part,
    matching_table,
    swd_loss,
)


@pytest.fixture(params=["compiled", "tensors"])
def way(request, monkeypatch) -> str:
    """Each swd test twice: by the compiled loops and by tensor operations."""
    if request.param == "tensors":
        monkeypatch.setattr(matching, "numba", None)
    elif not matching.available():
        pytest.skip("numba is not installed (painterly[fast])")
    return request.param


def _features(seed: int, shape=(1, 4, 5, 6)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _directions(seed: int, channels: int = 4, count: int = 6) -> np.ndarray:
    projections = np.random.default_rng(seed).normal(size=(channels, count))
    return projections / np.linalg.norm(projections, axis=0)


def _rows(features: torch.Tensor) -> np.ndarray:
    """(N, C): one row per position, in painterly.losses.positions' order."""
    return features.detach().numpy().reshape(features.shape[1], -1).T


def _np_swd(features: torch.Tensor, projections: np.ndarray, painting: np.ndarray, bins: int):
    """numpy float64, the module's definition written out: bins over the painting's
    range widened by MARGIN, the picture's histogram, the painting's quantiles at the
    ranks of each bin's first and last value, each value's target interpolated between
    them. Returns the loss and its gradient (G fixed) with respect to ``features``."""
    rows = _rows(features)
    values = (rows @ projections).T
    first, last = painting[:, :1], painting[:, -1:]
    width = (last - first) * (1 + 2 * MARGIN) / bins
    place = np.clip((values - (first - MARGIN * (last - first))) / width, 0, bins - 2**-8)
    index = np.floor(place).astype(int)
    fraction = place - index
    count = values.shape[1]
    size = painting.shape[1]

    def quantile(levels):  # the sketch's values sit at levels (j + 1/2) / size
        return np.stack([np.interp(np.clip(level * size - 0.5, 0, size - 1), np.arange(size),
                                   row) for level, row in zip(levels, painting)])

    counts = np.stack([np.bincount(row, minlength=bins) for row in index])
    before = np.cumsum(counts, 1) - counts
    first = quantile((before + 0.5) / count)  # the bin's first value's rank
    last = quantile((before + counts - 0.5) / count)  # and its last's
    target = (np.take_along_axis(first, index, 1) * (1 - fraction)
              + np.take_along_axis(last, index, 1) * fraction)
    norm = (painting**2).mean(1).sum()
    distances = values - target
    loss = (distances**2).sum() / (count * norm)
    gradient = 2 * distances.T @ projections.T / (count * norm)  # (N, C)
    return loss, gradient.T.reshape(features.shape)


def _painting(seed: int, projections: np.ndarray, count: int = 33) -> np.ndarray:
    rows = np.random.default_rng(seed).gamma(2.0, size=(count, projections.shape[0]))
    return np.sort((rows @ projections).T, axis=1)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("chunk", [None, 60])  # 60 values: two directions of 30 at a time
def test_swd_loss_and_gradient_match_a_float64_reference(layout, chunk, monkeypatch, way):
    if chunk is not None:
        monkeypatch.setattr(swd, "_CHUNK", chunk)
    projections = _directions(30)
    painting = sketch(torch.tensor(_painting(31, projections)))
    for bins, seed in ((256, 29), (64, 32)):
        x = _features(seed).contiguous(memory_format=layout).requires_grad_(True)
        loss = swd_loss(x, torch.tensor(projections), painting, bins)
        (grad,) = torch.autograd.grad(loss, x)
        expected, gradient = _np_swd(x, projections, painting.numpy(), bins)
        assert float(loss.detach()) == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(grad.numpy(), gradient, rtol=1e-8, atol=1e-12)
        # In the features' own layout: the backward pass's later adds stay unstrided.
        assert grad.is_contiguous(memory_format=layout)


def test_bfloat16_features_are_projected_in_bfloat16_within_its_rounding(way):
    """Features from the network under autocast (bf16): the loss and gradient of their
    bf16 projections within bf16's rounding of the same values' fp32 ones. A rounded
    value is off by up to 2^-9 of itself; here the distances to the targets are ~15%
    of the values (loss 0.02), so ~1.3% of a distance."""
    torch.manual_seed(35)
    x = torch.distributions.Gamma(2.0, 1.0).sample((1, 16, 48, 64)).bfloat16()
    # Directions bf16 holds exactly: the painting's sketch and the picture see the same.
    projections = torch.tensor(_directions(36, 16, 16)).bfloat16().float()
    painting = sketch(projections.T @ torch.rand(16, 5000) * 4)
    results = []
    for features in (x.float(), x):
        features = features.requires_grad_(True)
        loss = swd_loss(features, projections, painting, bins_for(5000))
        (gradient,) = torch.autograd.grad(loss, features)
        assert loss.dtype == torch.float32 and gradient.dtype == features.dtype
        results.append((float(loss.detach()), gradient.float()))
    (exact, expected), (loss, gradient) = results
    assert loss == pytest.approx(exact, rel=5e-3)
    assert float((gradient - expected).norm() / expected.norm()) < 0.02


def _sorted_loss(features: torch.Tensor, projections: torch.Tensor, painting: torch.Tensor):
    """The sorted swd: each direction's sorted values against the painting's values at
    the same quantiles (what histogram matching stands for)."""
    mine = torch.sort(projections.T @ features.reshape(features.shape[1], -1), dim=1).values
    theirs = quantiles(painting, mine.shape[1])
    return (mine - theirs).pow(2).mean(1).sum() / painting.pow(2).mean(1).sum()


def test_swd_loss_is_close_to_the_sorted_loss(way):
    """4096 positions of 8 channels against another distribution: the loss within 0.5%,
    the gradient within 6% of the sorted loss's. They differ by the bins and by the
    ranks: sorting gives the i-th value the level (i + 1/2) / N, the histogram a level
    spread over its bin's, which moves a value's target by up to half a rank (as on
    real features: 0.3% at conv1_1's 262144 positions, 5% at conv5_1's 1024)."""
    torch.manual_seed(33)
    x = torch.distributions.Gamma(2.0, 1.0).sample((1, 8, 64, 64)).double().requires_grad_(True)
    theirs = torch.distributions.Gamma(1.5, 0.8).sample((5000, 8)).double()
    projections = torch.tensor(_directions(34, 8, 8))
    painting = torch.sort(projections.T @ theirs.T, dim=1).values
    loss = swd_loss(x, projections, sketch(painting), bins_for(5000))
    (gradient,) = torch.autograd.grad(loss, x)
    exact = _sorted_loss(x, projections, painting)
    (expected,) = torch.autograd.grad(exact, x)
    assert float(loss.detach()) == pytest.approx(float(exact.detach()), rel=5e-3)
    assert float((gradient - expected).norm() / expected.norm()) < 0.06


def test_swd_loss_by_hand_for_a_shifted_copy(way):
    """In one dimension, a picture whose values are the painting's shifted by d (within
    the bins' margin): each value's target is itself plus d, so the loss is
    d^2 / mean(painting^2)."""
    values = torch.linspace(0, 1, 10001, dtype=torch.float64)
    one = torch.ones(1, 1, dtype=torch.float64)
    painting = sketch((values + 0.2).view(1, -1))
    loss = swd_loss(values.view(1, 1, 1, -1), one, painting, bins_for(10001))
    assert float(loss) == pytest.approx(0.04 / float((values + 0.2).pow(2).mean()), rel=1e-3)
    at_painting = swd_loss((values + 0.2).view(1, 1, 1, -1), one, painting, bins_for(10001))
    assert float(at_painting) < 1e-6


def test_values_beyond_the_bins_are_sent_back_into_the_painting(way):
    """Values far above the painting's range all sit at the end of the last bin: each
    is sent to the same value within the painting's range, however far they are."""
    painting = sketch(torch.linspace(0, 1, 1000, dtype=torch.float64).view(1, -1))
    one = torch.ones(1, 1, dtype=torch.float64)
    norm = float(painting.pow(2).mean())
    targets = []
    for far in (10.0, 1e4):
        loss = float(swd_loss(torch.full((1, 1, 4, 4), far, dtype=torch.float64), one,
                              painting, 256))
        targets.append(far - (loss * norm) ** 0.5)
    assert 0.5 < targets[0] <= 1.0
    assert targets[1] == pytest.approx(targets[0], abs=1e-6)


def test_the_parts_of_a_tiled_picture_add_up_to_its_loss_and_gradient(way):
    """Histograms of three sets of rows add up to the whole's, and the parts' losses
    with the whole's table add up to the loss, their gradients to its gradient."""
    projections = torch.tensor(_directions(35))
    painting = sketch(torch.tensor(_painting(36, projections.numpy(), 200)))
    x = _features(37, shape=(1, 4, 9, 10)).requires_grad_(True)
    loss = swd_loss(x, projections, painting, 256)
    (expected,) = torch.autograd.grad(loss, x)
    rows = x.permute(0, 2, 3, 1).reshape(-1, 4)
    pieces = (rows[:20], rows[20:55], rows[55:])
    counts = sum(histogram(piece, projections, painting, 256) for piece in pieces)
    torch.testing.assert_close(counts, histogram(rows, projections, painting, 256))
    table = matching_table(counts, painting)
    total = sum(matched_part(piece, projections, painting, table, 90) for piece in pieces)
    (gradient,) = torch.autograd.grad(total, x)
    assert float(total.detach()) == pytest.approx(float(loss.detach()), rel=1e-12)
    torch.testing.assert_close(gradient, expected, rtol=1e-10, atol=1e-14)


def test_weights_select_a_region(way):
    """Positions weighing at least a half take part, the others not at all."""
    x = _features(26, shape=(1, 4, 6, 6))
    weights = torch.zeros(1, 1, 6, 6, dtype=torch.float64)
    weights[..., :, :4] = 0.6
    projections = torch.tensor(_directions(28))
    painting = sketch(torch.tensor(_painting(27, projections.numpy())))
    torch.testing.assert_close(swd_loss(x, projections, painting, 64, weights),
                               swd_loss(x[..., :, :4].contiguous(), projections, painting, 64))
    assert float(swd_loss(x, projections, painting, 64, weights * 0.5)) == 0.0


def test_bins_follow_the_paintings_positions():
    assert bins_for(1024) == 256 and bins_for(4096) == 1024 and bins_for(10**7) == 4096
    assert bins_for(1) == 256


def test_counts_without_bincount_are_bincounts():
    """The way a GPU counts (no read back of the indices' range) counts as bincount."""
    flat = torch.randint(0, 300, (5000,), dtype=torch.int32,
                         generator=torch.Generator().manual_seed(4))
    assert torch.equal(_add_ones(flat, 320), torch.bincount(flat, minlength=320))
