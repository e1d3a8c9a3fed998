"""Each loss against a float64 numpy reference, and its gradient with gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.losses import (
    content_loss,
    gram_matrix,
    range_loss,
    relative_squared_error,
    squared_norm,
    style_loss,
    tv_loss,
)


def _features(seed: int, shape=(1, 4, 5, 6)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _np_gram(features: np.ndarray) -> np.ndarray:
    _, c, h, w = features.shape
    flat = features.reshape(c, h * w)
    return np.einsum("ik,jk->ij", flat, flat) / (h * w)


# 30 positions, summed as two halves; 25, in one piece.
@pytest.mark.parametrize("shape", [(1, 4, 5, 6), (1, 4, 5, 5)], ids=["even", "odd"])
def test_gram_matches_numpy_reference(shape):
    features = _features(0, shape)
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


@pytest.mark.parametrize("shape", [(1, 4, 5, 6), (1, 4, 5, 5)], ids=["even", "odd"])
def test_gram_backward_passes_gradcheck_on_its_own(shape):
    # The hand-written symmetric backward, on a non-symmetric upstream gradient.
    weights = _features(11, shape=(4, 4))[0, 0]
    x = _features(12, shape).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f: (gram_matrix(f) * weights).sum(), (x,), eps=1e-6, atol=1e-7
    )


def test_bfloat16_gram_is_fp32_within_rounding():
    # VGG-like responses: non-negative, many positions. Accumulation must be fp32:
    # a bfloat16 running sum over 4096 positions would be off by far more than 2^-8.
    features = _features(13, shape=(1, 8, 64, 64)).float()
    exact = gram_matrix(features.double())
    low = gram_matrix(features.bfloat16())
    assert low.dtype == torch.float32
    assert float(((low - exact).abs() / exact.abs()).max()) <= 2.0**-8


def test_bfloat16_content_loss_is_summed_in_fp32():
    # A bfloat16 result would carry 8 significant bits: off by ~2^-9, not 1e-5.
    target = _features(14).bfloat16()
    value = (target.double() * 1.02).bfloat16()
    expected = ((value.double() - target.double()) ** 2).sum() / (target.double() ** 2).sum()
    loss = content_loss(value, target)
    assert loss.dtype == torch.float32
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_relative_squared_error_passes_gradcheck_in_both_arguments():
    value, target = _features(15).requires_grad_(True), _features(16).requires_grad_(True)
    assert torch.autograd.gradcheck(relative_squared_error, (value, target), eps=1e-6,
                                    atol=1e-7)


def test_a_given_norm_replaces_the_targets():
    value, target = _features(17), _features(18)
    norm = squared_norm(target) * 4
    assert float(content_loss(value, target, norm)) == pytest.approx(
        float(content_loss(value, target)) / 4, rel=1e-12)


def test_bfloat16_content_gradient_is_the_exact_one_within_rounding():
    # The difference is kept in bfloat16: exact near the target (within a factor of 2),
    # rounded once elsewhere, then the gradient rounded once more.
    generator = torch.Generator().manual_seed(19)
    target = (torch.rand(1, 8, 16, 16, generator=generator) * 4).bfloat16()
    scale = 0.9 + 2 * torch.rand(1, 8, 16, 16, generator=generator)  # near and far
    value = (target.float() * scale).bfloat16().requires_grad_(True)
    content_loss(value, target).backward()
    exact_value = value.detach().double().requires_grad_(True)
    content_loss(exact_value, target.double()).backward()
    assert value.grad.dtype == torch.bfloat16
    error = (value.grad.double() - exact_value.grad).abs() / exact_value.grad.abs().max()
    assert float(error.max()) <= 2.0**-7


def test_range_loss_matches_numpy_and_is_zero_inside():
    values = torch.tensor([-0.5, 0.0, 0.3, 1.0, 1.25, 2.0], dtype=torch.float64).view(1, 1, 2, 3)
    below = np.clip(-values.numpy(), 0, None)
    above = np.clip(values.numpy() - 1, 0, None)
    assert float(range_loss(values)) == pytest.approx(float(np.mean(below**2 + above**2)),
                                                      rel=1e-12)
    assert float(range_loss(_features(3))) == 0.0  # rand is in [0, 1)


def test_range_loss_gradcheck():
    # Away from the kinks at 0 and 1, where the squared distance is smooth.
    values = torch.tensor([-0.4, 0.2, 0.7, 1.3, 1.6, -1.1], dtype=torch.float64)
    assert torch.autograd.gradcheck(range_loss, (values.view(1, 1, 2, 3).requires_grad_(True),))


# --- w2: Wasserstein-2 between the Gaussians of the responses ---------------------------

def _np_w2(features, target_mean, target_cov, ridge):
    """numpy/scipy float64: the closed form with scipy's Schur-method square roots."""
    from scipy.linalg import sqrtm

    _, c, h, w = features.shape
    rows = features.reshape(c, h * w).T
    mean = rows.mean(0)
    cov = (rows - mean).T @ (rows - mean) / len(rows) + ridge * np.eye(c)
    target = target_cov + ridge * np.eye(c)
    root = np.real(sqrtm(target))
    cross = np.trace(np.real(sqrtm(root @ cov @ root)))
    distance = ((mean - target_mean) ** 2).sum() + np.trace(cov) + np.trace(target) - 2 * cross
    return distance / ((target_mean**2).sum() + np.trace(target_cov))


