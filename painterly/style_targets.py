"""What each style loss keeps of a painting, and how a picture is compared with it.

``--style-loss`` picks one of three (the pure functions are in :mod:`painterly.losses`):

- ``gram``: the Gram matrix of each layer's responses (Gatys et al. 2016), their second
  moment;
- ``w2``: their mean and covariance, compared as Gaussians by the Wasserstein-2
  distance (as crowsonkb/style-transfer-pytorch does);
- ``swd``: their whole distribution along fixed random directions, by the sliced
  Wasserstein distance (Heitz et al. 2021).

``gram`` and ``w2`` are functions of *moments* (averages over positions), which add up
tile by tile, so they tile; ``swd`` sorts every position of a layer at once and does not.
Several paintings mix as one distribution: their moments averaged, or their projected
values pooled, by the blend's weights. A region's statistics are those of the positions
its mask weighs (:class:`StyleRegion`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import torch

from .losses import (
    IN_REGION,
    matrix_sqrt,
    mean_and_second_moment,
    positions,
    quantiles,
    relative_squared_error,
    swd_loss,
    w2_distance,
    weighted_gram,
)

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


class StyleTarget(Protocol):
    """One layer's statistics of the painting(s), and the loss of a picture against them."""

    tileable: ClassVar[bool]

    def loss(self, features: torch.Tensor, weights: torch.Tensor | None = None
             ) -> torch.Tensor: ...


class MomentTarget(StyleTarget, Protocol):
    """A target whose loss is a function of averages over positions (it tiles)."""

    def moments(self, features: torch.Tensor, weights: torch.Tensor | None = None
                ) -> tuple[Moments, float]: ...

    def loss_of(self, moments: Moments) -> torch.Tensor: ...


@dataclass(frozen=True)
class GramTarget:
    gram: torch.Tensor  # (C, C)
    tileable: ClassVar[bool] = True

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

    @classmethod
    def build(cls, moments: Sequence[Moments], blend: Sequence[float]) -> GramTarget:
        return cls(_mix(moments, blend)[0])


@dataclass(frozen=True)
class GaussianTarget:
    mean: torch.Tensor  # (C,)
    root: torch.Tensor  # (C, C): square root of the covariance plus the ridge
    ridge: float
    tileable: ClassVar[bool] = True

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
    sorted: torch.Tensor  # (K, M) the painting's values along each, sorted
    tileable: ClassVar[bool] = False
    # The painting's values at a picture's N quantiles, by N: the same at every iteration
    # of a stage, and nearly as costly to interpolate as the picture's sort (conv1_1 at
    # 512 px: 0.2 s an iteration).
    _at_count: dict[int, torch.Tensor] = field(default_factory=dict, init=False, repr=False,
                                               compare=False)

    @functools.cached_property
    def norm(self) -> torch.Tensor:
        """swd_loss's denominator: the painting's mean squared value, summed over directions."""
        return self.sorted.pow(2).mean(1).sum()

    def loss(self, features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        count = (features.shape[-2] * features.shape[-1] if weights is None
                 else int((weights >= IN_REGION).sum()))
        if count not in self._at_count:
            self._at_count[count] = quantiles(self.sorted, count)
        return swd_loss(features, self.projections, self._at_count[count], weights, self.norm)

    @classmethod
    def build(cls, projections: torch.Tensor, sorted_values: Sequence[torch.Tensor],
              blend: Sequence[float]) -> SlicedTarget:
        """The paintings' pooled distribution, each painting's values weighing its blend
        weight in all, at as many quantiles as the largest painting has values."""
        if len(sorted_values) == 1:
            return cls(projections, sorted_values[0])
        count = max(values.shape[1] for values in sorted_values)
        mass = torch.cat([torch.full((values.shape[1],), weight / values.shape[1],
                                     dtype=torch.float64, device=values.device)
                          for values, weight in zip(sorted_values, blend)])
        return cls(projections, mixture_quantiles(torch.cat(list(sorted_values), dim=1), mass,
                                                  count))


def mixture_quantiles(values: torch.Tensor, mass: torch.Tensor, count: int) -> torch.Tensor:
    """(K, count): ``count`` evenly spaced quantiles, at levels (i + 1/2) / count, of K
    weighted sets of values, (K, n) with the probability ``mass`` (n,) of each column;
    the quantile function interpolates linearly between the values' mid-masses, as
    :func:`painterly.losses.quantiles` does for equal masses (where the two agree)."""
    order = values.argsort(dim=1)
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
    cores): moments averaged over all positions, or (swd) the sorted values along each
    direction of ``projections``."""
    gathered: dict[str, list] = {}
    for features in pieces:
        for layer, values in features.items():
            if values.shape[-2] * values.shape[-1] == 0:  # a thin core without positions
                continue
            if kind == "swd":
                part = (projections[layer].T @ positions(values).float().T,)
                count = 1.0
            else:
                part, count = (GramTarget if kind == "gram" else GaussianTarget).moments(values)
            gathered.setdefault(layer, []).append((part, count))
    if kind == "swd":
        return {layer: torch.sort(torch.cat([p[0] for p, _ in parts], dim=1), dim=1).values
                for layer, parts in gathered.items()}
    return {layer: _mix([p for p, _ in parts], [c for _, c in parts])
            for layer, parts in gathered.items()}


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

