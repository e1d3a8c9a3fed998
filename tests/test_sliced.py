"""Sliced Wasserstein distances (painterly/sliced.py): the exact metric against numpy,
the sketches of sets of values and their merging, and the threaded sorts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.sliced import merge_sketches, mixture_quantiles, quantiles, sketch


def test_sketches_of_parts_merge_to_the_sketch_of_the_whole():
    """A set split in two unequal parts: their sketches, weighed by their sizes, give
    the whole's within a small share of its range."""
    values = torch.randn(3, 30000, generator=torch.Generator().manual_seed(38)).exp()
    whole = sketch(values)
    merged = merge_sketches([sketch(values[:, :9000]), sketch(values[:, 9000:])],
                            [9000, 21000], 30000)
    spread = whole[:, -1] - whole[:, 0]
    assert float(((merged - whole).abs().max(1).values / spread).max()) < 2e-3
    assert merge_sketches([whole], [5.0], 30000) is whole
    torch.testing.assert_close(sketch(values, 7), quantiles(torch.sort(values).values, 7))


def test_mixture_quantiles_against_numpy():
    """Two sets weighted 0.3 and 0.7: numpy's weighted quantile function, interpolated
    between mid-masses, at evenly spaced levels; and equal masses give the values back."""
    rng = np.random.default_rng(6)
    first, second = np.sort(rng.normal(size=(3, 7)), 1), np.sort(rng.gamma(2, size=(3, 4)), 1)
    values = np.concatenate([first, second], 1)
    mass = np.concatenate([np.full(7, 0.3 / 7), np.full(4, 0.7 / 4)])
    got = mixture_quantiles(torch.tensor(values), torch.tensor(mass), 9).numpy()
    levels = (np.arange(9) + 0.5) / 9
    for row, expected_row in zip(got, values):
        order = np.argsort(expected_row)
        middle = np.cumsum(mass[order]) - mass[order] / 2
        expected = np.interp(levels, middle, expected_row[order])
        np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-12)
    equal = torch.tensor(first)
    torch.testing.assert_close(mixture_quantiles(equal, torch.full((7,), 1 / 7,
                                                 dtype=torch.float64), 7), equal)
    torch.testing.assert_close(mixture_quantiles(equal, torch.full((7,), 1 / 7,
                                                 dtype=torch.float64), 5), quantiles(equal, 5))


def _sliced_wasserstein_reference(values, target, projections, scale=None):
    """numpy float64: sort each projection, compare at the smaller set's quantiles."""
    a, b = np.sort(values @ projections, axis=0), np.sort(target @ projections, axis=0)
    count = min(len(a), len(b))

    def at_quantiles(ordered):
        n = len(ordered)
        positions = np.clip((np.arange(count) + 0.5) * n / count - 0.5, 0, n - 1)
        return np.stack([np.interp(positions, np.arange(n), column) for column in ordered.T], 1)

    distance = np.sqrt(((at_quantiles(a) - at_quantiles(b)) ** 2).mean(0))
    return (distance / scale if scale is not None else distance).mean()


def test_sliced_wasserstein_matches_float64_reference():
    from painterly.sliced import sliced_wasserstein

    rng = np.random.default_rng(3)
    values, target = rng.normal(size=(50, 4)), rng.gamma(2.0, size=(37, 4))
    projections = rng.normal(size=(4, 6))
    projections /= np.linalg.norm(projections, axis=0)
    scale = rng.uniform(0.5, 2.0, size=6)
    for given_scale in (None, scale):
        got = sliced_wasserstein(torch.tensor(values), torch.tensor(target),
                                 torch.tensor(projections),
                                 None if given_scale is None else torch.tensor(given_scale))
        expected = _sliced_wasserstein_reference(values, target, projections, given_scale)
        assert abs(float(got) - expected) < 1e-9 * max(1.0, expected)


