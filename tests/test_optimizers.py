"""Each minimiser on an ill-conditioned quadratic whose minimum is known."""

from __future__ import annotations

import pytest
import torch

from painterly.optimizers import OPTIMIZERS, minimize

TARGET = torch.linspace(0.1, 0.9, 2 * 3 * 4 * 5).view(1, 3, 4 * 2, 5)
# Curvatures spanning four orders of magnitude, like the losses of shallow and deep layers.
CURVATURE = torch.logspace(-2, 2, TARGET.numel()).view_as(TARGET)


def quadratic(image: torch.Tensor) -> torch.Tensor:
    return (CURVATURE * (image - TARGET) ** 2).sum()


@pytest.mark.parametrize("method", OPTIMIZERS)
def test_reaches_the_minimum(method):
    start = torch.full_like(TARGET, 0.5)
    seen = []
    iterations = 300 if method in ("adam", "gd") else 60
    result = minimize(quadratic, start, method, iterations, lambda i, loss, image: seen.append(i))
    assert seen == list(range(1, iterations + 1))
    assert float(quadratic(result)) < 1e-3 * float(quadratic(start))
    assert result.shape == start.shape


def test_lbfgs_b_keeps_pixels_in_range():
    target = torch.full_like(TARGET, 1.5)  # optimum outside [0, 1]
    result = minimize(lambda x: ((x - target) ** 2).sum(), TARGET.clone(), "lbfgs-b", 20,
                      lambda i, loss, image: None)
    assert float(result.max()) <= 1.0
    torch.testing.assert_close(result, torch.ones_like(result))


def test_gd_step_adapts_to_scale():
    # The same default step converges whether the loss is tiny or huge.
    for scale in (1e-6, 1e6):
        start = torch.full_like(TARGET, 0.5)
        loss_fn = lambda x, s=scale: s * quadratic(x)
        result = minimize(loss_fn, start, "gd", 300, lambda i, loss, image: None)
        assert float(quadratic(result)) < 1e-3 * float(quadratic(start))


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown optimizer"):
        minimize(quadratic, TARGET, "newton", 1, lambda i, loss, image: None)
