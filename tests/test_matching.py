"""swd's compiled loops (painterly/matching.py) against the tensor operations they stand
for (painterly/swd.py's and painterly/sliced.py's, what a GPU runs), and on what those
never see: NaNs, infinities, bfloat16's rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly import matching, sliced, swd

pytestmark = pytest.mark.skipif(not matching.available(),
                                reason="numba is not installed (painterly[fast])")


def _tensor_way(monkeypatch) -> None:
    monkeypatch.setattr(matching, "numba", None)


def _case(seed: int, directions: int = 3, count: int = 5000, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    rows = torch.rand(count, 4, generator=generator).pow(2).to(dtype)
    projections = torch.nn.functional.normalize(torch.randn(4, directions, generator=generator),
                                                dim=0)
    painting = sliced.sketch(projections.T @ torch.rand(4, 3000, generator=generator) * 1.3)
    return rows, projections, painting


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_counts_are_the_tensor_operations_counts(dtype, monkeypatch):
    """The same histogram, up to a value on a bin's edge counted in its neighbour (the
    place's last bit, fused or not): every value counted, cumulative counts within 2."""
    rows, projections, painting = _case(1, dtype=dtype)
    compiled = swd.histogram(rows, projections, painting, 256)
    _tensor_way(monkeypatch)
    expected = swd.histogram(rows, projections, painting, 256)
    assert compiled.dtype == torch.float64 and compiled.shape == (3, 256)
    torch.testing.assert_close(compiled.sum(1), expected.sum(1), rtol=0, atol=0)
    assert float((compiled.cumsum(1) - expected.cumsum(1)).abs().max()) <= 2


def test_table_is_the_tensor_operations_table(monkeypatch):
    """Counts with empty bins and fractions (a tiled picture's averaged counts): the same
    ends of each bin, in float32 and float64."""
    generator = torch.Generator().manual_seed(2)
    counts = torch.randint(0, 4, (5, 64), generator=generator).double()
    counts[:, ::3] *= 0.37
    for dtype in (torch.float32, torch.float64):
        painting = torch.sort(torch.randn(5, 200, generator=generator, dtype=dtype)).values
        compiled = swd.matching_table(counts, painting)
        with monkeypatch.context() as patch:
            _tensor_way(patch)
            expected = swd.matching_table(counts, painting)
        assert compiled.dtype == dtype and compiled.shape == (5, 2, 64)
        torch.testing.assert_close(compiled, expected)


def test_loss_and_gradient_are_the_tensor_operations_across_threads(monkeypatch):
    """160000 values, shared among threads: the loss and its gradient as the tensor
    operations give them, in float32 and in bfloat16 (distances kept as bfloat16 in place
    and rounded as PyTorch rounds them)."""
    torch.manual_seed(3)
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.bfloat16, 1e-3)):
        features = torch.rand(1, 4, 200, 200).pow(2).to(dtype).requires_grad_(True)
        _, projections, painting = _case(4, directions=4)
        results = []
        for tensors in (False, True):
            with monkeypatch.context() as patch:
                if tensors:
                    _tensor_way(patch)
                loss = swd.swd_loss(features, projections, painting, 1024)
                (gradient,) = torch.autograd.grad(loss, features)
                results.append((float(loss.detach()), gradient.float()))
        (loss, gradient), (expected, expected_gradient) = results
        assert loss == pytest.approx(expected, rel=tolerance)
        error = (gradient - expected_gradient).norm() / expected_gradient.norm()
        assert float(error) < tolerance


def _place(bins: int, low: float = 0.0, width: float = 1.0):
    inverse = np.array([1 / width], np.float32)
    return inverse, -np.float32(low) * inverse, np.float32(bins - 2**-8)


def test_nan_and_infinities_stay_inside_the_table():
    """A NaN counts in the first bin and keeps a NaN distance; -inf and inf count at the
    ends; nothing is read or written outside the table."""
    values = np.array([[np.nan, -np.inf, np.inf, 2.5]], np.float32)
    inverse, shift, top = _place(8)
    counts = np.zeros((1, 8))
    matching.count(values, inverse, shift, top, counts)
    assert counts.tolist() == [[2, 0, 1, 0, 0, 0, 0, 1]]
    edges = np.tile(np.arange(8, dtype=np.float32), (1, 2, 1))  # target: the bin's start
    sums = np.zeros(1)
    matching.match(values, inverse, shift, top, edges, sums)
    assert np.isnan(values[0, 0]) and values[0, 1] == -np.inf and values[0, 2] == np.inf
    assert values[0, 3] == pytest.approx(0.5) and np.isnan(sums[0])


def test_the_tensor_operations_place_nan_and_infinities_as_the_loops_do(monkeypatch):
    """A NaN feature (a runaway step's) counts in the first bin both ways, and the loss
    comes back NaN for the optimiser to step back from, instead of a lookup outside the
    table (which raised here, and would stop a GPU)."""
    rows, projections, painting = _case(4)
    rows[3, 1], rows[7, 2], rows[9, 0] = float("nan"), float("inf"), -float("inf")
    compiled = swd.histogram(rows, projections, painting, 64)
    _tensor_way(monkeypatch)
    expected = swd.histogram(rows, projections, painting, 64)
    assert float(expected.sum()) == 3 * len(rows)
    torch.testing.assert_close(compiled.sum(1), expected.sum(1), rtol=0, atol=0)
    assert float((compiled.cumsum(1) - expected.cumsum(1)).abs().max()) <= 2
    features = rows.T.reshape(1, 4, 50, 100).requires_grad_(True)
    assert torch.isnan(swd.swd_loss(features, projections, painting, 64))