def _painting_gaussian(seed: int, channels: int = 4):
    painting = _features(seed, shape=(1, channels, 6, 7)).numpy()
    rows = painting.reshape(channels, -1).T
    mean = rows.mean(0)
    return mean, (rows - mean).T @ (rows - mean) / len(rows)


def test_w2_loss_matches_float64_reference():
    from painterly.losses import matrix_sqrt, w2_loss

    x = _features(20)
    mean, cov = _painting_gaussian(21)
    for ridge in (0.0, 1e-3):
        root = matrix_sqrt(torch.from_numpy(cov) + ridge * torch.eye(4, dtype=torch.float64))
        got = float(w2_loss(x, torch.from_numpy(mean), root, ridge))
        assert got == pytest.approx(_np_w2(x.numpy(), mean, cov, ridge), rel=1e-9)


def test_bfloat16_moments_give_the_covariance_of_fp64():
    # Responses whose mean is large against their spread, as ReLU layers' are: the
    # covariance E[F F^T] - m m^T cancels most digits, which bfloat16 products lack.
    from painterly.losses import mean_and_second_moment

    features = (4.0 + _features(23, shape=(1, 6, 32, 32)).float()).bfloat16()
    rows = features.double().reshape(6, -1).T
    expected = torch.cov(rows.T, correction=0)
    mean, second, _count = mean_and_second_moment(features)
    covariance = second.double() - torch.outer(mean.double(), mean.double())
    assert float((covariance - expected).abs().max() / expected.abs().max()) < 1e-4


def test_w2_loss_is_zero_at_target_and_one_for_black():
    from painterly.losses import matrix_sqrt, mean_and_second_moment, w2_loss

    x = _features(22)
    mean, second, _count = mean_and_second_moment(x)
    cov = second - torch.outer(mean, mean)
    ridge = 1e-12  # black's covariance is the ridge alone: 1 - O(sqrt(ridge))
    root = matrix_sqrt(cov + ridge * torch.eye(4, dtype=torch.float64))
    assert float(w2_loss(x, mean, root, ridge)) < 1e-7
    assert float(w2_loss(torch.zeros_like(x), mean, root, ridge)) == pytest.approx(1.0, abs=1e-5)


def test_trace_sqrt_gradcheck_and_repeated_eigenvalues():
    from painterly.losses import trace_sqrt

    rng = np.random.default_rng(5)
    # eigh reads one triangle: perturb a factor, so that the matrix stays symmetric.
    factor = torch.tensor(rng.normal(size=(5, 5)), requires_grad=True)
    shift = 0.5 * torch.eye(5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: trace_sqrt(a @ a.T + shift), (factor,))
    spd = (factor @ factor.T + shift).detach()
    values = np.linalg.eigvalsh(spd.numpy())
    assert float(trace_sqrt(spd)) == pytest.approx(np.sqrt(values).sum(), rel=1e-12)
    # 4 I has the eigenvalue 4 five times: the gradient is still I / (2 sqrt(4)).
    repeated = (4 * torch.eye(5, dtype=torch.float64)).requires_grad_(True)
    trace_sqrt(repeated).backward()
    torch.testing.assert_close(repeated.grad, torch.eye(5, dtype=torch.float64) / 4)


def test_w2_backward_against_finite_differences():
    """The square root's backward, through the whole loss: central differences of the
    float64 loss along random directions of the features."""
    from painterly.losses import matrix_sqrt, w2_loss

    mean, cov = _painting_gaussian(23)
    ridge = 1e-4
    root = matrix_sqrt(torch.from_numpy(cov) + ridge * torch.eye(4, dtype=torch.float64))
    target_mean = torch.from_numpy(mean)
    x = _features(24).requires_grad_(True)
    w2_loss(x, target_mean, root, ridge).backward()
    generator = torch.Generator().manual_seed(25)
    for _ in range(5):
        direction = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        step = 1e-6
        with torch.no_grad():
            ahead = w2_loss(x + step * direction, target_mean, root, ridge)
            behind = w2_loss(x - step * direction, target_mean, root, ridge)
        numeric = float((ahead - behind) / (2 * step))
        assert float((x.grad * direction).sum()) == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    assert torch.autograd.gradcheck(
        lambda f: w2_loss(f, target_mean, root, ridge), (x.detach().requires_grad_(True),))


def test_weights_select_a_region():
    """With 0/1 weights, the weighted statistics and losses are those of the chosen
    positions alone."""
    from painterly.losses import matrix_sqrt, mean_and_second_moment, w2_loss

    x = _features(26, shape=(1, 4, 6, 6))
    weights = torch.zeros(1, 1, 6, 6, dtype=torch.float64)
    weights[..., :, :4] = 1.0  # the left two thirds
    inside = x[..., :, :4].contiguous()
    for got, expected in zip(mean_and_second_moment(x, weights), mean_and_second_moment(inside)):
        torch.testing.assert_close(got, expected)  # mean, second moment, count 24
    mean, cov = _painting_gaussian(27)
    root = matrix_sqrt(torch.from_numpy(cov))
    torch.testing.assert_close(w2_loss(x, torch.from_numpy(mean), root, 0.0, weights),
                               w2_loss(inside, torch.from_numpy(mean), root, 0.0))
