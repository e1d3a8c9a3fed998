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
        gram = torch.bmm(halves.transpose(1, 2), halves).to(at_least_fp32(rows.dtype)).sum(0)
        return gram / positions

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (rows,) = ctx.saved_tensors
        return rows @ ((grad + grad.T) / rows.shape[0]).to(rows.dtype)


def at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; bfloat16 and float16 sum in float32."""
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


class _SquaredError(torch.autograd.Function):
    """sum((value - target)^2) in at least fp32, the difference taken in the inputs' own
    dtype and kept for the backward pass: one pass over the values each way, where
    autograd's generic rules took some eight over fp32 copies (bfloat16 content at
    conv4_2 holds 100M values at 4096 px). In bfloat16 the difference is exact wherever
    the two values are within a factor of 2 of each other (Sterbenz), so near the target,
    where it matters, nothing is lost; elsewhere it is rounded as the gradient is."""

    @staticmethod
    def forward(ctx, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        difference = value - target
        ctx.save_for_backward(difference)
        ctx.dtypes = value.dtype, target.dtype
        return squared_norm(difference)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        (difference,) = ctx.saved_tensors
        step = difference * (2 * grad)  # (a 0-d grad keeps the difference's dtype)
        return (step.to(ctx.dtypes[0]) if ctx.needs_input_grad[0] else None,
                step.neg().to(ctx.dtypes[1]) if ctx.needs_input_grad[1] else None)


def relative_squared_error(
    value: torch.Tensor, target: torch.Tensor, norm: torch.Tensor | None = None
) -> torch.Tensor:
    """sum((value - target)^2) / sum(target^2), a 0-d tensor; shapes must match.

    ``norm`` replaces sum(target^2): the whole target's, computed once by the caller, or
    that of a larger target whose error is summed part by part (a tile's share:
    :mod:`painterly.tiling`). Summed in at least fp32: a bfloat16 result (8 significant
    bits) would blur the small distances near convergence, and with them the gradient."""
    if norm is None:
        norm = squared_norm(target)
    return _SquaredError.apply(value, target) / (norm + _EPS)


def squared_norm(values: torch.Tensor) -> torch.Tensor:
    """sum(values^2) in at least fp32, a 0-d tensor."""
    return values.to(at_least_fp32(values.dtype)).square().sum()


def content_loss(features: torch.Tensor, target: torch.Tensor,
                 norm: torch.Tensor | None = None) -> torch.Tensor:
    """Content loss at one layer: ||F - P||^2 / ||P||^2.

    features, target: (1, C, H, W) responses of the image and of the photograph at the
    content layer; ``norm``: ||P||^2 (:func:`squared_norm`) where the caller keeps it.
    Returns a 0-d tensor.
    """
    return relative_squared_error(features, target, norm)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Style loss at one layer: ||G - A||^2 / ||A||^2 with G = gram_matrix(features).

    features: (1, C, H, W) responses of the image; target_gram: (C, C) Gram matrix of
    the painting at the same layer (it may come from an image of another size). Returns
    a 0-d tensor.
    """
    return relative_squared_error(gram_matrix(features), target_gram)


def weighted_positions(features: torch.Tensor, weights: torch.Tensor | None
                       ) -> tuple[torch.Tensor, float]:
    """(H W, C) rows of ``features`` (1, C, H, W), each scaled by the square root of its
    position's weight in ``weights`` (1, 1, H, W) in [0, 1], and the number of positions
    they average over (the weights' sum): rows^T rows / count is then the weighted mean
    of F F^T over a region (Gatys et al. 2017's guided Gram matrix). No weights: every
    position, weight 1."""
    rows = positions(features)
    if weights is None:
        return rows, float(rows.shape[0])
    column = positions(weights.to(rows.dtype))
    return rows * column.sqrt(), float(column.sum())


def weighted_gram(features: torch.Tensor, weights: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, float]:
    """The Gram matrix of ``features`` (1, C, H, W) averaged over a region: sum_p w_p F_p
    F_p^T / sum_p w_p with the weights ``weights`` (1, 1, H, W) (None: ``gram_matrix``),
    and the weights' sum."""
    rows, count = weighted_positions(features, weights)
    gram = _Gram.apply(rows)
    return (gram if weights is None else gram * (rows.shape[0] / count)), count


