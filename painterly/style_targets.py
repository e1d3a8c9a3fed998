"""What each style loss keeps of a painting, and how a picture is compared with it.

``--style-loss`` picks one of three (the pure functions are in :mod:`painterly.losses`):

- ``gram``: the Gram matrix of each layer's responses (Gatys et al. 2016), their second
  moment;
- ``w2``: their mean and covariance, compared as Gaussians by the Wasserstein-2
  distance (as crowsonkb/style-transfer-pytorch does);
- ``swd``: their whole distribution along fixed random directions, by the sliced
  Wasserstein distance (Heitz et al. 2021).

Every loss tiles (:mod:`painterly.tiling`): each target gathers *moments* that add up
tile by tile (Gram matrices; means and second moments; swd's histograms), and
:meth:`settle` turns the whole picture's moments into each tile's part of the loss.
Several paintings mix as one distribution: their moments averaged, or (swd) their
quantiles pooled, by the blend's weights. A region's statistics are those of the
positions its mask weighs (:class:`StyleRegion`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from .losses import (
    matrix_sqrt,
    mean_and_second_moment,
    positions,
    relative_squared_error,
    w2_distance,
    weighted_gram,
)
from .sliced import merge_sketches, project, sketch, sketch_size
from .swd import bins_for, histogram, matched_part, matching_table, region_rows, swd_loss, swd_norm

STYLE_LOSSES = ("gram", "w2", "swd")
#: Each loss's term is multiplied by this, so that one ``style_weight`` balances style
#: against content about alike whichever loss is chosen: swd's relative distances are
#: smaller than a Gram matrix's for a picture as far from the painting (at 256 px,
#: Tübingen in Starry Night: swd at weight 30 kept the photo as well as gram at 9).
STRENGTH = {"gram": 1.0, "w2": 1.0, "swd": 30 / 9}
#: w2's ridge on both covariances, relative to the painting's mean variance tr(S)/C: it
#: bounds the square root's gradient where a layer's responses are degenerate (dead
#: channels). At 1e-4, L-BFGS blew up on Golden Gate in Starry Night at 256 px; at 1e-2
#: it paints it, and Tübingen's distances did not change (benchmarks/README.md).
RIDGE = 1e-2

Moments = tuple[torch.Tensor, ...]


#: A tile's part of a target's loss: (the tile's features (1, C, h, w), its region's
#: weights there or None) -> a 0-d tensor.
Part = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class Settled:
    """A target's loss at the whole picture's moments, and each tile's ``part``: a 0-d
    tensor whose gradient with respect to the tile's features is the tile's share of
    the loss's gradient. ``value`` None: the loss is the sum of the tiles' parts (swd),
    known once every tile has been seen."""

    value: torch.Tensor | None
    part: Part


class StyleTarget(Protocol):
    """One layer's statistics of the painting(s), and the loss of a picture against them."""

    def loss(self, features: torch.Tensor, weights: torch.Tensor | None = None
             ) -> torch.Tensor: ...

    def moments(self, features: torch.Tensor, weights: torch.Tensor | None = None
                ) -> tuple[Moments, float]: ...

    def settle(self, means: Moments, count: float) -> Settled: ...


