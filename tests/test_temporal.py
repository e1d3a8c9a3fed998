"""The temporal loss (painterly/temporal.py) against a float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.objective import LossTerms
from painterly.temporal import TemporalObjective, temporal_loss


def reference(image: np.ndarray, warped: np.ndarray, reliable: np.ndarray) -> float:
    weights = np.broadcast_to(reliable, image.shape)
    return float((weights * (image - warped) ** 2).sum() / (weights * warped**2).sum())


def test_temporal_loss_matches_numpy_float64():
    generator = torch.Generator().manual_seed(0)
    image, warped = (torch.rand(1, 3, 9, 7, generator=generator, dtype=torch.float64)
                     for _ in range(2))
    reliable = (torch.rand(1, 1, 9, 7, generator=generator, dtype=torch.float64) > 0.3).double()
    got = temporal_loss(image, warped, reliable)
    assert float(got) == pytest.approx(reference(image.numpy(), warped.numpy(),
                                                 reliable.numpy()), rel=1e-12)


def test_temporal_loss_zero_at_the_warped_frame_one_for_black_and_blind_where_unreliable():
    warped = torch.rand(1, 3, 6, 6, dtype=torch.float64)
    reliable = torch.ones(1, 1, 6, 6, dtype=torch.float64)
    assert float(temporal_loss(warped, warped, reliable)) == 0.0
    assert float(temporal_loss(torch.zeros_like(warped), warped, reliable)) == pytest.approx(1.0)
    changed = warped.clone()
    changed[..., :3, :] = 0.0
    reliable[..., :3, :] = 0.0  # the changed half is unreliable: not counted
    assert float(temporal_loss(changed, warped, reliable)) == 0.0
    assert float(temporal_loss(changed, warped, torch.zeros_like(reliable))) == 0.0


def test_temporal_loss_gradcheck():
    image = torch.rand(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    warped = torch.rand(1, 3, 5, 4, dtype=torch.float64)
    reliable = torch.rand(1, 1, 5, 4, dtype=torch.float64)  # soft weights too
    assert torch.autograd.gradcheck(lambda x: temporal_loss(x, warped, reliable), (image,))


def test_temporal_objective_adds_the_weighted_loss_to_the_total():
    def objective(image: torch.Tensor) -> LossTerms:
        value = image.sum()
        return LossTerms(value, value, value * 0, value * 0, value * 0)

    image, warped = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    reliable = torch.ones(1, 1, 4, 4)
    terms = TemporalObjective(objective, warped, reliable, 7.0)(image)
    expected = image.sum() + 7.0 * temporal_loss(image, warped, reliable)
    torch.testing.assert_close(terms.total, expected)
    torch.testing.assert_close(terms.content, image.sum())  # the other terms as they were
