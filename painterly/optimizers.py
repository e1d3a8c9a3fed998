"""Minimisers over the pixels of an image: L-BFGS (torch), L-BFGS-B (SciPy), Adam, GD.

Each takes a loss function of the image, a start image (1, 3, H, W) in [0, 1] and an
iteration count, calls ``on_iteration(iteration, loss, image)`` after every iteration
(1-based, with the loss of the method's latest evaluation and the current image, not to
be modified) and returns the final image. One
iteration is one accepted step of the method.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

LossFunction = Callable[[torch.Tensor], torch.Tensor]
IterationCallback = Callable[[int, float, torch.Tensor], None]

#: Default step sizes, in pixel units of the [0, 1] image.
DEFAULT_STEPS = {"adam": 0.02, "gd": 0.05}
OPTIMIZERS = ("lbfgs", "lbfgs-b", "adam", "gd")
#: Correction pairs L-BFGS keeps. Each costs two passes over the image per iteration.
LBFGS_HISTORY = 20


def minimize(
    loss_fn: LossFunction,
    start: torch.Tensor,
    method: str,
    iterations: int,
    on_iteration: IterationCallback,
    step: float | None = None,
) -> torch.Tensor:
    """Minimise ``loss_fn`` over the pixels of ``start`` with ``method`` (see OPTIMIZERS).

    ``step`` is the learning rate of ``adam`` and the first trial step of ``gd`` (the
    largest pixel change of the first move); L-BFGS ignores it.
    """
    if method == "lbfgs":
        return _lbfgs(loss_fn, start, iterations, on_iteration)
    if method == "lbfgs-b":
        return _lbfgs_b(loss_fn, start, iterations, on_iteration)
    if method == "adam":
        return _adam(loss_fn, start, iterations, on_iteration, step or DEFAULT_STEPS["adam"])
    if method == "gd":
        return _gradient_descent(
            loss_fn, start, iterations, on_iteration, step or DEFAULT_STEPS["gd"]
        )
    raise ValueError(f"unknown optimizer {method!r}; use one of {', '.join(OPTIMIZERS)}")


def _loss_and_grad(loss_fn: LossFunction, image: torch.Tensor) -> tuple[float, torch.Tensor]:
    image = image.detach().requires_grad_(True)
    loss = loss_fn(image)
    (grad,) = torch.autograd.grad(loss, image)
    return float(loss.detach()), grad


def _lbfgs(
    loss_fn: LossFunction, start: torch.Tensor, iterations: int, on_iteration: IterationCallback
) -> torch.Tensor:
    image = start.detach().clone().requires_grad_(True)
    # One iteration per step() call keeps the history between calls and costs one
    # function evaluation per iteration, as in neural-style.
    optimizer = torch.optim.LBFGS(
        [image], lr=1.0, max_iter=1, history_size=LBFGS_HISTORY, tolerance_grad=0.0,
        tolerance_change=0.0,
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(image)
        loss.backward()
        return loss

    for iteration in range(1, iterations + 1):
        loss = optimizer.step(closure)
        on_iteration(iteration, float(loss.detach()), image.detach())
    return image.detach()


def _lbfgs_b(
    loss_fn: LossFunction, start: torch.Tensor, iterations: int, on_iteration: IterationCallback
) -> torch.Tensor:
    from scipy.optimize import minimize as scipy_minimize

    shape, device = start.shape, start.device
    iteration = 0
    last_loss = float("nan")

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal last_loss
        image = torch.from_numpy(flat.reshape(shape)).to(device=device, dtype=torch.float32)
        last_loss, grad = _loss_and_grad(loss_fn, image)
        return last_loss, grad.double().cpu().numpy().ravel()

    def callback(intermediate_result) -> None:
        nonlocal iteration
        iteration += 1
        image = torch.from_numpy(intermediate_result.x.reshape(shape)).to(device, torch.float32)
        on_iteration(iteration, float(intermediate_result.fun), image)

    result = scipy_minimize(
        fun,
        start.detach().double().cpu().numpy().ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * start.numel(),
        callback=callback,
        options={"maxiter": iterations, "maxfun": 4 * iterations + 20, "maxcor": 20,
                 "ftol": 0.0, "gtol": 0.0},
    )
    return torch.from_numpy(result.x.reshape(shape)).to(device=device, dtype=torch.float32)


def _adam(
    loss_fn: LossFunction,
    start: torch.Tensor,
    iterations: int,
    on_iteration: IterationCallback,
    step: float,
) -> torch.Tensor:
    image = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=step)
    for iteration in range(1, iterations + 1):
        optimizer.zero_grad()
        loss = loss_fn(image)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        on_iteration(iteration, float(loss.detach()), image.detach())
    return image.detach()


def _gradient_descent(
    loss_fn: LossFunction,
    start: torch.Tensor,
    iterations: int,
    on_iteration: IterationCallback,
    step: float,
) -> torch.Tensor:
    """Projected gradient descent with a backtracking (Armijo) line search.

    The step adapts itself, so one default converges on every layer's loss, whose
    gradients differ by orders of magnitude; the report had to tune one step per layer.
    """
    image = start.detach().clamp(0.0, 1.0)
    loss, grad = _loss_and_grad(loss_fn, image)
    rate = step / float(grad.abs().max().clamp_min(1e-30))  # first move: at most `step`
    for iteration in range(1, iterations + 1):
        for _ in range(40):
            trial = (image - rate * grad).clamp(0.0, 1.0)
            trial_loss, trial_grad = _loss_and_grad(loss_fn, trial)
            decrease = float((grad * (image - trial)).sum())
            if trial_loss <= loss - 1e-4 * decrease and np.isfinite(trial_loss):
                image, loss, grad = trial, trial_loss, trial_grad
                rate *= 1.5
                break
            rate *= 0.5
        on_iteration(iteration, loss, image)
    return image