def _settle_moments(target: GramTarget | GaussianTarget, means: Moments, count: float
                    ) -> Settled:
    """A loss of averages: its slopes dL/dM at the whole picture's moments make each
    tile's part linear in the tile's summed moments (autograd of the very function the
    untiled loss uses, on C x C matrices)."""
    values = tuple(value.detach().requires_grad_(True) for value in means)
    with torch.enable_grad():
        loss = target.loss_of(values)
        slopes = torch.autograd.grad(loss, values)

    def part(features: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        moments, weight = target.moments(features, weights)
        if weight == 0:
            return features.new_zeros((), dtype=torch.float32)
        return sum((slope * value).sum() for slope, value in zip(slopes, moments)) * (
            weight / count)

    return Settled(loss.detach(), part)


@dataclass(frozen=True)
class GramTarget:
    gram: torch.Tensor  # (C, C)

    @staticmethod
    def moments(features: torch.Tensor, weights: torch.Tensor | None = None
                ) -> tuple[Moments, float]:
        """((the weighted Gram matrix,), the positions' weight)."""
        gram, count = weighted_gram(features, weights)
        return (gram,), count

    def loss_of(self, moments: Moments) -> torch.Tensor:
        return relative_squared_error(moments[0], self.gram)

    def loss(self, features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.loss_of(self.moments(features, weights)[0])

    def settle(self, means: Moments, count: float) -> Settled:
        return _settle_moments(self, means, count)

    @classmethod
    def build(cls, moments: Sequence[Moments], blend: Sequence[float]) -> GramTarget:
        return cls(_mix(moments, blend)[0])


@dataclass(frozen=True)
class GaussianTarget:
    mean: torch.Tensor  # (C,)
    root: torch.Tensor  # (C, C): square root of the covariance plus the ridge
    ridge: float

    @staticmethod
    def moments(features: torch.Tensor, weights: torch.Tensor | None = None
                ) -> tuple[Moments, float]:
        """((mean, mean of F F^T), the positions' weight)."""
        mean, second, count = mean_and_second_moment(features, weights)
        return (mean, second), count

    def loss_of(self, moments: Moments) -> torch.Tensor:
        return w2_distance(moments[0], moments[1], self.mean, self.root, self.ridge)

    def loss(self, features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.loss_of(self.moments(features, weights)[0])

    def settle(self, means: Moments, count: float) -> Settled:
        return _settle_moments(self, means, count)

    @classmethod
    def build(cls, moments: Sequence[Moments], blend: Sequence[float]) -> GaussianTarget:
        """The mixture's mean and covariance (the blend's weights as probabilities)."""
        mean, second = (value.double() for value in _mix(moments, blend))
        covariance = second - torch.outer(mean, mean)
        ridge = RIDGE * float(covariance.diagonal().mean().clamp_min(1e-12))
        identity = torch.eye(len(mean), dtype=mean.dtype, device=mean.device)
        return cls(mean, matrix_sqrt(covariance + ridge * identity), ridge)


@dataclass(frozen=True)
class SlicedTarget:
    projections: torch.Tensor  # (C, K) unit directions
    painting: torch.Tensor  # (K, L) the painting's values along each, sketched
    bins: int  # of the picture's histograms

    @functools.cached_property
    def norm(self) -> float:
        return swd_norm(self.painting)

    def loss(self, features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return swd_loss(features, self.projections, self.painting, self.bins, weights,
                        self.norm)

    def moments(self, features: torch.Tensor, weights: torch.Tensor | None = None
                ) -> tuple[Moments, float]:
        """((the histogram per value,), the number of values)."""
        rows = region_rows(features, weights)
        count = float(rows.shape[0])
        counts = histogram(rows, self.projections, self.painting, self.bins)
        return (counts / max(count, 1.0),), count

    def settle(self, means: Moments, count: float) -> Settled:
        table = matching_table(means[0] * count, self.painting)

        def part(features: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
            return matched_part(region_rows(features, weights), self.projections,
                                self.painting, table, count, self.norm)

        return Settled(None, part)

    @classmethod
    def build(cls, projections: torch.Tensor, summaries: Sequence[tuple[torch.Tensor, float]],
              blend: Sequence[float]) -> SlicedTarget:
        """The paintings' pooled distribution, each painting weighing its blend weight;
        summaries: each painting's (sketch, positions)."""
        size = max(part[0].shape[1] for part in summaries)
        return cls(projections,
                   merge_sketches([part[0] for part in summaries], list(blend), size),
                   bins_for(int(max(part[1] for part in summaries))))


@dataclass(frozen=True)
class StyleRegion:
    """Where a painting (or a blend of them) applies, and its targets: the style term is
    the sum over regions of ``share`` (its part of the picture, times the loss's
    STRENGTH) times the layers' weighted losses."""

    share: float
    targets: dict[str, StyleTarget]  # layer -> target
    masks: dict[str, torch.Tensor] | None = None  # layer -> (1, 1, h, w) weights; None: all


def directions(channels: int, seed: int, layer_index: int) -> torch.Tensor:
    """(channels, channels) random unit directions for swd, fixed by the run's seed (so
    a run repeats, and L-BFGS sees one objective throughout)."""
    generator = torch.Generator().manual_seed((seed + 7919 * (layer_index + 1)) % 2**63)
    vectors = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
    return (vectors / vectors.norm(dim=0, keepdim=True)).float()


def build_targets(kind: str, summaries: Sequence[dict[str, Moments | torch.Tensor]],
                  blend: Sequence[float], projections: dict[str, torch.Tensor]
                  ) -> dict[str, StyleTarget]:
    """Each layer's target from each painting's summary (:func:`summarize`), mixed by
    ``blend``."""
    targets: dict[str, StyleTarget] = {}
    for layer in summaries[0]:
        parts = [summary[layer] for summary in summaries]
        if kind == "swd":
            targets[layer] = SlicedTarget.build(projections[layer], parts, blend)
        else:
            targets[layer] = (GramTarget if kind == "gram" else GaussianTarget).build(parts, blend)
    return targets


def summarize(kind: str, pieces: Iterable[dict[str, torch.Tensor]],
              projections: dict[str, torch.Tensor]) -> dict[str, Moments | torch.Tensor]:
    """A painting's statistics per layer from its features, whole or in pieces (tiles'
    cores): moments averaged over all positions, or (swd) the sketch of the values along
    each direction of ``projections``."""
    if kind == "swd":
        return _sketches(pieces, projections)
    gathered: dict[str, list] = {}
    for features in pieces:
        for layer, values in features.items():
            if values.shape[-2] * values.shape[-1] == 0:  # a thin core without positions
                continue
            part, count = (GramTarget if kind == "gram" else GaussianTarget).moments(values)
            gathered.setdefault(layer, []).append((part, count))
    return {layer: _mix([p for p, _ in parts], [c for _, c in parts])
            for layer, parts in gathered.items()}


def _sketches(pieces: Iterable[dict[str, torch.Tensor]], projections: dict[str, torch.Tensor]
              ) -> dict[str, tuple[torch.Tensor, float]]:
    """swd's summary per layer, (the sketch of the values along each direction, the
    positions), each piece merged in as it comes (a tile's memory, not the painting's)."""
    summary: dict[str, tuple[torch.Tensor, float]] = {}
    for features in pieces:
        for layer, values in features.items():
            count = float(values.shape[-2] * values.shape[-1])
            if count == 0:
                continue
            part = sketch(project(positions(values), projections[layer]))
            if layer in summary:
                earlier, total = summary[layer]
                count += total
                part = merge_sketches([earlier, part], [total, count - total],
                                      sketch_size(int(count), len(part)))
            summary[layer] = (part, count)
    return summary


def _mix(moments: Sequence[Moments], weights: Sequence[float]) -> Moments:
    """The weighted average of several sets of moments (weights need not sum to 1)."""
    total = sum(weights)
    return tuple(sum(w / total * part[i] for part, w in zip(moments, weights))
                 for i in range(len(moments[0])))


def region_loss(region: StyleRegion, features: dict[str, torch.Tensor],
                layer_weights: dict[str, float]) -> torch.Tensor:
    """The region's share of the style term: its share times the weighted sum of its
    layers' losses (``features``: layer -> (1, C, H, W) of the whole picture)."""
    masks = region.masks or {}
    total = sum(layer_weights[layer] * target.loss(features[layer], masks.get(layer))
                for layer, target in region.targets.items())
    return region.share * total

