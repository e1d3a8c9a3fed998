"""Sliced Wasserstein distances: how far apart two sets of vectors are along many
directions, their whole distributions compared, not only their moments; and the
quantile functions ("sketches") of sets of values along directions.

The quality benchmark's distances (:func:`sliced_wasserstein`) sort both sets along each
direction, exactly. The ``swd`` style loss (:mod:`painterly.swd`) keeps each painting as
the sketch of its values along its directions (:func:`sketch`; a painting's tiles merged
by :func:`merge_sketches`) and matches the picture's values to it by histogram. Sorting
runs on numpy's vectorised sorts, a thread per share of the rows (:func:`by_rows`).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from . import matching
from .losses import at_least_fp32

#: The most values of a painting's sketch, all directions together (32 MB in fp32): its
#: sorted values themselves up to conv3_1 at 512 px. With 4096 quantiles a direction
#: instead, conv1_1's gradient moved 4% from the sorted loss's (0.5% at this size).
SKETCH = 1 << 23

# Keeps a distance's square root and its division by a spread finite.
_EPS = 1e-12


def sketch_size(values: int, directions: int) -> int:
    """How many quantiles a sketch keeps of ``values`` values along each of
    ``directions`` directions: all of them, up to SKETCH in all."""
    return max(1, min(values, SKETCH // max(directions, 1)))


def sketch(values: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """(K, size): each row's quantiles of ``values`` (K, n) at levels (j + 1/2) / size,
    interpolated linearly (default size: :func:`sketch_size`; at n, the sorted values)."""
    size = sketch_size(values.shape[1], len(values)) if size is None else size
    return quantiles(sort_rows(values), size)


def merge_sketches(sketches: list[torch.Tensor], weights: list[float], size: int) -> torch.Tensor:
    """(K, size): the sketch of the mixture of several sets given by their sketches
    (K, L_i), each set weighing its ``weights`` (a blend, or a count of values) in all."""
    if len(sketches) == 1 and sketches[0].shape[1] == size:
        return sketches[0]
    total = sum(weights)
    masses = [weight / total / part.shape[1] for part, weight in zip(sketches, weights)]
    if len(sketches) == 2 and _merges_compiled(*sketches):
        first, second = (part.detach().contiguous().numpy() for part in sketches)
        merged = np.empty((len(first), size), dtype=first.dtype)
        by_rows(len(merged), lambda part: matching.merge(
            first[part], second[part], masses[0], masses[1], merged[part]),
            first.size + second.size)
        return torch.from_numpy(merged)
    mass = torch.cat([torch.full((part.shape[1],), share, dtype=torch.float64, device=part.device)
                      for part, share in zip(sketches, masses)])
    return mixture_quantiles(torch.cat(sketches, dim=1), mass, size)


def _merges_compiled(first: torch.Tensor, second: torch.Tensor) -> bool:
    """Whether :mod:`painterly.matching`'s loop merges these two sketches: on the CPU, in
    float32 or float64 alike, without a gradient, with numba installed. A tiled
    painting's sketches are merged a tile at a time: by sorting their union, 29 s of a
    4096 px stage's first iteration (benchmarks/README.md)."""
    return (matching.available() and first.dtype == second.dtype
            and all(_numpy_sorts(part) and not part.requires_grad and part.shape[1] > 0
                    for part in (first, second)))


