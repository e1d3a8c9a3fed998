"""The ``swd`` style loss (Heitz et al., CVPR 2021): a layer's responses compared with
the painting's along K fixed directions, their whole distributions, not only their
moments.

Sorting every position along each direction (:mod:`painterly.sliced`'s exact distance)
would cost most of an iteration and need all positions at once. Instead each value x of
the picture is sent to the painting's value at the same rank,

    G(x) = Q(F(x)),

F the picture's cumulative distribution along the direction, read from a histogram of
BINS equal bins over the painting's range (widened by MARGIN), and Q the painting's
quantile function, kept as a sketch (:func:`painterly.sliced.sketch`); G is linear within
a bin (histogram matching). A histogram adds up tile by tile, so the loss tiles: a first
pass counts, a second sends each value to its target. The loss is

    sum_k mean_i (x_ki - G_k(x_ki))^2 / sum_k mean_u Q_k(u)^2,

relative to the painting's mean square (0: its distribution); its gradient is taken with G
held fixed, 2 (x - G(x)) / (N norm): what sorting gives (each value's distance to the
painting's value at its rank), up to the histogram's resolution.

On the CPU the counting and the matching run as :mod:`painterly.matching`'s compiled
loops where numba is installed; elsewhere (a GPU, or without numba) as the tensor
operations below, the same arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import matching
from .losses import at_least_fp32, positions
from .sliced import by_rows, product, project

# Guards against an all-zero painting (a black image's deep features).
_EPS = 1e-12

#: The most bins of the picture's histogram along a direction (bins_for). Tübingen in
#: Starry Night at 512 px: the gradient 0.25% (conv1_1) to 3.4% (conv5_1) from the sorted
#: loss's, the loss within 0.2%.
BINS = 4096
MIN_BINS = 256

#: The bins span the painting's range widened by this share of it on each side; a value
#: beyond falls in the end bin and its target is the painting's extreme.
MARGIN = 0.25

#: Values projected at a time: bounds the loss's temporaries (conv1_1 at 1024 px has 67M).
_CHUNK = 1 << 22

#: swd's regions: a position takes part where its weight is at least this.
IN_REGION = 0.5


def region_rows(features: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """(N, C) rows of the positions of ``features`` (1, C, H, W) whose weight in
    ``weights`` (1, 1, H, W) is at least IN_REGION (None: all)."""
    rows = positions(features)
    return rows if weights is None else rows[positions(weights).squeeze(1) >= IN_REGION]


def swd_norm(painting: torch.Tensor) -> float:
    """The swd loss's denominator: the painting's mean squared value along each
    direction of its sketch (K, L), summed over directions."""
    return float(torch.linalg.vector_norm(painting, dim=1, dtype=torch.float64).pow(2).sum()
                 / painting.shape[1]) + _EPS


def bins_for(positions: int) -> int:
    """Bins for a layer whose painting has ``positions`` positions: the power of two
    nearest to a quarter of them, from MIN_BINS to BINS. The fewer values share a bin,
    the closer each gets to its target by sorting (a value alone in its bin gets just
    that); but the table costs more than the values past a few per bin (conv4_1 at 512
    px, one bin a value: 0.23 s an iteration, against 0.05 s at four)."""
    return max(MIN_BINS, min(BINS, 1 << max(0, round(math.log2(max(positions, 1) / 4)))))


def bin_geometry(painting: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, width), each (K, 1): ``bins`` equal bins along each direction over the range
    of the painting's sketch (K, L), widened by MARGIN on each side."""
    first, last = painting[:, :1], painting[:, -1:]
    span = (last - first).clamp_min(1e-12)
    return first - MARGIN * span, span * ((1 + 2 * MARGIN) / bins)


