"""The objective of a picture too large for the network to see at once, evaluated tile by
tile: the same value and gradient as :class:`~painterly.objective.Objective`'s, with a
tile's memory.

The style loss is global, a function of moments (Gram matrices; means too for w2)
averaged over the whole picture, or over each region, so it takes two passes over the
tiles (:mod:`painterly.tiles` says where they are):

1. without gradients, each tile's core adds its share of every moment, and of the
   content, total-variation and range terms;
2. the loss's gradient with respect to each moment, dL/dM, is then known (a C x C
   matrix, a C vector), and each tile in turn back-propagates its share,
   sum(dL/dM * M_tile) + its local terms, from its core's features to its crop's pixels.

The tiles' gradients, added, are the gradient of the untiled objective up to rounding:
every feature position belongs to exactly one core, and a crop holds every pixel its
core's features see.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from .layers import deepest_layer
from .losses import range_loss, relative_squared_error, tv_pairs, tv_sums
from .objective import RANGE_WEIGHT, LossTerms, Objective
from .style_targets import Moments, MomentTarget
from .tiles import Tile, core_features, core_of, seen_pixels, tile_grid

#: A style target's key: (region index, layer).
Key = tuple[int, str]
#: Each key's moments summed over positions (weighted), and the positions' weight.
Sums = dict[Key, tuple[Moments, float]]

#: The first pass's forward, relative to a forward and backward pass: what tiling adds to
#: the cost of the pixels the network sees.
STATISTICS_PASS = 1 / 3


def iteration_cost(height: int, width: int, tile: int | None, deepest: str) -> float:
    """The work of one evaluation of a ``height`` x ``width`` picture, in pixels through a
    forward and backward pass: all of them, or on tiles of ``tile`` px the crops'
    pixels, margins included, with the statistics pass on top."""
    pixels = seen_pixels(height, width, tile, deepest)
    return float(pixels) if tile is None or max(height, width) <= tile else (
        pixels * (1 + STATISTICS_PASS))


@dataclass(frozen=True)
class TiledObjective:
    """``objective`` evaluated on tiles whose cores are at most ``tile`` px square (its
    targets may be built on tiles too: :func:`painterly.objective.build_objective`).

    Called on an image that requires a gradient, it computes the gradient as well, and
    ``backward()`` of the returned total delivers it to the image."""

    objective: Objective
    tile: int

    def __call__(self, image: torch.Tensor) -> LossTerms:
        objective = self.objective
        image_size = (image.shape[-2], image.shape[-1])
        deepest = deepest_layer(objective.layers)
        tiles = tile_grid(*image_size, self.tile, deepest)
        sums, moments = self._statistics(image.detach(), tiles)
        means = {key: tuple(part / count for part in parts)
                 for key, (parts, count) in moments.items()}
        style = image.new_zeros(())
        for key, values in means.items():
            style = style + self._style_weight(key) * self._target(key).loss_of(values)
        weights = self._weights(image)
        total = objective.style_weight * style + sum(
            weights[name] * sums[name] for name in ("content", "across", "down", "outside"))
        if image.requires_grad:
            slopes = {key: self._slopes(key, values, moments[key][1])
                      for key, values in means.items()}
            gradient = self._gradient(image.detach(), tiles, weights, slopes)
            total = _WithGradient.apply(image, total.detach(), gradient)
        channels, height, width = image.shape[1:]
        tv = image.new_zeros(())  # reported, as by the untiled objective, only when weighted
        if objective.tv_weight > 0:
            tv = (sums["across"] / tv_pairs(channels, height, width - 1)
                  + sums["down"] / tv_pairs(channels, height - 1, width))
        outside = sums["outside"] / image.numel()
        return LossTerms(total, sums["content"], style, tv, outside)

    def _target(self, key: Key) -> MomentTarget:
        region, layer = key
        return self.objective.style_regions[region].targets[layer]  # type: ignore[return-value]

    def _style_weight(self, key: Key) -> float:
        """The region's share times the layer's weight."""
        region, layer = key
        return (self.objective.style_regions[region].share
                * self.objective.style_layer_weights[layer])

    def _slopes(self, key: Key, values: Moments, count: float) -> Moments:
        """style_weight * share * w_l * d(style_l)/dM at the whole picture's moments,
        per unit of a tile's summed moments (divided by the positions' weight): autograd
        of the same loss function the untiled objective uses, on C x C matrices."""
        values = tuple(value.detach().requires_grad_(True) for value in values)
        with torch.enable_grad():
            loss = self._target(key).loss_of(values)
            slopes = torch.autograd.grad(loss, values)
        scale = self.objective.style_weight * self._style_weight(key) / count
        return tuple(slope * scale for slope in slopes)

    @functools.cached_property
    def _content_norm(self) -> torch.Tensor:
        """sum(P^2) of the whole content target, computed once."""
        return self.objective.content_target.float().pow(2).sum()

    def _weights(self, image: torch.Tensor) -> dict[str, float]:
        """The objective's weight of each local sum: the content share is already
        relative; TV and range sums are averaged over the whole picture's pairs and values."""
        objective = self.objective
        channels, height, width = image.shape[1:]
        range_weight = RANGE_WEIGHT * (objective.content_weight + objective.style_weight
                                       + objective.tv_weight)
        return {
            "content": objective.content_weight,
            "across": objective.tv_weight / tv_pairs(channels, height, width - 1),
            "down": objective.tv_weight / tv_pairs(channels, height - 1, width),
            "outside": range_weight / image.numel(),
        }

    def _statistics(self, image: torch.Tensor, tiles: list[Tile]
                    ) -> tuple[dict[str, torch.Tensor], Sums]:
        """Pass 1: the local terms' sums over the tiles' cores, and each style target's
        moments summed over its positions, with the positions' weight."""
        sums: dict[str, torch.Tensor] = {}
        moments: Sums = {}
        with torch.no_grad():
            for tile in tiles:
                parts, shares = self._share(image, tile)
                for name, value in parts.items():
                    sums[name] = sums[name] + value if name in sums else value
                for key, (values, count) in shares.items():
                    if key in moments:
                        earlier, total = moments[key]
                        values, count = tuple(a + b for a, b in zip(earlier, values)), total + count
                    moments[key] = (values, count)
        return sums, moments

    def _gradient(self, image: torch.Tensor, tiles: list[Tile], weights: dict[str, float],
                  slopes: dict[Key, Moments]) -> torch.Tensor:
        """Pass 2: each tile back-propagates its share of the loss to its crop's pixels."""
        gradient = torch.zeros_like(image)
        for tile in tiles:
            crop = image[:, :, tile.rows(), tile.cols()].clone().requires_grad_(True)
            parts, shares = self._share(crop, tile, image_size=image.shape[-2:])
            share = sum(weights[name] * parts[name]
                        for name in ("content", "across", "down", "outside"))
            for key, (values, _count) in shares.items():
                for slope, value in zip(slopes[key], values):
                    share = share + (slope * value).sum()
            share.backward()
            gradient[:, :, tile.rows(), tile.cols()] += crop.grad
        return gradient

    def _share(self, pixels: torch.Tensor, tile: Tile, image_size: torch.Size | None = None
               ) -> tuple[dict[str, torch.Tensor], Sums]:
        """A tile's shares: the content term (already divided by the whole target's
        norm), the TV and range sums, and each style target's moments summed over the
        core's positions (weighted by its region's mask) with their weight. ``pixels``
        is the whole image, or with ``image_size`` the tile's crop of an image of that
        size."""
        objective = self.objective
        if image_size is None:
            size = (pixels.shape[-2], pixels.shape[-1])
            crop = pixels[:, :, tile.rows(), tile.cols()]
        else:
            size, crop = (image_size[0], image_size[1]), pixels
        features = core_features(objective.extractor, crop, objective.layers, tile, size,
                                 objective.compute_dtype)
        parts = _local_sums(crop, tile, size)
        parts["content"] = crop.new_zeros(())
        if objective.content_layer in features:
            target = core_of(objective.content_target, objective.content_layer, tile, size,
                             whole=True)
            parts["content"] = relative_squared_error(
                features[objective.content_layer], target, norm=self._content_norm)
        shares: Sums = {}
        regions = objective.style_regions if objective.style_weight > 0 else ()
        for index, region in enumerate(regions):
            for layer in region.targets:
                core = features[layer]
                if not core.shape[-2] * core.shape[-1]:  # a thin last core without positions
                    continue
                mask = None if region.masks is None else core_of(
                    region.masks[layer], layer, tile, size, whole=True)
                values, count = self._target((index, layer)).moments(core, mask)
                if count > 0:
                    shares[(index, layer)] = (tuple(value * count for value in values), count)
        return parts, shares


def _local_sums(crop: torch.Tensor, tile: Tile, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The TV sums of the pairs that start in the tile's core, and the range sum over it.
    The crop holds the row and column after the core wherever the picture goes on."""
    top, left = tile.core[0] - tile.crop[0], tile.core[2] - tile.crop[2]
    rows, cols = tile.core[1] - tile.core[0], tile.core[3] - tile.core[2]
    region = crop[:, :, top: top + rows + 1, left: left + cols + 1]
    across, down = tv_sums(region, rows, cols)
    core = region[:, :, :rows, :cols]
    return {"across": across, "down": down, "outside": range_loss(core) * core.numel()}


class _WithGradient(torch.autograd.Function):
    """A loss value whose gradient with respect to ``image`` was computed beforehand."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, value: torch.Tensor,
                gradient: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(gradient)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (gradient,) = ctx.saved_tensors
        # In place: an image-sized vector (600 MB at 8192 px) not copied; backward runs once.
        return gradient.mul_(grad_output), None, None
