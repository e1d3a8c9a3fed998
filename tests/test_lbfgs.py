"""painterly.lbfgs against torch.optim.LBFGS, the iteration it writes out."""

import pytest
import torch

from painterly.lbfgs import LBFGS, from_torch

FIRST_MOVE = 0.2
SHAPE = (1, 3, 6, 5)


def _problem(seed: int = 0):
    """A smooth, non-quadratic loss over an image-shaped tensor (float64)."""
    generator = torch.Generator().manual_seed(seed)
    n = 90
    a = torch.randn(n, n, generator=generator, dtype=torch.float64)
    hessian = a @ a.T / n + 0.1 * torch.eye(n, dtype=torch.float64)
    target = torch.rand(n, generator=generator, dtype=torch.float64)

    def loss(x: torch.Tensor) -> torch.Tensor:
        v = x.reshape(-1) - target
        return 0.5 * v @ hessian @ v + 0.25 * (v**4).sum()

    return loss


def _torch_run(loss, start: torch.Tensor, steps: int, history: int, step: float = 1.0):
    """torch's L-BFGS, one evaluation a step, its first step moving the largest pixel by
    FIRST_MOVE x step (as painterly's did when it ran torch's); the iterates."""
    x = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([x], lr=step, max_iter=1, history_size=history,
                                  tolerance_grad=0.0, tolerance_change=0.0)

    def closure():
        optimizer.zero_grad()
        value = loss(x)
        value.backward()
        return value

    iterates = []
    for index in range(steps):
        if index == 0:
            value = closure()
            torch_first = min(1.0, 1.0 / float(x.grad.abs().sum()))
            optimizer.param_groups[0]["lr"] = step * FIRST_MOVE / (
                float(x.grad.abs().max()) * torch_first)
            optimizer.step(lambda value=value: value)
            optimizer.param_groups[0]["lr"] = step
        else:
            optimizer.step(closure)
        iterates.append(x.detach().clone())
    return iterates, optimizer


def _started(seed: int, steps: int, history: int = 3):
    """A float64 run of ``steps`` iterations on _problem(seed): image, method, closure."""
    loss = _problem(seed)
    image = torch.zeros(SHAPE, dtype=torch.float64)
    method = LBFGS(image, 1.0, history, FIRST_MOVE)
    closure = _closure(loss, image)
    for _ in range(steps):
        method.step(closure)
    return loss, image, method, closure


def _closure(loss, image: torch.Tensor):
    def closure():
        pixels = image.detach().requires_grad_(True)
        value = loss(pixels)
        (gradient,) = torch.autograd.grad(value, pixels)
        return value.detach(), gradient
    return closure


@pytest.mark.parametrize(("history", "step"), [(3, 1.0), (10, 1.0), (5, 0.5)])
def test_iterates_are_torchs(history, step):
    loss = _problem()
    start = torch.zeros(SHAPE, dtype=torch.float64)
    expected, _ = _torch_run(loss, start, 25, history, step)
    image = start.clone()
    method = LBFGS(image, step, history, FIRST_MOVE)
    closure = _closure(loss, image)
    for index, reference in enumerate(expected):
        method.step(closure)
        assert torch.allclose(image, reference, rtol=1e-9, atol=1e-12), index
    assert len(method.pairs) == history
    assert float(loss(image)) < 1e-3 * float(loss(start))  # and it does minimise


def test_the_first_step_moves_the_largest_pixel_by_first_move():
    loss = _problem(1)
    image = torch.zeros(SHAPE, dtype=torch.float64)
    LBFGS(image, 0.5, 5, FIRST_MOVE).step(_closure(loss, image))
    assert float(image.abs().max()) == pytest.approx(0.5 * FIRST_MOVE)


def test_it_resumes_from_its_own_state_and_from_torchs():
    loss = _problem(2)
    start = torch.zeros(SHAPE)  # float32, as a checkpoint holds
    expected, _ = _torch_run(loss, start, 14, 4)
    _, optimizer = _torch_run(loss, start, 8, 4)
    image = expected[7].clone()
    method = LBFGS(image, 1.0, 4, FIRST_MOVE)
    method.load_state_dict(from_torch(optimizer.state_dict(), image))
    closure = _closure(loss, image)
    for reference in expected[8:11]:
        method.step(closure)
        assert torch.allclose(image, reference, rtol=1e-4, atol=1e-6)
    saved = method.state_dict()
    for _ in range(2):  # the same state, resumed twice, is not used up by the first
        resumed_image = image.clone()
        resumed = LBFGS(resumed_image, 1.0, 4, FIRST_MOVE)
        resumed.load_state_dict(saved)
        resumed_closure = _closure(loss, resumed_image)
        for reference in expected[11:]:
            resumed.step(resumed_closure)
            assert torch.allclose(resumed_image, reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("damage", [
    lambda state: state.update(pairs="many"),
    lambda state: state.update(pairs=state["pairs"] * 3),  # more than the history
    lambda state: state["pairs"][0].__setitem__(0, torch.zeros(1, 3, 2, 2)),
    lambda state: state["pairs"][0].__setitem__(2, torch.tensor(-1.0)),
    lambda state: state.update(gradient=torch.full(SHAPE, float("nan"))),
    lambda state: state.update(scaling="1"),
    lambda state: state.update(last_step=torch.zeros(SHAPE, dtype=torch.float64)),
])
def test_a_damaged_state_is_refused(damage):
    loss = _problem(3)
    image = torch.zeros(SHAPE)
    method = LBFGS(image, 1.0, 2, FIRST_MOVE)
    closure = _closure(loss, image)
    for _ in range(4):
        method.step(closure)
    state = method.state_dict()
    damage(state)
    with pytest.raises(ValueError):
        LBFGS(image.clone(), 1.0, 2, FIRST_MOVE).load_state_dict(state)


def test_a_direction_that_leads_uphill_restarts_from_the_gradient():
    _loss, image, method, closure = _started(4, 3)
    s, y, _rho = method.pairs[-1]
    method.pairs = [(s, y, torch.tensor(1e-30, dtype=torch.float64))]
    method.scaling = torch.tensor(-1.0, dtype=torch.float64)  # H = -I: the direction is +gradient
    method.last_step = None  # (no new pair to remember, which would reset the scaling)
    before = image.clone()
    _, gradient = closure()
    method.step(closure)
    moved = image - before
    assert float((moved * gradient).sum()) < 0
    assert float(moved.abs().max()) == pytest.approx(FIRST_MOVE)
    assert method.pairs == []


def test_a_refused_loss_takes_the_image_back_to_the_last_iterate():
    _loss, image, method, closure = _started(5, 4)
    before = image.clone()
    method.step(closure)
    assert not torch.equal(image, before)
    method.step(closure, refused=lambda value: True)
    torch.testing.assert_close(image, before, rtol=0, atol=1e-15)
    assert method.pairs == [] and method.last_step is None
    _, gradient = closure()
    method.step(closure)  # and goes on, with a first step downhill
    assert float(((image - before) * gradient).sum()) < 0