def histogram(rows: torch.Tensor, projections: torch.Tensor, painting: torch.Tensor,
              bins: int) -> torch.Tensor:
    """(K, bins) float64: how many of the ``rows`` (N, C) project into each bin along each
    direction of ``projections`` (C, K) (:func:`bin_geometry` of the painting's sketch);
    the counts of several sets of rows add up to the counts of their union."""
    low, width = bin_geometry(painting, bins)
    if _compiled(rows):
        values = product(rows, projections).detach()  # (counts have no gradient)
        placing = _placing(low, width, bins, values.dtype)
        return torch.from_numpy(_compiled_counts(_array(values), placing, bins))
    counts = [_count(_places(values, low[part], width[part], bins)[0], bins)
              for part, values in _chunks(project(rows, projections))]
    return torch.cat(counts) if counts else rows.new_zeros((0, bins), dtype=torch.float64)


def matching_table(counts: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
    """(K, 2, bins): G at the two ends of each bin: the painting's quantiles (``painting``,
    a sketch (K, L)) at the ranks of the first and the last of the picture's values in the
    bin (``counts``, (K, bins)), as levels (rank + 1/2) / N; in between, G is linear. A
    value alone in its bin gets the painting's value at its own rank, as by sorting."""
    if _compiled(painting):
        sketch_values = painting.detach().contiguous().numpy()
        edges = np.empty((len(counts), 2, counts.shape[1]), dtype=sketch_values.dtype)
        heights = counts.detach().double().numpy()
        by_rows(len(edges), lambda part: matching.table(
            heights[part], sketch_values[part], edges[part]), edges.size)
        return torch.from_numpy(edges)
    size = painting.shape[1]
    scale = size / counts.sum(1, keepdim=True).clamp_min(1)
    after = counts.cumsum(1)
    # A level u is at place u * size - 1/2 among the sketch's values.
    places = torch.stack([(after - counts + 0.5) * scale, (after - 0.5) * scale], dim=1)
    places = places.sub_(0.5).clamp_(0, size - 1).view(len(counts), -1)
    first = places.long()
    fraction = places.sub_(first).to(painting.dtype)
    second = (first + 1).clamp_(max=size - 1)
    table = torch.lerp(painting.gather(1, first), painting.gather(1, second), fraction)
    return table.view(len(counts), 2, -1)


def swd_loss(features: torch.Tensor, projections: torch.Tensor, painting: torch.Tensor,
             bins: int, weights: torch.Tensor | None = None,
             norm: float | None = None) -> torch.Tensor:
    """Sliced Wasserstein style loss by histogram matching (module docstring): the whole
    distribution of a layer's responses along K directions, not only its moments.

    features: (1, C, H, W); projections: (C, K) unit directions; painting: (K, L) the
    painting's responses projected on them, sketched (:func:`sketch`); ``bins`` along
    each direction (:func:`bins_for`). ``weights`` (1, 1, H, W): only positions weighing
    at least IN_REGION take part (a region). Returns sum_k mean_i (x_ki - G_k(x_ki))^2 /
    :func:`swd_norm` (``norm``, where the caller has it already), a 0-d tensor in at least
    fp32 (0 without positions); its gradient holds G fixed.
    """
    rows = region_rows(features, weights)
    norm = swd_norm(painting) if norm is None else norm
    return _Matching.apply(rows, projections, painting, bins, rows.shape[0] * norm)


def matched_part(rows: torch.Tensor, projections: torch.Tensor, painting: torch.Tensor,
                 table: torch.Tensor, count: float, norm: float | None = None) -> torch.Tensor:
    """Some of a picture's rows' (N, C) part of its swd loss: their squared distances to
    their targets in ``table`` (:func:`matching_table` of the whole picture's histogram
    of ``count`` values), divided by ``count`` and :func:`swd_norm` (``norm``). The
    parts of rows that make up the picture add up to :func:`swd_loss`, and so do their
    gradients."""
    norm = swd_norm(painting) if norm is None else norm
    return _Matching.apply(rows, projections, painting, table, count * norm)


class _Matching(torch.autograd.Function):
    """sum (x - G(x))^2 / divisor over the rows' projected values, with G from ``table``,
    or (a number of bins) from the rows' own histogram; only the distances are kept for
    the backward pass, 4 bytes a value (2 where the compiled loops keep bfloat16's)."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, projections: torch.Tensor, painting: torch.Tensor,
                table: torch.Tensor | int, divisor: float) -> torch.Tensor:
        bins = table if isinstance(table, int) else table.shape[2]
        low, width = bin_geometry(painting, bins)
        if _compiled(rows):
            distances = product(rows, projections)
            total = _compiled_distances(distances, painting, low, width, table)
        else:
            distances = project(rows, projections)
            total = _distances(distances, painting, low, width, table)
        scale = 1.0 / max(divisor, _EPS)
        ctx.save_for_backward(distances, projections)
        ctx.scale, ctx.dtype, ctx.by_channel = scale, rows.dtype, rows.stride(0) == 1
        return (total * scale).to(at_least_fp32(rows.dtype))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        distances, projections = ctx.saved_tensors
        factor = projections.T.to(at_least_fp32(distances.dtype)) * (2 * ctx.scale * grad)
        if ctx.dtype == torch.bfloat16:  # the features' gradient is bf16 in any case
            distances, factor = distances.to(ctx.dtype), factor.to(ctx.dtype)
        # The gradient in the rows' own layout: rows of NCHW features (Winograd's
        # layers) are a transposed view, and a channels-last gradient there made every
        # later add and copy of the backward pass a strided one.
        if ctx.by_channel:
            return (factor.T @ distances).T.to(ctx.dtype), None, None, None, None
        return (distances.T @ factor).to(ctx.dtype), None, None, None, None


def _distances(distances: torch.Tensor, painting: torch.Tensor, low: torch.Tensor,
               width: torch.Tensor, table: torch.Tensor | int) -> torch.Tensor:
    """Replaces each projected value (K, N) by its distance to its target (G from
    ``table``, or from the values' own histogram of ``table`` bins), in tensor
    operations; returns the sum of their squares (0-d, float64)."""
    bins = table if isinstance(table, int) else table.shape[2]
    total = distances.new_zeros((), dtype=torch.float64)  # (no read back per chunk)
    for part, values in _chunks(distances):
        index, fraction = _places(values, low[part], width[part], bins)
        edges = (matching_table(_count(index, bins), painting[part])
                 if isinstance(table, int) else table[part]).to(values.dtype)
        # Each bin's two ends looked up apart, flat.
        below, above = (edges[:, side].contiguous().view(-1) for side in (0, 1))
        start = below.index_select(0, index.view(-1)).view_as(values)
        values.sub_(start.lerp_(above.index_select(0, index.view(-1)).view_as(values),
                                fraction))
        total += torch.linalg.vector_norm(values).double().square()
    return total


def _compiled_distances(distances: torch.Tensor, painting: torch.Tensor, low: torch.Tensor,
                        width: torch.Tensor, table: torch.Tensor | int) -> torch.Tensor:
    """:func:`_distances` by :mod:`painterly.matching`'s loops, a share of the directions
    a thread: one pass over the values to count them (with ``table`` bins), one to
    match them. bfloat16 distances stay bfloat16, rounded once, as the backward pass
    would round them."""
    bins = table if isinstance(table, int) else table.shape[2]
    placing = inverse, shift, top = _placing(low, width, bins, distances.dtype)
    values, sums = _array(distances), np.zeros(len(distances))
    if isinstance(table, int):
        counts = _compiled_counts(values, placing, bins)
        table = matching_table(torch.from_numpy(counts), painting)
    edges = table.to(at_least_fp32(distances.dtype)).contiguous().numpy()
    by_rows(len(values), lambda part: matching.match(
        values[part], inverse[part], shift[part], top, edges[part], sums[part]), values.size)
    return torch.tensor(sums.sum(), dtype=torch.float64)


def _compiled_counts(values: np.ndarray, placing: tuple[np.ndarray, np.ndarray, np.generic],
                     bins: int) -> np.ndarray:
    """(K, bins) float64: each direction's values (K, N) counted into its bins by
    :mod:`painterly.matching`'s loop (``placing``: :func:`_placing`), a share of the
    directions a thread."""
    inverse, shift, top = placing
    counts = np.zeros((len(values), bins))
    by_rows(len(values), lambda part: matching.count(
        values[part], inverse[part], shift[part], top, counts[part]), values.size)
    return counts


def _compiled(values: torch.Tensor) -> bool:
    """Whether :mod:`painterly.matching`'s loops serve ``values`` (and their
    projections): on the CPU, in bfloat16, float32 or float64, with numba installed."""
    return (matching.available() and values.device.type == "cpu"
            and values.dtype in (torch.bfloat16, torch.float32, torch.float64))


def _array(values: torch.Tensor) -> np.ndarray:
    """``values``' memory as numpy sees it: bfloat16 as its bits (uint16)."""
    return (values.view(torch.uint16) if values.dtype == torch.bfloat16 else values).numpy()


def _placing(low: torch.Tensor, width: torch.Tensor, bins: int, dtype: torch.dtype
             ) -> tuple[np.ndarray, np.ndarray, np.generic]:
    """(inverse, shift, top) for :mod:`painterly.matching`: a value's place among the
    bins (:func:`bin_geometry`'s ``low`` and ``width``, (K, 1)) is value * inverse + shift
    in ``dtype`` (bfloat16's in float32), as :func:`_places` computes it, clamped to top."""
    dtype = at_least_fp32(dtype)
    inverse = 1 / width.to(dtype).view(-1)
    shift = -low.to(dtype).view(-1) * inverse
    kind = inverse.numpy().dtype
    return inverse.numpy(), shift.numpy(), kind.type(bins - 2**-8)


def _chunks(values: torch.Tensor):
    """(directions, their rows of ``values`` (K, N)), at most _CHUNK values at a time:
    bounds the temporaries of the work done on them."""
    step = max(1, _CHUNK // max(1, values.shape[1]))
    for start in range(0, len(values), step):
        part = slice(start, start + step)
        yield part, values[part]


def _places(values: torch.Tensor, low: torch.Tensor, width: torch.Tensor, bins: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each value's bin in the flat (k * bins) table of the k rows' bins, as int32 (half
    the int64's traffic: index_select and bincount take it), and its place in the bin,
    in [0, 1); values beyond the bins are at an end (the top within 2^-8 of a bin), a NaN
    in the first bin (its distance stays NaN), as :mod:`painterly.matching` places them:
    its index would otherwise be anything, and a lookup outside the table raises, or on a
    GPU stops the device, before the optimiser can see the NaN loss and step back."""
    inverse = 1 / width.to(values.dtype)
    place = torch.addcmul(-low.to(values.dtype) * inverse, values, inverse)
    place.clamp_(0, bins - 2**-8).nan_to_num_(nan=0.0)
    offsets = torch.arange(len(values), dtype=torch.int32, device=values.device) * bins
    return place.int().add_(offsets.unsqueeze(1)), place.frac_()


def _count(index: torch.Tensor, bins: int) -> torch.Tensor:
    """(k, bins) float64: how many of each row's values fall in each of its bins, from
    their flat indices (k, N) (:func:`_places`)."""
    flat, size = index.view(-1), len(index) * bins
    # CUDA's bincount reads the indices' range back to the host: a wait each call.
    count = torch.bincount if flat.device.type == "cpu" else _add_ones
    return count(flat, minlength=size).view(-1, bins).double()


def _add_ones(flat: torch.Tensor, minlength: int) -> torch.Tensor:
    """``torch.bincount`` of ``flat``'s indices, all below ``minlength``, by adding ones:
    nothing read back from the device."""
    return flat.new_zeros(minlength).index_add_(0, flat, flat.new_ones(1).expand(len(flat)))