def test_bfloat16_distances_round_as_pytorch_rounds():
    """Values given as bfloat16's bits, all sent to one target c: each distance is
    value - c in float32 rounded to the nearest bfloat16, ties to even, as
    ``Tensor.to(torch.bfloat16)``; its square summed before rounding."""
    generator = torch.Generator().manual_seed(5)
    values = (torch.randn(1, 5000, generator=generator) * 3).bfloat16()
    # Ties: 1 - 2^-9 lies halfway between bfloat16's neighbours 1 - 2^-8 and 1, and
    # -0.5 - 2^-9 between -0.5 - 2^-8 and -0.5.
    values[0, :2] = torch.tensor([1.0, -0.5])
    target = np.float32(2**-9)
    exact = values.float() - torch.tensor(float(target))
    bits = values.view(torch.uint16).numpy().copy()
    inverse, shift, top = _place(4, low=-1e4, width=5e3)
    edges = np.full((1, 2, 4), target, np.float32)
    sums = np.zeros(1)
    matching.match(bits, inverse, shift, top, edges, sums)
    got = torch.from_numpy(bits).view(torch.bfloat16)
    assert torch.equal(got, exact.bfloat16())
    assert got[0, 0] == 1.0 and got[0, 1] == -0.5  # the ties, to the even neighbour
    assert sums[0] == pytest.approx(float(exact.double().pow(2).sum()), rel=1e-6)


def test_the_cpu_runs_the_loss_on_the_compiled_loops(monkeypatch):
    """With numba installed, a CPU's swd loss counts and matches in the loops (not
    silently in the tensor operations), in every precision the network runs in."""
    calls = []
    for name in ("count", "match"):
        loop = getattr(matching, name)
        monkeypatch.setattr(matching, name,
                            lambda *args, _loop=loop, _name=name: calls.append(_name) or _loop(*args))
    rows, projections, painting = _case(6)
    for dtype in (torch.bfloat16, torch.float32, torch.float64):
        calls.clear()
        swd.swd_loss(rows.to(dtype).T.reshape(1, 4, 50, 100), projections, painting, 256)
        assert calls == ["count", "match"], dtype


def _merge_cases(dtype):
    """Pairs of sketches (sorted rows) with weights: ties within and across them, a
    second sketch whose least value comes first, one-value sketches, levels past both
    ends, more and fewer quantiles than values."""
    generator = torch.Generator().manual_seed(8)
    for n1, n2, size in ((7, 4, 9), (1, 1, 3), (300, 5, 1000), (5000, 3000, 8000), (1, 50, 2)):
        first = torch.randint(0, 40, (6, n1), generator=generator).to(dtype)
        second = torch.cat([torch.randint(-5, 40, (6, (n2 + 1) // 2), generator=generator),
                            torch.randn(6, n2 // 2, generator=generator) * 10 + 20], 1)
        yield (torch.sort(first, 1).values, torch.sort(second.to(dtype), 1).values,
               [3.0 * n1, float(n2)], size)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_merge_is_the_tensor_operations_merge(dtype, monkeypatch):
    """Two sketches merged in one pass give mixture_quantiles' quantiles (a stable sort
    of their union), to the last bit but the final rounding of the interpolation."""
    cases = list(_merge_cases(dtype))
    compiled = [sliced.merge_sketches([a, b], weights, size) for a, b, weights, size in cases]
    _tensor_way(monkeypatch)
    for got, (a, b, weights, size) in zip(compiled, cases):
        expected = sliced.merge_sketches([a, b], weights, size)
        assert got.dtype == dtype and got.shape == (6, size)
        tolerance = 1e-12 if dtype == torch.float64 else 4e-6
        torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance)


def test_the_cpu_merges_a_paintings_tiles_in_the_loop(monkeypatch):
    """With numba, merging two sketches runs the loop (the tiles of a painting), and
    three (a blend) or a sketch that wants a gradient the tensor operations."""
    calls = []
    loop = matching.merge
    monkeypatch.setattr(matching, "merge", lambda *args: calls.append(1) or loop(*args))
    a, b, weights, size = next(_merge_cases(torch.float32))
    sliced.merge_sketches([a, b], weights, size)
    assert calls == [1]
    sliced.merge_sketches([a, b, a], [*weights, 1.0], size)
    sliced.merge_sketches([a.requires_grad_(True), b], weights, size)
    assert calls == [1]


def test_loops_compile_where_nothing_can_cache_them():
    """A read-only install with an unwritable home: numba finds nowhere to cache the
    loops (as for a function without a source file) and compiles them in each process
    instead of failing the import."""
    def twice(x):
        return 2 * x

    twice.__code__ = twice.__code__.replace(co_filename="<nowhere>")
    assert matching._compiled(twice)(21) == 42
