"""What one tile of a tiled evaluation (:mod:`painterly.tiling`) contributes: the local
terms of its core (the content term, on the picture the TV and range sums), each style
target's features over its core, and, split, its core's part of the map CUT's pool makes;
from a run of its crop, with its graph or without, or, replayed (:mod:`painterly.replay`),
from the record its first pass kept.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import torch

from . import replay
from .layers import LAYERS, deepest_layer
from .losses import range_loss, relative_squared_error, tv_sums
from .objective import Objective
from .tiles import AFTER_CUT, CUT, Split, Tile, core_features, core_of, cores_of, stride

#: A style target's key: (region index, layer).
Key = tuple[int, str]
#: Each key's features in a tile's core, and its region's weights there (None: all).
Cores = dict[Key, tuple[torch.Tensor, "torch.Tensor | None"]]


@dataclass(frozen=True)
class TileTerms:
    """A tile's crop of the image and its terms, with their graph where the crop wants
    a gradient."""

    tile: Tile
    crop: torch.Tensor
    parts: dict[str, torch.Tensor]
    cores: Cores
    cut: torch.Tensor | None
    #: Replayed: the tile's record, and the responses its losses read, as leaves.
    record: replay.Record | None = None
    leaves: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class TileReader:
    """Reads tiles' terms for ``objective``: the network from ``start`` to the deepest
    of ``layers``, ``split`` at CUT (its pool's map then comes with the terms)."""

    objective: Objective
    start: str
    split: Split
    layers: frozenset[str]

    @functools.cached_property
    def read(self) -> frozenset[str]:
        """The layers a loss reads (a split's CUT only feeds its pool)."""
        return self.layers & frozenset(self.objective.layers)

    def crop(self, image: torch.Tensor, tile: Tile) -> torch.Tensor:
        """The tile's crop of ``image`` (a view), the picture or from ``start`` its map."""
        step = stride(self.start)
        return image[:, :, tile.rows(step), tile.cols(step)]

    def run(self, image: torch.Tensor, tile: Tile, size: tuple[int, int], gradient: bool
            ) -> TileTerms:
        """A tile's crop of ``image`` (a picture of ``size``, or its map) and its terms,
        with their graph if ``gradient``."""
        crop = self.crop(image, tile).clone().requires_grad_(gradient)
        with torch.set_grad_enabled(gradient):
            objective = self.objective
            features = core_features(objective.extractor, crop, self.layers, tile, size,
                                     objective.compute_dtype, self.start)
            cut = None if self.split is Split.NONE else objective.extractor.pool(features[CUT])
            return TileTerms(tile, crop, *self._terms(crop, features, tile, size), cut)

    def recorded(self, image: torch.Tensor, tile: Tile, size: tuple[int, int]) -> TileTerms:
        """A tile's terms from a run that keeps its :class:`~painterly.replay.Record`,
        without gradients."""
        crop = self.crop(image, tile)
        features, pooled, record = replay.forward(
            self.objective.extractor, crop, self.read, deepest_layer(self.layers), self.start,
            pools=self.split is not Split.NONE,
            dtype=self.objective.compute_dtype or torch.float32)
        with torch.no_grad():
            cut = None if pooled is None else core_of(pooled, AFTER_CUT, tile, size).contiguous(
                memory_format=torch.channels_last)
            parts, cores = self._terms(crop, cores_of(features, tile, size), tile, size)
        return TileTerms(tile, crop, parts, cores, cut, record)

    def replayed(self, image: torch.Tensor, tile: Tile, record: replay.Record,
                 size: tuple[int, int], gradient: bool) -> TileTerms:
        """A tile's terms for pass 2 from its ``record``: the layers the losses read
        recomputed from their kept inputs, as leaves whose gradients (with ``gradient``)
        are the slopes :func:`painterly.replay.backward` takes back (:meth:`gradient`)."""
        crop = self.crop(image, tile).clone().requires_grad_(gradient)
        leaves = {layer: value.requires_grad_(gradient) for layer, value in replay.recompute(
            self.objective.extractor, crop.detach(), record, self.read).items()}
        with torch.set_grad_enabled(gradient):
            parts, cores = self._terms(crop, cores_of(leaves, tile, size), tile, size)
        return TileTerms(tile, crop, parts, cores, None, record, leaves)

    def gradient(self, terms: TileTerms, share: torch.Tensor,
                 cut_gradient: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """The gradient of a tile's ``share`` of the loss at its crop, from ``terms``
        (:meth:`run` with a gradient, or :meth:`replayed`), with the deep part's
        ``cut_gradient`` at the map CUT's pool makes (split)."""
        if terms.record is None:
            if cut_gradient is not None:
                share = share + (terms.cut * core_of(cut_gradient, AFTER_CUT, terms.tile, size,
                                                     whole=True)).sum()
            share.backward()
            return terms.crop.grad
        # Replayed: the slopes at the layers read, and the cut's, taken back by hand.
        if share.requires_grad:
            share.backward()
        record = terms.record
        slopes = {layer: leaf.grad for layer, leaf in terms.leaves.items()
                  if leaf.grad is not None}
        pooled = None
        if cut_gradient is not None:
            pooled = torch.empty(replay.pooled_shape(record), dtype=cut_gradient.dtype,
                                 memory_format=torch.channels_last).zero_()
            core_of(pooled, AFTER_CUT, terms.tile, size).copy_(
                core_of(cut_gradient, AFTER_CUT, terms.tile, size, whole=True))
        crop_gradient = replay.backward(self.objective.extractor, record, slopes, pooled,
                                        terms.crop.dtype)
        # The picture's own terms (TV, range) reach the crop through autograd.
        return crop_gradient if terms.crop.grad is None else crop_gradient.add_(terms.crop.grad)

    def _terms(self, crop: torch.Tensor, features: dict[str, torch.Tensor], tile: Tile,
               size: tuple[int, int]) -> tuple[dict[str, torch.Tensor], Cores]:
        """A tile's local terms: the content term (already divided by the whole target's
        norm), on the picture the TV and range sums; each style target's core features
        (``features``, the core's) with its region's weights there. ``crop`` is the
        tile's of a picture of ``size`` (or of its map)."""
        objective = self.objective
        parts = _local_sums(crop, tile, size) if self.start == LAYERS[0] else {}
        parts["content"] = crop.new_zeros((), dtype=torch.float32)
        if objective.content_layer in features:
            target = core_of(objective.content_target, objective.content_layer, tile, size,
                             whole=True)
            parts["content"] = relative_squared_error(
                features[objective.content_layer], target, norm=objective.content_norm)
        cores: Cores = {}
        regions = objective.style_regions if objective.style_weight > 0 else ()
        for index, region in enumerate(regions):
            for layer in set(region.targets) & set(features):
                core = features[layer]
                if not core.shape[-2] * core.shape[-1]:  # a thin last core without positions
                    continue
                cores[(index, layer)] = (core, None if region.masks is None else core_of(
                    region.masks[layer], layer, tile, size, whole=True))
        return parts, cores


def _local_sums(crop: torch.Tensor, tile: Tile, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The TV sums of the pairs that start in the tile's core, and the range sum over it.
    The crop holds the row and column after the core wherever the picture goes on."""
    top, left = tile.core[0] - tile.crop[0], tile.core[2] - tile.crop[2]
    rows, cols = tile.core[1] - tile.core[0], tile.core[3] - tile.core[2]
    region = crop[:, :, top: top + rows + 1, left: left + cols + 1]
    across, down = tv_sums(region, rows, cols)
    core = region[:, :, :rows, :cols]
    return {"across": across, "down": down, "outside": range_loss(core) * core.numel()}
