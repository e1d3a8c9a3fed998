"""Each loss against a float64 numpy reference, and its gradient with gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.losses import content_loss, gram_matrix, style_loss, tv_loss


def _features(seed: int, shape=(1, 4, 5, 6)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _np_gram(features: np.ndarray) -> np.ndarray:
    _, c, h, w = features.shape
    flat = features.reshape(c, h * w)
    return np.einsum("ik,jk->ij", flat, flat) / (h * w)


def test_gram_matches_numpy_reference():
    features = _features(0)
    expected = _np_gram(features.numpy())
    np.testing.assert_allclose(gram_matrix(features).numpy(), expected, rtol=1e-12)


def test_gram_hand_computed():
    # Two channels over two positions: F = [[1, 2], [3, 4]] -> F F^T / 2.
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64).view(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]], dtype=torch.float64) / 2
    assert torch.equal(gram_matrix(features), expected)


def test_gram_does_not_grow_with_size():
    # The same pattern tiled 4 times has the same position-averaged Gram matrix.
    features = _features(1)
    tiled = features.repeat(1, 1, 2, 2)
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(features))


def test_content_loss_matches_numpy_reference():
    x, p = _features(2), _features(3)
    expected = ((x.numpy() - p.numpy()) ** 2).sum() / (p.numpy() ** 2).sum()
    assert float(content_loss(x, p)) == pytest.approx(expected, rel=1e-12)


def test_style_loss_matches_numpy_reference():
    x, a = _features(4), _features(5, shape=(1, 4, 7, 3))  # painting of another size
    g, target = _np_gram(x.numpy()), _np_gram(a.numpy())
    expected = ((g - target) ** 2).sum() / (target**2).sum()
    assert float(style_loss(x, torch.from_numpy(target))) == pytest.approx(expected, rel=1e-12)


def test_tv_loss_matches_numpy_reference():
    image = _features(6, shape=(1, 3, 5, 7)).numpy()
    dx = np.diff(image, axis=3)
    dy = np.diff(image, axis=2)
    expected = (dx**2).mean() + (dy**2).mean()
    assert float(tv_loss(torch.from_numpy(image))) == pytest.approx(expected, rel=1e-12)


def test_losses_are_zero_at_target_and_one_for_black():
    x = _features(7)
    assert float(content_loss(x, x)) == 0.0
    assert float(style_loss(x, gram_matrix(x))) == 0.0
    assert float(content_loss(torch.zeros_like(x), x)) == pytest.approx(1.0)
    assert float(style_loss(torch.zeros_like(x), gram_matrix(x))) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "loss",
    [
        lambda x: content_loss(x, _features(8)),
        lambda x: style_loss(x, gram_matrix(_features(9))),
        tv_loss,
    ],
    ids=["content", "style", "tv"],
)
def test_gradients_pass_gradcheck(loss):
    x = _features(10, shape=(1, 3, 4, 5)) if loss is tv_loss else _features(10)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (x,), eps=1e-6, atol=1e-7)
