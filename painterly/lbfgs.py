"""L-BFGS over an image's pixels, one evaluation per iteration and no line search.

The iteration is torch.optim.LBFGS's with ``max_iter=1`` (what neural-style runs), with
its own first step (``first_move``) and written out so that it holds only the vectors it
needs: the image, its gradient at the last iterate, the last step and the history's
pairs. torch's keeps a flat copy of each gradient, the last direction, a scratch vector
and, with ``torch.cat`` and ``clone``, up to ~8 image-sized vectors more: 5 GB at 8192 px,
where one vector is 600 MB. Vectors keep the image's shape (no flat copies).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .devices import read_back

#: torch's bound on a correction pair's curvature y.s, below which the pair is dropped
#: (its inverse would blow the direction up). The losses are scaled to sums, so this
#: absolute bound means the same at every picture size (painterly.optimizers).
MIN_CURVATURE = 1e-10

Closure = Callable[[], tuple[torch.Tensor, torch.Tensor]]


class LBFGS:
    """``step(closure)``: evaluate the loss and gradient at the image (the closure
    returns both, for the image as it is now), then move the image in place along the
    L-BFGS direction, ``step`` times the quasi-Newton step. The first step of a run, or
    after a direction that does not lead downhill, moves the largest pixel by
    ``first_move`` times ``step`` along -gradient."""

    def __init__(self, image: torch.Tensor, step: float, history: int, first_move: float) -> None:
        self.image = image
        self.step_size = step
        self.history = history
        self.first_move = first_move
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # s, y, 1/(y.s)
        self.gradient: torch.Tensor | None = None  # at the iterate the last step left
        self.last_step: torch.Tensor | None = None
        self.scaling = torch.ones((), device=image.device)  # y.s / y.y of the newest pair

    def step(self, closure: Closure, refused: Callable[[float], bool] = lambda loss: False
             ) -> float:
        """One iteration; returns the loss at the image before the move. Where
        ``refused(loss)``, the image goes back to the last iterate (no move, no memory)."""
        loss, gradient = closure()
        pair = None
        if self.last_step is not None and self.gradient is not None:
            y = self.gradient.neg_().add_(gradient)  # (forgotten by undo() if refused)
            pair = (self.last_step, y, _dot(y, self.last_step))
        numbers = read_back(loss) if pair is None else read_back(loss, pair[2])
        if refused(numbers[0]):
            self.undo()
            return numbers[0]
        if pair is not None:
            self._remember(*pair, numbers[1])
        self.gradient, self.last_step = gradient, None
        direction = self._direction(gradient) if self.pairs else None
        # Uphill, or not finite (an overflow): start afresh from the gradient.
        if direction is None or not -float("inf") < float(_dot(gradient, direction)) < 0:
            direction = self._first_step(gradient)
        if direction is not None:
            self.image.add_(direction)
            self.last_step = direction
        return numbers[0]

    def undo(self) -> None:
        """Back to the iterate before the last move, forgetting the history."""
        if self.last_step is not None:
            self.image.sub_(self.last_step)
        self._forget_pairs()
        self.gradient = self.last_step = None

    def _forget_pairs(self) -> None:
        self.pairs.clear()
        self.scaling = torch.ones_like(self.scaling)

    def _remember(self, s: torch.Tensor, y: torch.Tensor, curvature: torch.Tensor,
                  value: float) -> None:
        """Keep the pair (last step, change of gradient) if its curvature y.s (``value``
        on the host) is positive."""
        if value > MIN_CURVATURE:
            if len(self.pairs) == self.history:
                self.pairs.pop(0)
            self.pairs.append((s, y, 1.0 / curvature))
            self.scaling = curvature / _dot(y, y)

    def _direction(self, gradient: torch.Tensor) -> torch.Tensor:
        """The two-loop recursion: -H gradient, H the inverse Hessian the pairs imply,
        times the step (computed in one new vector)."""
        q = gradient.neg()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            alpha = rho * _dot(s, q)
            q.addcmul_(y, alpha, value=-1)  # a 0-d factor: no read back from a GPU
            alphas.append(alpha)
        q.mul_(self.scaling)
        for (s, y, rho), alpha in zip(self.pairs, reversed(alphas)):
            beta = rho * _dot(y, q)
            q.addcmul_(s, alpha - beta)
        return q.mul_(self.step_size)

    def _first_step(self, gradient: torch.Tensor) -> torch.Tensor | None:
        """-gradient scaled so that the largest pixel moves by first_move x step; None
        at a zero or non-finite gradient. torch's own first step moves all pixels
        together by a sum of 1 (~1e-5 of the range each): the curvature it measures is
        rounding noise, and its second step is the raw gradient, which blew 256 px
        stages up 10^4-fold."""
        self._forget_pairs()
        largest = float(gradient.abs().max())
        if not 0 < largest < float("inf"):  # (NaN too)
            return None
        return gradient * (-self.first_move * self.step_size / largest)

    def state_dict(self) -> dict:
        """The run's memory, to resume from (the tensors are the live ones: save, don't
        modify them)."""
        return {"pairs": [list(pair) for pair in self.pairs], "gradient": self.gradient,
                "last_step": self.last_step, "scaling": self.scaling}

    def load_state_dict(self, state: dict) -> None:
        """Resume from ``state_dict()``'s dict, which came from a file: ValueError where
        it does not fit this image."""
        pairs = state["pairs"]
        if not isinstance(pairs, list) or len(pairs) > self.history:
            raise ValueError("history")
        self.pairs = []
        for pair in pairs:
            if not isinstance(pair, list | tuple) or len(pair) != 3:
                raise ValueError("pair")
            s, y = self._vector(pair[0]), self._vector(pair[1])
            self.pairs.append((s, y, _positive(pair[2], self.image.device)))
        gradient = self._vector(state["gradient"], optional=True)
        # A copy: step() turns it into the next pair's y in place, and the state may be
        # resumed again (the pairs and the last step are only read).
        self.gradient = None if gradient is None else gradient.clone()
        self.last_step = self._vector(state["last_step"], optional=True)
        self.scaling = _positive(state["scaling"], self.image.device)

    def _vector(self, value: object, optional: bool = False) -> torch.Tensor | None:
        if value is None and optional:
            return None
        if not (isinstance(value, torch.Tensor) and value.dtype == torch.float32
                and value.shape == self.image.shape and bool(torch.isfinite(value).all())):
            raise ValueError("vector")
        return value.to(self.image.device)


def from_torch(state: dict, image: torch.Tensor) -> dict:
    """``state_dict()``'s dict from torch.optim.LBFGS's state, which checkpoints
    written before painterly had its own L-BFGS hold (flat vectors; from a file: checked
    when loaded)."""
    inner = state["state"][0]
    shape = image.shape
    pairs = [[s.view(shape), y.view(shape), rho]
             for s, y, rho in zip(inner["old_stps"], inner["old_dirs"], inner["ro"], strict=True)]
    return {"pairs": pairs, "gradient": inner["prev_flat_grad"].view(shape),
            "last_step": inner["d"].view(shape) * inner["t"],
            "scaling": torch.as_tensor(inner["H_diag"], dtype=torch.float32)}


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.dot(a.reshape(-1), b.reshape(-1))


def _positive(value: object, device: torch.device) -> torch.Tensor:
    """A positive finite scalar tensor (from a file: checked)."""
    if not (isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point()
            and bool(torch.isfinite(value).all()) and float(value) > 0):
        raise ValueError("scalar")
    return value.reshape(()).to(device)