def project(rows: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """(K, N) in at least fp32: the rows (N, C) projected on the directions (C, K) (in
    one product: in slices of directions it took twice as long, conv1_1 at 512 px).
    bfloat16 rows (the network under autocast) are projected in bfloat16 products
    accumulated in fp32, each result rounded once to bfloat16 (relative error <= 2^-9,
    as a Gram matrix's): five times faster than fp32 products on a CPU with bf16
    instructions, where fp32 products took a fifth of an iteration at 512 px."""
    return product(rows, projections).to(at_least_fp32(rows.dtype))


def product(rows: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """:func:`project`'s product, bfloat16 rows' left in bfloat16."""
    if rows.dtype == torch.bfloat16:
        return projections.to(rows.dtype).T @ rows.T
    dtype = at_least_fp32(rows.dtype)
    return projections.to(dtype).T @ rows.T.to(dtype)


def projected_sorted(rows: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """(K, N): the N rows (N, C) projected on each of K directions ``projections``
    (C, K), each direction's values sorted (sorting rows, not columns: contiguous sorts
    are several times faster)."""
    return sort_rows(project(rows, projections))


def sort_rows(values: torch.Tensor) -> torch.Tensor:
    """Each row of ``values`` (K, N) sorted, differentiably: ``torch.sort(values,
    dim=1).values``. On the CPU numpy's vectorised sort (x86-simd-sort) does it, a thread
    per share of the rows: where a gradient is wanted, of float32 values' order-preserving
    integer keys with each position packed into the low 32 bits (about twice as fast as
    torch's sort there); where none is (a painting's sketch), of the values themselves,
    2.5x faster again (benchmarks/README.md)."""
    if _numpy_sorts(values):
        if not (values.requires_grad and torch.is_grad_enabled()):
            rows = values.detach().numpy().copy()
            by_rows(len(rows), lambda part: rows[part].sort(axis=1))
            return torch.from_numpy(rows)
        if values.dtype == torch.float32 and values.shape[1] < 2**31:
            return _SortRows.apply(values)
    return torch.sort(values, dim=1).values


def _numpy_sorts(values: torch.Tensor) -> bool:
    """Whether numpy sorts ``values`` here: on the CPU, in float32 or float64."""
    return values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64)


def by_rows(count: int, work: Callable[[slice], object], values: int | None = None) -> None:
    """``work`` on shares of ``count`` rows (each a slice of them), a thread each, the
    calling thread taking the first: numpy's sorts and :mod:`painterly.matching`'s loops
    run without the GIL. Fewer than _ALONE ``values`` in all stay in the calling thread."""
    workers = max(1, min(torch.get_num_threads(), count))
    if workers == 1 or (values is not None and values < _ALONE):
        work(slice(0, count))
        return
    bounds = np.linspace(0, count, workers + 1).round().astype(int)
    first, *others = [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    waiting = [_threads().submit(work, part) for part in others]
    work(first)
    for share in waiting:
        share.result()

#: Work on fewer values than this runs in the calling thread: handing a share to another
#: costs more than it saves.
_ALONE = 1 << 16


@functools.cache
def _threads() -> ThreadPoolExecutor:
    """The threads :func:`by_rows` hands shares to, kept for the process (an iteration
    hands out some fifteen)."""
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="painterly-rows")


class _SortRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: torch.Tensor) -> torch.Tensor:
        bits = values.contiguous().view(torch.int32)
        keys = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # ordered as the floats are
        positions = torch.arange(values.shape[1], dtype=torch.int64)
        packed = (keys.to(torch.int64) << 32) | positions
        rows = packed.numpy()
        by_rows(len(rows), lambda part: rows[part].sort(axis=1))
        order = packed & 0xFFFFFFFF
        ctx.save_for_backward(order)
        return values.gather(1, order)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (order,) = ctx.saved_tensors
        return torch.zeros_like(grad).scatter_(1, order, grad)


def sliced_wasserstein(values: torch.Tensor, target: torch.Tensor, projections: torch.Tensor,
                       scale: torch.Tensor | None = None) -> torch.Tensor:
    """Sliced 2-Wasserstein distance between two sets of vectors: how far apart their
    whole distributions are, not only their means and covariances (a Gram matrix's).

    values: (N, C) and target: (M, C), one vector per row (a layer's responses at each
    position, or pixels); projections: (C, K), each column a direction (unit length).
    Along each direction both sets are sorted and compared at the quantiles of the
    smaller set (the larger set's sorted values linearly interpolated there), giving
    the 1-D distance sqrt(mean((Q_values - Q_target)^2)); ``scale`` (K,) divides each
    direction's distance (the target's spread along it, so every direction counts
    alike). Returns the mean over the K directions, a 0-d tensor in at least fp32;
    differentiable in ``values`` (sorting passes gradients to the sorted entries).
    """
    mine, theirs = projected_sorted(values, projections), projected_sorted(target, projections)
    count = min(mine.shape[1], theirs.shape[1])
    distance = (quantiles(mine, count) - quantiles(theirs, count)).pow(2).mean(1).add(_EPS).sqrt()
    if scale is not None:
        distance = distance / (scale.to(distance.dtype) + _EPS)
    return distance.mean()


def quantiles(ordered: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` evenly spaced quantiles of each row of ``ordered`` (sorted, (K, n)):
    the values at positions (i + 1/2) n / count - 1/2, linearly interpolated; the rows
    themselves when count == n."""
    n = ordered.shape[1]
    if count == n:
        return ordered
    places = ((torch.arange(count, dtype=torch.float64) + 0.5) * n / count - 0.5).clamp(0, n - 1)
    low = places.floor().long()
    high = (low + 1).clamp(max=n - 1)
    fraction = (places - low).to(ordered.dtype).to(ordered.device)
    low, high = low.to(ordered.device), high.to(ordered.device)
    return ordered[:, low] * (1 - fraction) + ordered[:, high] * fraction


def mixture_quantiles(values: torch.Tensor, mass: torch.Tensor, count: int) -> torch.Tensor:
    """(K, count): ``count`` evenly spaced quantiles, at levels (i + 1/2) / count, of K
    weighted sets of values, (K, n) with the probability ``mass`` (n,) of each column;
    the quantile function interpolates linearly between the values' mid-masses, as
    :func:`quantiles` does for equal masses (where the two agree)."""
    order = _stable_order(values)
    ordered, weights = values.gather(1, order), mass[order]
    middle = (weights.cumsum(1) - weights / 2).contiguous()
    levels = ((torch.arange(count, dtype=torch.float64, device=values.device) + 0.5)
              / count).expand(len(values), count).contiguous()
    above = torch.searchsorted(middle, levels).clamp(max=values.shape[1] - 1)
    below = (above - 1).clamp(min=0)
    low, high = middle.gather(1, below), middle.gather(1, above)
    fraction = ((levels - low) / (high - low).clamp_min(1e-300)).clamp(0, 1)
    start = ordered.gather(1, below)
    return start + fraction.to(values.dtype) * (ordered.gather(1, above) - start)


def _stable_order(values: torch.Tensor) -> torch.Tensor:
    """(K, n) int64: each row's order, stable. Sketches put side by side are sorted runs,
    which numpy's stable sort (timsort) merges in linear time: 7x faster than torch's
    argsort for two sketches of 32K values a direction, the merge of a painting's tiles."""
    if not _numpy_sorts(values):
        return values.argsort(dim=1, stable=True)
    rows = values.detach().numpy()
    order = np.empty(rows.shape, dtype=np.int64)

    def work(part: slice) -> None:
        order[part] = np.argsort(rows[part], axis=1, kind="stable")

    by_rows(len(rows), work)
    return torch.from_numpy(order)
