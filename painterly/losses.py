"""The losses of Gatys et al., as small pure functions.

Normalization (one choice, used everywhere): every term is a *relative squared error*,
the squared error divided by the squared norm of its target. The report's definitions,

    content = sum((F - P)^2)          style_l = sum((G - A)^2),  G = F F^T,

grow with the image's size (and the paper's 1/(4 N^2 M^2) factor still leaves each layer
on its own scale), so a weight tuned at 256 px means something else at 512 px. Divided by
||P||^2 and ||A||^2 (with Gram matrices averaged over positions), each term is a pure
number: 0 is a perfect match, 1 is as far as an all-black image, at any size, layer or
painting. Content and style weights, and the style layers' weights, then mean the same
thing everywhere, and the loss the optimiser reports is the distance the quality benchmark
measures.
"""

from __future__ import annotations

import torch

# Guards against an all-zero target (a black image's deep features).
_EPS = 1e-12


class _Gram(torch.autograd.Function):
    """rows^T rows / N with a one-product backward: G is symmetric, so
    dL/drows = rows (dG + dG^T) / N, where autograd's generic rule for a product of two
    operands would spend two products of the size of the forward one."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows)
        # As a batch of two halves of the positions, summed: on the CPU, bmm takes a
        # faster path than mm with a transposed operand (conv1_1..conv5_1 at 512 px:
        # 15 -> 10 ms, measured inside a whole iteration; benchmarks/README.md).
        positions, channels = rows.shape
        halves = rows.reshape(2 if positions % 2 == 0 else 1, -1, channels)
        gram = torch.bmm(halves.transpose(1, 2), halves).to(_at_least_fp32(rows.dtype)).sum(0)
        return gram / positions

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (rows,) = ctx.saved_tensors
        return rows @ ((grad + grad.T) / rows.shape[0]).to(rows.dtype)


def _at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of a layer's responses, averaged over positions.

    features: (1, C, H, W). Returns (C, C) with G_ij = sum_k F_ik F_jk / (H W), where
    F is features reshaped to (C, H W), so that it does not grow with the image's size.
    The products run in the features' dtype; bfloat16 features (the network under
    autocast) give a Gram matrix accumulated in fp32 over each half of the positions,
    each half rounded once to bfloat16 and the two added in fp32 (relative error
    <= 2^-9 for the non-negative responses after a ReLU), returned as fp32: four times
    faster than fp32 products.
    """
    return _Gram.apply(positions(features))


def positions(features: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) responses -> (H W, C), one row per position: a free view of
    channels-last features, which VGG19Features returns."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])


def relative_squared_error(
    value: torch.Tensor, target: torch.Tensor, norm: torch.Tensor | None = None
) -> torch.Tensor:
    """sum((value - target)^2) / sum(target^2), a 0-d tensor; shapes must match.

    ``norm`` replaces sum(target^2) when ``target`` is one part of a larger target whose
    error is summed part by part (a tile's share: :mod:`painterly.tiling`).
    Computed in at least fp32: a bfloat16 result (8 significant bits) would blur the
    small distances near convergence, and with them the gradient."""
    value, target = value.to(_at_least_fp32(value.dtype)), target.to(_at_least_fp32(target.dtype))
    if norm is None:
        norm = target.pow(2).sum()
    return (value - target).pow(2).sum() / (norm + _EPS)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Content loss at one layer: ||F - P||^2 / ||P||^2.

    features, target: (1, C, H, W) responses of the image and of the photograph at the
    content layer. Returns a 0-d tensor.
    """
    return relative_squared_error(features, target)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Style loss at one layer: ||G - A||^2 / ||A||^2 with G = gram_matrix(features).

    features: (1, C, H, W) responses of the image; target_gram: (C, C) Gram matrix of
    the painting at the same layer (it may come from an image of another size). Returns
    a 0-d tensor.
    """
    return relative_squared_error(gram_matrix(features), target_gram)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between neighbouring pixels.

    image: (1, 3, H, W) RGB in [0, 1]. Returns a 0-d tensor, the mean over horizontal
    and vertical neighbour pairs of their squared difference (so independent of size).
    """
    across, down = tv_sums(image)
    height, width = image.shape[-2:]
    return across / tv_pairs(image.shape[1], height, width - 1) + down / tv_pairs(
        image.shape[1], height - 1, width)


def tv_sums(image: torch.Tensor, rows: int | None = None,
            cols: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The sums of squared differences between horizontal neighbours and between
    vertical ones, of the pairs whose first pixel lies in the first ``rows`` rows and
    ``cols`` columns of ``image`` (1, C, H, W) (default: all): so a picture's pairs can
    be summed region by region, each region given with one more row and column of its
    neighbours where there are any."""
    rows = image.shape[-2] if rows is None else rows
    cols = image.shape[-1] if cols is None else cols
    across = image[..., :rows, :]
    down = image[..., :, :cols]
    dx = across[..., :, 1:] - across[..., :, :-1]
    dy = down[..., 1:, :] - down[..., :-1, :]
    return dx[..., :, :cols].pow(2).sum(), dy[..., :rows, :].pow(2).sum()


def tv_pairs(channels: int, rows: int, cols: int) -> int:
    """How many neighbour pairs tv_loss averages over in one direction (at least 1)."""
    return max(1, channels * rows * cols)


def range_loss(image: torch.Tensor) -> torch.Tensor:
    """How far an image's values lie outside [0, 1]: the mean over all values of the
    squared distance to the interval (0 for a valid picture).

    image: (1, 3, H, W). Returns a 0-d tensor.
    """
    return ((image - 1.0).clamp_min(0.0).pow(2) + (-image).clamp_min(0.0).pow(2)).mean()


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
    dtype = _at_least_fp32(values.dtype)
    along = values.to(dtype) @ projections.to(dtype)
    target_along = target.to(dtype) @ projections.to(dtype)
    count = min(along.shape[0], target_along.shape[0])
    mine = _quantiles(torch.sort(along, dim=0).values, count)
    theirs = _quantiles(torch.sort(target_along, dim=0).values, count)
    distance = (mine - theirs).pow(2).mean(0).add(_EPS).sqrt()
    if scale is not None:
        distance = distance / (scale.to(dtype) + _EPS)
    return distance.mean()


def _quantiles(ordered: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` evenly spaced quantiles of each column of ``ordered`` (sorted, (n, K)):
    the values at positions (i + 1/2) n / count - 1/2, linearly interpolated; the
    column itself when count == n."""
    n = ordered.shape[0]
    if count == n:
        return ordered
    positions = ((torch.arange(count, dtype=torch.float64) + 0.5) * n / count - 0.5).clamp(0, n - 1)
    low = positions.floor().long()
    high = (low + 1).clamp(max=n - 1)
    fraction = (positions - low).to(ordered.dtype).unsqueeze(1).to(ordered.device)
    return ordered[low] * (1 - fraction) + ordered[high] * fraction