def mean_and_second_moment(features: torch.Tensor, weights: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The mean response (C,), the mean of F F^T (C, C) (:func:`weighted_gram`) and the
    weights' sum, over the positions of ``features`` (1, C, H, W), weighted by
    ``weights`` (1, 1, H, W) where given. In at least fp32, also for bfloat16 features:
    the covariance is the difference of the two, where bfloat16's products lose all
    but the first digits (w2 blew up on every pair with the network in bf16)."""
    features = features.to(at_least_fp32(features.dtype))
    second, count = weighted_gram(features, weights)
    rows = positions(features)
    if weights is not None:
        rows = rows * positions(weights.to(rows.dtype))
    return rows.to(at_least_fp32(rows.dtype)).sum(0) / count, second, count


class _TraceSqrt(torch.autograd.Function):
    """tr(M^(1/2)) of a symmetric positive definite M, by its eigenvalues; the gradient
    M^(-1/2) / 2, from the same eigenvectors (no eigenvector derivative, so repeated
    eigenvalues are harmless)."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(matrix)
        roots = values.clamp_min(0).sqrt()
        ctx.save_for_backward(roots, vectors)
        return roots.sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        roots, vectors = ctx.saved_tensors
        inverse = 0.5 / roots.clamp_min(torch.finfo(roots.dtype).tiny ** 0.5)
        return grad * (vectors * inverse) @ vectors.T


def trace_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """tr(sqrt(M)) for a symmetric positive definite (C, C) ``matrix``: the sum of the
    square roots of its eigenvalues (negative rounding noise counts as 0). 0-d tensor."""
    return _TraceSqrt.apply(matrix)


def matrix_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric positive semi-definite square root of a symmetric (C, C) matrix,
    without gradient (a painting's: a constant of the loss)."""
    values, vectors = torch.linalg.eigh(matrix.detach())
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def w2_loss(features: torch.Tensor, target_mean: torch.Tensor, target_root: torch.Tensor,
            ridge: float, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Wasserstein-2 distance between Gaussians with the means and covariances
    of the picture's and the painting's responses, relative to the painting's distance
    from all-zero responses:

        (|m - m_t|^2 + tr(S) + tr(S_t) - 2 tr((R S R)^(1/2))) / (|m_t|^2 + tr(S_t)),

    R = S_t^(1/2), S = covariance of ``features`` (1, C, H, W) (weighted by ``weights``
    (1, 1, H, W) where given), both covariances with ``ridge`` added to their diagonal
    (which keeps the square root's gradient finite where responses are degenerate; the
    same ridge for both, so a perfect match is still 0). target_mean: (C,);
    target_root: (C, C), R of the painting's covariance, ridge included
    (``matrix_sqrt(S_t + ridge I)``). 0-d tensor in float64.
    """
    mean, second, _count = mean_and_second_moment(features, weights)
    return w2_distance(mean, second, target_mean, target_root, ridge)


def w2_distance(mean: torch.Tensor, second: torch.Tensor, target_mean: torch.Tensor,
                target_root: torch.Tensor, ridge: float) -> torch.Tensor:
    """:func:`w2_loss` of responses whose mean (C,) and mean of F F^T (C, C) are given
    (so that they may be gathered tile by tile)."""
    mean, second = mean.double(), second.double()
    covariance = second - torch.outer(mean, mean)
    identity = torch.eye(covariance.shape[0], dtype=covariance.dtype, device=covariance.device)
    covariance = covariance + ridge * identity
    root = target_root.double()
    target_trace = root.pow(2).sum()  # tr(R R), R symmetric
    cross = trace_sqrt(root @ covariance @ root)
    distance = ((mean - target_mean.double()).pow(2).sum() + covariance.diagonal().sum()
                + target_trace - 2 * cross)
    norm = target_mean.double().pow(2).sum() + target_trace - ridge * covariance.shape[0]
    return distance.clamp_min(0) / (norm + _EPS)


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
