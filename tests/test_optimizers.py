"""Each minimiser on an ill-conditioned quadratic whose minimum is known."""

from __future__ import annotations

import copy
import gc
import weakref

import pytest
import torch

from painterly.optimizers import FIRST_MOVE, MAX_ROLLBACKS, OPTIMIZERS, Diverged, minimize

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
    result = minimize(quadratic, start, method, iterations,
                      lambda step: seen.append(step.iteration))
    assert seen == list(range(1, iterations + 1))
    assert float(quadratic(result)) < 1e-3 * float(quadratic(start))
    assert result.shape == start.shape


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_start_is_copied_unless_the_caller_hands_it_over(overwrite):
    start = torch.full_like(TARGET, 0.5)
    result = minimize(quadratic, start, "lbfgs", 5, lambda step: None, overwrite=overwrite)
    assert not torch.equal(result, torch.full_like(TARGET, 0.5))
    assert (result.data_ptr() == start.data_ptr()) is overwrite
    assert torch.equal(start, result if overwrite else torch.full_like(TARGET, 0.5))


def test_lbfgs_b_keeps_pixels_in_range():
    target = torch.full_like(TARGET, 1.5)  # optimum outside [0, 1]
    result = minimize(lambda x: ((x - target) ** 2).sum(), TARGET.clone(), "lbfgs-b", 20,
                      lambda step: None)
    assert float(result.max()) <= 1.0
    torch.testing.assert_close(result, torch.ones_like(result))


def test_gd_step_adapts_to_scale():
    # The same default step converges whether the loss is tiny or huge.
    for scale in (1e-6, 1e6):
        start = torch.full_like(TARGET, 0.5)
        loss_fn = lambda x, s=scale: s * quadratic(x)
        result = minimize(loss_fn, start, "gd", 300, lambda step: None)
        assert float(quadratic(result)) < 1e-3 * float(quadratic(start))


@pytest.mark.parametrize("method", ["lbfgs", "adam", "gd"])
def test_resumed_run_equals_straight_run(method):
    start = torch.full_like(TARGET, 0.5)
    straight = minimize(quadratic, start, method, 20, lambda step: None)
    saved = {}

    def keep(step):
        if step.iteration == 8:  # as a checkpoint file would: a deep copy, taken now
            saved.update(image=step.image.clone(), state=copy.deepcopy(step.state()))

    minimize(quadratic, start, method, 8, keep)
    seen = []
    resumed = minimize(quadratic, saved["image"], method, 20,
                       lambda step: seen.append(step.iteration), resume=saved["state"])
    assert seen == list(range(9, 21))
    torch.testing.assert_close(resumed, straight, rtol=0, atol=0)


def _blows_up(image: torch.Tensor) -> torch.Tensor:
    # Finite near the minimum, NaN once a step throws a pixel past 3.
    loss = quadratic(image)
    return torch.where(image.abs().max() > 3, torch.full_like(loss, float("nan")), loss)


def test_divergent_steps_are_undone_and_the_run_recovers():
    # L-BFGS with its steps scaled 10^4: the first one lands far outside. (Adam and GD
    # keep pixels in [0, 1]; L-BFGS-B's bounds and line search keep it finite.)
    start = torch.full_like(TARGET, 0.5)
    losses, finite_images = [], []
    result = minimize(
        _blows_up, start, "lbfgs", 200,
        lambda s: (losses.append(s.loss),
                   finite_images.append(bool(torch.isfinite(s.image).all()))),
        step=1e4,
    )
    assert all(finite_images) and all(torch.isfinite(torch.tensor(losses)))
    assert float(quadratic(result)) < 1e-2 * float(quadratic(start))


def test_a_run_that_cannot_recover_stops_with_a_message():
    with pytest.raises(Diverged, match="kept blowing up"):
        minimize(lambda x: quadratic(x) * float("inf"), torch.full_like(TARGET, 0.5), "lbfgs",
                 10, lambda step: None)
    assert MAX_ROLLBACKS >= 3


def test_lbfgs_moves_however_small_the_loss_or_large_the_picture():
    """A mean over a 4096 px picture's values: torch's L-BFGS dropped every correction
    pair under its absolute 1e-10 bound and stood still. The same stall, shown on a
    small picture by scaling its loss as a mean over 4096x3072 px scales, must not
    happen: the steps are those of the unscaled loss."""
    target = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))

    def run(scale: float) -> list[float]:
        def loss_fn(x: torch.Tensor) -> torch.Tensor:
            return scale * ((x - target).pow(2).mean() + (x[..., 1:] - x[..., :-1]).pow(2).mean())

        losses: list[float] = []
        minimize(loss_fn, torch.zeros_like(target), "lbfgs", 8, lambda it: losses.append(it.loss))
        return [loss / scale for loss in losses]

    plain, tiny = run(1.0), run(48 * 64 / (3072 * 4096))
    assert plain[-1] < 0.2 * plain[0]
    assert tiny == pytest.approx(plain, rel=1e-3)


@pytest.mark.parametrize("step", [1.0, 0.5])
def test_lbfgs_first_step_moves_the_largest_pixel_by_first_move_downhill(step):
    """torch's own first step moves all values together by a sum of 1 (1e-5 each here):
    the loss does not change, the curvature it measures is noise (benchmarks/README.md:
    a 256 px stage blew up from it). Ours is FIRST_MOVE along -gradient."""
    start = torch.full_like(TARGET, 0.5).requires_grad_(True)
    quadratic(start).backward()
    gradient = start.grad.clone()
    start = start.detach()
    moved = minimize(quadratic, start, "lbfgs", 1, lambda it: None, step=step)
    change = moved - start
    assert float(change.abs().max()) == pytest.approx(FIRST_MOVE * step, rel=1e-5)
    torch.testing.assert_close(change, -gradient * (FIRST_MOVE * step / gradient.abs().max()))
    assert float(quadratic(moved)) < 0.9 * float(quadratic(start))


def test_lbfgs_at_a_zero_gradient_stays_put():
    start = TARGET.clone()  # the minimum: the gradient is zero
    result = minimize(quadratic, start, "lbfgs", 3, lambda it: None)
    torch.testing.assert_close(result, TARGET)


# Not adam: torch.optim.Adam's construction leaves frames of its own alive until the
# cycle collector runs (torch 2.13), and a print-size run uses L-BFGS.
@pytest.mark.parametrize("method", ["lbfgs", "lbfgs-b", "gd"])
def test_a_finished_run_frees_its_state_without_the_cycle_collector(method):
    # A stepper in a reference cycle outlived its stage (history, objective and all)
    # until Python's cycle collector ran: at 8192 px the 4096 px stage's 1.2 GB.
    class Loss:
        def __call__(self, image: torch.Tensor) -> torch.Tensor:
            return quadratic(image)

    loss = Loss()
    gone = weakref.ref(loss)
    gc.collect()
    gc.disable()
    try:
        minimize(loss, torch.full_like(TARGET, 0.5), method, 5, lambda step: None)
        del loss
        assert gone() is None
    finally:
        gc.enable()