def test_sliced_wasserstein_by_hand():
    """In one dimension: a set against itself is 0, against itself shifted by d is d,
    whatever the order of its rows."""
    from painterly.sliced import sliced_wasserstein

    values = torch.tensor([[3.0], [1.0], [2.0], [7.0]], dtype=torch.float64)
    one = torch.ones(1, 1, dtype=torch.float64)
    assert float(sliced_wasserstein(values, values.flip(0), one)) < 1e-5
    assert abs(float(sliced_wasserstein(values + 2.5, values, one)) - 2.5) < 1e-9
    assert abs(float(sliced_wasserstein(values + 2.5, values, one,
                                        torch.tensor([5.0], dtype=torch.float64))) - 0.5) < 1e-9


def test_sliced_wasserstein_gradcheck():
    from painterly.sliced import sliced_wasserstein

    rng = np.random.default_rng(4)
    values = torch.tensor(rng.normal(size=(9, 3)), requires_grad=True)
    target = torch.tensor(rng.normal(size=(6, 3)))
    projections = torch.tensor(rng.normal(size=(3, 5)))
    assert torch.autograd.gradcheck(
        lambda v: sliced_wasserstein(v, target, projections), (values,))


def test_sort_rows_is_torchs_sort_with_its_gradient():
    """The packed-key sort: the same values as torch.sort, ties, signs, zeros and
    infinities included, and the gradient of a sorted-value loss scattered back."""
    from painterly.sliced import sort_rows

    generator = torch.Generator().manual_seed(35)
    values = torch.randn(5, 1001, generator=generator)
    values[0, :10] = 0.0
    values[1, ::7] = -0.0
    values[2, :50] = values[2, 50:100]  # ties
    values[3, 3], values[3, 4] = float("inf"), float("-inf")
    values.requires_grad_(True)
    mine = sort_rows(values)
    torch.testing.assert_close(mine, torch.sort(values.detach(), dim=1).values, rtol=0, atol=0)
    weights = torch.randn(5, 1001, generator=generator)
    (mine * weights).sum().backward()
    reference = values.detach().clone().requires_grad_(True)
    (torch.sort(reference, dim=1).values * weights).sum().backward()
    # Among ties the order may differ, so compare the gradient summed over equal values.
    for row in range(5):
        for value in values[row].detach().unique():
            same = values[row].detach() == value
            assert float(values.grad[row][same].sum()) == pytest.approx(
                float(reference.grad[row][same].sum()), abs=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sort_rows_without_a_gradient_is_torchs_sort(dtype):
    """A painting's sketch sorts without a gradient: numpy's sort of the values, a share
    of the rows a thread, the same values as torch.sort."""
    from painterly.sliced import sort_rows

    values = torch.randn(7, 999, generator=torch.Generator().manual_seed(36), dtype=dtype)
    values[0, :10] = 0.0
    values[1, ::7] = -0.0
    values[2, :50] = values[2, 50:100]  # ties
    values[3, 3], values[3, 4] = float("inf"), float("-inf")
    mine = sort_rows(values.t().contiguous().t())  # a strided view too
    assert mine.dtype == dtype and not mine.requires_grad
    torch.testing.assert_close(mine, torch.sort(values, dim=1).values, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(sort_rows(values.clone().requires_grad_(True)),
                                   torch.sort(values, dim=1).values, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_order_is_numpys_stable_argsort(dtype):
    """The order mixture_quantiles merges sketches by: stable, as numpy's, for sorted runs
    side by side (sketches) with ties between them, and for values in no order."""
    from painterly.sliced import _stable_order

    generator = torch.Generator().manual_seed(37)
    runs = torch.sort(torch.randint(0, 50, (5, 300), generator=generator).to(dtype), 1).values
    side_by_side = torch.cat([runs, runs.flip(0)], 1)
    shuffled = torch.randn(3, 1001, generator=generator, dtype=dtype)
    for values in (side_by_side, shuffled):
        expected = np.argsort(values.numpy(), axis=1, kind="stable")
        assert torch.equal(_stable_order(values), torch.from_numpy(expected))
