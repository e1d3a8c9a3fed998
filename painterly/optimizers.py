"""Minimisers over the pixels of an image: L-BFGS (painterly.lbfgs), L-BFGS-B (SciPy), Adam, GD.

``minimize`` takes a loss function of the image, a start image (1, 3, H, W) in [0, 1] and
an iteration count, calls ``on_iteration(Iterate)`` after every iteration (one accepted
step of the method) and returns the final image. It also

- resumes from a state an earlier run's ``Iterate.state()`` gave, to the same result an
  uninterrupted run reaches (L-BFGS, Adam and GD; L-BFGS-B keeps its memory inside
  SciPy, so it restarts its memory from the saved image);
- catches divergence: a step that makes the loss or the image NaN or infinite, or the
  loss ``BLOW_UP`` times the run's first, is undone, the method's memory dropped and its
  step divided by ten; after ``MAX_ROLLBACKS`` such steps it raises :class:`Diverged`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import PainterlyError
from .graphs import replayed
from .lbfgs import LBFGS, from_torch

LossFunction = Callable[[torch.Tensor], torch.Tensor]

#: Default step sizes: L-BFGS's multiple of its own step, Adam's learning rate, and GD's
#: largest pixel change of its first move (pixel units of the [0, 1] image).
DEFAULT_STEPS = {"lbfgs": 1.0, "adam": 0.02, "gd": 0.05}
OPTIMIZERS = ("lbfgs", "lbfgs-b", "adam", "gd")
#: Correction pairs L-BFGS keeps. Each costs two passes over the image per iteration;
#: 10 paint the same picture as 20 or 100 (benchmarks/README.md).
LBFGS_HISTORY = 10
#: Correction pairs where the picture is painted on tiles: there memory, not the network,
#: bounds the size (two 600 MB vectors a pair at 8192 px), and a detail stage's few
#: iterations hardly fill more.
LBFGS_TILED_HISTORY = 5
#: The largest pixel change of L-BFGS's first step in a stage (times ``step``): the
#: best of 0.05-0.5 on three stages (128 and 256 px, two pairs), each ending 1-10%
#: lower after 15-30 iterations than torch's own first step (benchmarks/README.md).
FIRST_MOVE = 0.2
#: Undone steps after which a run is declared diverged (its step is then 10^-6 of the
#: first).
MAX_ROLLBACKS = 6
#: A loss this many times the first one counts as divergence. L-BFGS's early steps at
#: the start of a stage overshoot by up to ~600x (measured on the default run) and
#: recover at once; a runaway grows without bound (1e20x and more).
BLOW_UP = 1e6


class Diverged(PainterlyError):
    """The loss or the image stayed NaN or infinite even with much smaller steps."""


@dataclass(frozen=True)
class Iterate:
    """What ``on_iteration`` learns after one iteration."""

    iteration: int  # 1-based, counted from the run's first iteration, resumed or not
    loss: float  # of the method's latest evaluation
    image: torch.Tensor  # the current iterate; shared with the optimiser: don't modify it
    # The optimiser's state to resume from; builds nothing until called.
    state: Callable[[], dict] = field(repr=False, compare=False)


IterationCallback = Callable[[Iterate], None]


def minimize(
    loss_fn: LossFunction,
    start: torch.Tensor,
    method: str,
    iterations: int,
    on_iteration: IterationCallback,
    step: float | None = None,
    resume: dict | None = None,
    history: int = LBFGS_HISTORY,
    graph: bool = False,
    overwrite: bool = False,
) -> torch.Tensor:
    """Minimise ``loss_fn`` over the pixels of ``start`` with ``method`` (see OPTIMIZERS).

    ``step`` scales L-BFGS's steps, and is the learning rate of ``adam`` and the first
    trial step of ``gd``. ``resume`` is a state from ``Iterate.state()``, with ``start``
    the image that came with it; the run then continues at the iteration after it.
    ``history``: the correction pairs L-BFGS keeps (two image-sized vectors each).
    ``graph``: L-BFGS may replay ``loss_fn`` and its gradient as a CUDA graph
    (:mod:`painterly.graphs`): only where ``loss_fn`` is the same computation at every
    call and holds no more memory than one evaluation needs (not a tiled objective).
    ``overwrite``: ``start`` itself may become the iterate, changed in place, instead of
    a copy (for a caller that has no further use for it: 600 MB at 8192 px); without
    it, ``start`` stays as it is.
    """
    if method == "lbfgs-b":
        return _lbfgs_b(loss_fn, start, iterations, on_iteration, resume)
    step = step if step is not None else DEFAULT_STEPS[method]
    image = start.detach() if overwrite else start.detach().clone()
    done = 0
    if resume is not None:
        done, step = resume["iteration"], resume["step"]
    make = (functools.partial(_LBFGS, history=history, graph=graph) if method == "lbfgs"
            else _STEPPERS[method])
    stepper = _resumed_stepper(make, loss_fn, image, step, resume)
    first_loss: list[float] = []

    def refused(loss: float) -> bool:
        """Not finite, or blown up: the iterate it was evaluated at is undone."""
        first = first_loss[0] if first_loss else loss
        return not np.isfinite(loss) or (first != 0 and abs(loss) > BLOW_UP * abs(first))

    rollbacks = 0
    while done < iterations:
        # Each stepper goes back to its last good iterate itself when the loss at its
        # current one is refused (L-BFGS subtracts its last step: no copy of the image).
        loss = stepper.step(refused)
        first_loss[:] = first_loss or [loss]
        if refused(loss):
            rollbacks += 1
            if rollbacks > MAX_ROLLBACKS:
                raise _diverged(loss, done + 1)
            step /= 10
            stepper = make(loss_fn, image, step, None)
            continue
        done += 1
        on_iteration(Iterate(done, loss, image.detach(), _state_of(stepper, done, step)))
    return image.detach()


def _diverged(loss: float, iteration: int) -> Diverged:
    """The error of a run whose loss blew up at ``iteration`` however small its steps."""
    return Diverged(
        f"the loss kept blowing up ({loss:.3g} at iteration {iteration}) with steps "
        f"cut to 1/{10**MAX_ROLLBACKS:.0e} of the first; lower the weights or the step",
        setting="step",
    )


def _state_of(stepper: _LBFGS | _TorchStepper | _GradientDescent, done: int, step: float
              ) -> Callable[[], dict]:
    """What ``Iterate.state`` returns after ``done`` iterations: built only when called."""
    return lambda: {"iteration": done, "step": step, "optimizer": stepper.state_dict()}


def _resumed_stepper(make: Callable, loss_fn: LossFunction, image: torch.Tensor, step: float,
                     resume: dict | None) -> _LBFGS | _TorchStepper | _GradientDescent:
    """The stepper ``make`` builds, with the state it saved (from a checkpoint: untrusted)."""
    try:
        return make(loss_fn, image, step, resume and resume["optimizer"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
        if resume is None:
            raise
        raise PainterlyError(f"the saved optimiser state does not fit this run "
                             f"({type(error).__name__})") from None


class _TorchStepper:
    optimizer: torch.optim.Optimizer

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()


class _LBFGS:
    """L-BFGS (painterly.lbfgs), one iteration (one evaluation) per step as in
    neural-style."""

    def __init__(self, loss_fn: LossFunction, image: torch.Tensor, step: float,
                 state: dict | None, history: int = LBFGS_HISTORY, graph: bool = False
                 ) -> None:
        self.image = image
        self.method = LBFGS(image, step, history, FIRST_MOVE)
        if state is not None:
            self.method.load_state_dict(
                from_torch(state, image) if "state" in state else state)
        # torch's L-BFGS, whose bound on a pair's curvature y.s (1e-10, absolute) ours
        # keeps, dropped every pair at 4096 px: our losses are means, their gradients
        # shrink with the pixel count. Minimising the loss times the value count makes
        # y.s grow with the picture instead; the steps are otherwise the same at any scale.
        self.scale = scale = float(image.numel())

        # Without a reference to self: a cycle would keep this stepper (its history, its
        # objective's targets) alive after its stage until Python's cycle collector ran,
        # which a long tiled stage may never do (1.2 GB at 8192 px: the 4096 px stage's).
        def closure() -> tuple[torch.Tensor, torch.Tensor]:
            with torch.enable_grad():
                pixels = image.detach().requires_grad_(True)
                loss = loss_fn(pixels)
                (gradient,) = torch.autograd.grad(loss, pixels)
            return loss.detach() * scale, gradient.mul_(scale)  # (in place: no copy)

        self.closure = replayed(closure, image) if graph else closure

    def step(self, refused: Callable[[float], bool]) -> float:
        return self.method.step(self.closure, lambda loss: refused(loss / self.scale)) / self.scale

    def state_dict(self) -> dict:
        return self.method.state_dict()


class _Adam(_TorchStepper):
    """Adam on the pixels, kept in [0, 1]."""

    def __init__(self, loss_fn: LossFunction, image: torch.Tensor, step: float,
                 state: dict | None) -> None:
        self.image = image.requires_grad_(True)
        self.loss_fn = loss_fn
        self.optimizer = torch.optim.Adam([image], lr=step)
        self.before: torch.Tensor | None = None  # the iterate before the last move
        if state is not None:
            self.optimizer.load_state_dict(state)

    def step(self, refused: Callable[[float], bool]) -> float:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.image)
        if refused(float(loss.detach())):
            self._undo()
            return float(loss.detach())
        loss.backward()
        self.before = self.image.detach().clone()
        self.optimizer.step()
        with torch.no_grad():
            self.image.clamp_(0.0, 1.0)
        if not bool(torch.isfinite(self.image).all()):
            self._undo()
            return float("nan")
        return float(loss.detach())

    def _undo(self) -> None:
        if self.before is not None:
            with torch.no_grad():
                self.image.copy_(self.before)


class _GradientDescent:
    """Projected gradient descent with a backtracking (Armijo) line search.

    The step adapts itself, so one default converges on every layer's loss, whose
    gradients differ by orders of magnitude; the report had to tune one step per layer.
    """

    def __init__(self, loss_fn: LossFunction, image: torch.Tensor, step: float,
                 state: dict | None) -> None:
        self.loss_fn = loss_fn
        self.image = image
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        self.loss, self.grad = _loss_and_grad(loss_fn, image)
        if state is not None:
            self.rate = state["rate"]
        else:  # first move: at most `step`
            self.rate = step / float(self.grad.abs().max().clamp_min(1e-30))

    def step(self, refused: Callable[[float], bool]) -> float:
        """A move only to a point whose loss is finite and lower (so nothing to undo)."""
        for _ in range(40):
            trial = (self.image - self.rate * self.grad).clamp(0.0, 1.0)
            trial_loss, trial_grad = _loss_and_grad(self.loss_fn, trial)
            decrease = float((self.grad * (self.image - trial)).sum())
            if np.isfinite(trial_loss) and trial_loss <= self.loss - 1e-4 * decrease:
                self.image.copy_(trial)
                self.loss, self.grad = trial_loss, trial_grad
                self.rate *= 1.5
                break
            self.rate *= 0.5
        return self.loss

    def state_dict(self) -> dict:
        return {"rate": self.rate}


_STEPPERS = {"lbfgs": _LBFGS, "adam": _Adam, "gd": _GradientDescent}


def _loss_and_grad(loss_fn: LossFunction, image: torch.Tensor) -> tuple[float, torch.Tensor]:
    image = image.detach().requires_grad_(True)
    loss = loss_fn(image)
    (grad,) = torch.autograd.grad(loss, image)
    return float(loss.detach()), grad


def _lbfgs_b(
    loss_fn: LossFunction,
    start: torch.Tensor,
    iterations: int,
    on_iteration: IterationCallback,
    resume: dict | None,
) -> torch.Tensor:
    from scipy.optimize import minimize as scipy_minimize

    shape, device = start.shape, start.device
    iteration = resume["iteration"] if resume is not None else 0
    if iteration >= iterations:
        return start.detach().clone()

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        image = torch.from_numpy(flat.reshape(shape)).to(device=device, dtype=torch.float32)
        loss, grad = _loss_and_grad(loss_fn, image)
        if not (np.isfinite(loss) and bool(torch.isfinite(grad).all())):
            # An infinite value makes SciPy's line search step back.
            return np.inf, np.zeros(flat.size)
        return loss, grad.double().cpu().numpy().ravel()

    def callback(intermediate_result) -> None:
        nonlocal iteration
        iteration += 1
        image = torch.from_numpy(intermediate_result.x.reshape(shape)).to(device, torch.float32)
        done = iteration
        on_iteration(Iterate(done, float(intermediate_result.fun), image,
                             lambda: {"iteration": done, "step": None, "optimizer": None}))

    remaining = iterations - iteration
    result = scipy_minimize(
        fun,
        start.detach().double().cpu().numpy().ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * start.numel(),
        callback=callback,
        options={"maxiter": remaining, "maxfun": 4 * remaining + 20, "maxcor": 20,
                 "ftol": 0.0, "gtol": 0.0},
    )
    return torch.from_numpy(result.x.reshape(shape)).to(device=device, dtype=torch.float32)
