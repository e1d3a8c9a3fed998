"""The objective of a picture too large for the network to see at once, evaluated tile by
tile: the same value and gradient as :class:`~painterly.objective.Objective`'s, with a
tile's memory.

The style loss is global, a function of moments (Gram matrices; means too for w2;
swd's histograms) gathered over the whole picture, or over each region, so it takes two
passes over the tiles (:mod:`painterly.tiles` says where they are):

1. without gradients, each tile's core adds its share of every moment, and of the
   content, total-variation and range terms; the last tile keeps its terms (with their
   graph where a gradient is wanted), so that pass 2 starts from it instead of running
   it again;
2. each target then settles its loss at the whole picture's moments
   (:meth:`~painterly.style_targets.StyleTarget.settle`): for gram and w2 the slopes
   dL/dM make a tile's part sum(dL/dM * M_tile); for swd the histograms give every
   value its target. Each tile in turn back-propagates its parts and its local terms
   from its core's features to its crop's pixels. swd's loss is the sum of its parts,
   so this pass also runs, without gradients, for its value alone.

The tiles' gradients, added, are the gradient of the untiled objective up to rounding:
every feature position belongs to exactly one core, and a crop holds every pixel its
core's features see.

*Split* (where memory allows: :func:`painterly.tiling_plan.fit_tiling`), the tiles run the
network only to CUT, with margins for its reach (32 px, not conv5_1's 80), and pass 1
also gathers their cores' part of the map CUT's pool makes (a 64th of the pixels). The
deep part (conv4_1 on) runs once on that whole map between the passes: its loss terms
are the untiled objective's own, and its gradient at the map goes back through the
tiles in pass 2 with their own parts. The deep layers no longer run twice, nor on
margins: at 4096 px an evaluation costs 0.85-0.9 of the unsplit one. Where the whole map's
deep part does not fit (8192 px), it is itself a tiled objective from AFTER_CUT's input
on that map (``start``), on tiles DEEP_TILE_FACTOR times the side: its margins are the
deep layers' reach only (48 px), and its two passes run a 64th of the pixels.

*Replayed* (``replay``: the network in bfloat16 or float32 on the CPU, by any
convolutions but NNPACK's, where the records fit), pass 1 keeps of each tile what its
gradient needs (:mod:`painterly.replay`: the ReLUs' and pools' decisions as bits, the
inputs of the layers the losses read), and pass 2 recomputes only those layers and takes
the slopes back by hand: no tile's forward runs twice (at 4096 px an iteration 0.86x).
What one tile contributes, run or replayed, is :mod:`painterly.tile_terms`'s.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from .allocator import keeping_freed_memory
from .layers import LAYERS, deepest_layer
from .losses import tv_pairs
from .objective import RANGE_WEIGHT, LossTerms, Objective
from .style_targets import Moments, Settled, StyleTarget
from .tile_terms import Cores, Key, TileReader, TileTerms
from .tiles import AFTER_CUT, CUT, DEEP_TILE_FACTOR, Split, Tile, assemble, splits, tile_grid

#: Each key's moments summed over positions (weighted), and the positions' weight.
Sums = dict[Key, tuple[Moments, float]]

#: A tile side no picture reaches: one tile, the whole map.
_WHOLE = 1 << 30


@dataclass(frozen=True)
class TiledObjective:
    """``objective`` evaluated on tiles whose cores are at most ``tile`` px square (its
    targets may be built on tiles too: :func:`painterly.objective.build_objective`).
    With ``start``, the input is the map that layer takes, and the terms are those of
    the layers from there on.

    Called on an image that requires a gradient, it computes the gradient as well, and
    ``backward()`` of the returned total delivers it to the image. With ``replay``, pass
    2 takes each tile's gradient from what pass 1 kept of it (:mod:`painterly.replay`:
    the network in bfloat16 on the CPU) instead of running its forward again."""

    objective: Objective
    tile: int
    split: Split = Split.NONE
    start: str = LAYERS[0]
    replay: bool = False

    def __call__(self, image: torch.Tensor, size: tuple[int, int] | None = None) -> LossTerms:
        """The terms at ``image`` (from ``start``, a map of a picture of ``size``)."""
        objective = self.objective
        size = (image.shape[-2], image.shape[-1]) if size is None else size
        tiles = tile_grid(*size, self.tile, deepest_layer(self._tile_layers), self.start)
        # One tile keeps its graph for pass 2; more replay theirs where they can.
        replaying = self.replay and len(tiles) > 1
        # A tiled deep part keeps no tile's graph through it: memory for one or the other.
        keep = self._split is not Split.TILED and not replaying
        sums, moments, kept, cuts = self._statistics(image.detach(), tiles, size, keep,
                                                     image.requires_grad, replaying)
        settled = {key: self._target(key).settle(tuple(part / count for part in parts), count)
                   for key, (parts, count) in moments.items()}
        style = image.new_zeros(())
        for key, term in settled.items():
            if term.value is not None:
                style = style + self._style_weight(key) * term.value
        weights = self._weights(image)
        local = sum(weights[name] * value for name, value in sums.items())
        cut_gradient = None
        if cuts:
            content, deep_style, cut_gradient = self._deep(cuts, size, image.requires_grad)
            sums["content"] = sums["content"] + content
            local = local + objective.content_weight * content
            style = style + deep_style
        gradient = None
        if image.requires_grad or any(term.value is None for term in settled.values()):
            gradient, rest = self._parts(image.detach(), tiles, size, weights, settled, kept,
                                         cut_gradient, image.requires_grad)
            style = style + rest
        total = objective.style_weight * style + local
        if gradient is not None:
            total = _WithGradient.apply(image, total.detach(), gradient)
        channels, height, width = image.shape[1:]
        tv = outside = image.new_zeros(())
        if "outside" in sums:  # the picture's own terms: none on a map
            outside = sums["outside"] / image.numel()
        if objective.tv_weight > 0 and "across" in sums:  # reported, as untiled, when weighted
            tv = (sums["across"] / tv_pairs(channels, height, width - 1)
                  + sums["down"] / tv_pairs(channels, height - 1, width))
        return LossTerms(total, sums["content"], style, tv, outside)

    def _target(self, key: Key) -> StyleTarget:
        region, layer = key
        return self.objective.style_regions[region].targets[layer]

    def _style_weight(self, key: Key) -> float:
        """The region's share times the layer's weight."""
        region, layer = key
        return (self.objective.style_regions[region].share
                * self.objective.style_layer_weights[layer])

    @functools.cached_property
    def _split(self) -> Split:
        """Where this evaluation runs the layers past CUT: as asked, where its losses
        reach past it."""
        return self.split if splits(deepest_layer(self.objective.layers)) else Split.NONE

    @functools.cached_property
    def _tile_layers(self) -> frozenset[str]:
        """The layers the tiles' crops run to: all from ``start`` on, or split, the
        shallow ones and CUT."""
        first = LAYERS.index(self.start)
        layers = frozenset(layer for layer in self.objective.layers
                           if LAYERS.index(layer) >= first)
        if self._split is Split.NONE:
            return layers
        cut = LAYERS.index(CUT)
        return frozenset(layer for layer in layers if LAYERS.index(layer) <= cut) | {CUT}

    @functools.cached_property
    def _deep_part(self) -> TiledObjective:
        """A split evaluation's deep part: the objective from AFTER_CUT's input, the map
        CUT's pool makes, on one tile or on tiles DEEP_TILE_FACTOR times the side."""
        side = self.tile * DEEP_TILE_FACTOR if self._split is Split.TILED else _WHOLE
        return TiledObjective(self.objective, side, start=AFTER_CUT, replay=self.replay)

    @functools.cached_property
    def _reader(self) -> TileReader:
        return TileReader(self.objective, self.start, self._split, self._tile_layers)

    def _deep(self, cuts: list[tuple[Tile, torch.Tensor]], size: tuple[int, int],
              gradient: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The deep part of a split evaluation of a picture of ``size``, on the map the
        tiles' ``cuts`` make (emptied: the map held once): the content term where its
        layer is deep, the deep layers' weighted style terms, and, with ``gradient``,
        their weighted sum's gradient at the map."""
        parts = assemble(cuts)
        cuts.clear()
        parts.requires_grad_(gradient)
        terms = self._deep_part(parts, size)
        if gradient:
            terms.total.backward()
        return terms.content.detach(), terms.style.detach(), parts.grad

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

    def _statistics(self, image: torch.Tensor, tiles: list[Tile], size: tuple[int, int],
                    keep_last: bool, gradient: bool, replaying: bool = False
                    ) -> tuple[dict[str, torch.Tensor], Sums, list[TileTerms],
                               list[tuple[Tile, torch.Tensor]]]:
        """Pass 1: the local terms' sums over the tiles' cores, and each style target's
        moments summed over its positions, with the positions' weight. With
        ``keep_last``, the last tile's terms are kept (the list returned; with their graph
        for a ``gradient``) for pass 2, which then starts from them instead of running it
        again: a tile's forward pass saved, at no more memory than pass 2's own tiles
        hold. ``replaying``, every tile's terms come instead with the record pass 2 takes its
        gradient from (:mod:`painterly.replay`), in order, and none keeps a graph. Split,
        each tile's part of the map CUT's pool makes comes too (the last list)."""
        sums: dict[str, torch.Tensor] = {}
        moments: Sums = {}
        cuts: list[tuple[Tile, torch.Tensor]] = []
        if replaying:
            records = []
            with keeping_freed_memory():
                for tile in tiles:
                    terms = self._reader.recorded(image, tile, size)
                    self._gather(tile, terms.parts, terms.cores, terms.cut, sums, moments, cuts)
                    records.append(TileTerms(tile, terms.crop, {}, {}, None, terms.record))
            return sums, moments, records, cuts
        with keeping_freed_memory(), torch.no_grad():
            for tile in tiles[:-1] if keep_last else tiles:
                terms = self._reader.run(image, tile, size, False)
                self._gather(tile, terms.parts, terms.cores, terms.cut, sums, moments, cuts)
        if not keep_last:
            return sums, moments, [], cuts
        # After the trim that ends the others: laid among their freed blocks, the graph
        # peaked 0.11 GB higher (3.07 against 2.96 GB, 2048 px on tiles of 1024 px).
        with keeping_freed_memory():
            kept = self._reader.run(image, tiles[-1], size, gradient)
            with torch.no_grad():
                self._gather(kept.tile, kept.parts, kept.cores, kept.cut, sums, moments, cuts)
        return sums, moments, [kept], cuts

    def _gather(self, tile: Tile, parts: dict[str, torch.Tensor], cores: Cores,
                cut: torch.Tensor | None, sums: dict[str, torch.Tensor], moments: Sums,
                cuts: list[tuple[Tile, torch.Tensor]]) -> None:
        """Adds a tile's local sums to ``sums``, its style targets' moments, times
        their positions' weight, to ``moments``, and its ``cut`` (split) to ``cuts``."""
        if cut is not None:
            cuts.append((tile, cut.detach()))
        for name, value in parts.items():
            sums[name] = sums[name] + value if name in sums else value.detach()
        for key, (core, mask) in cores.items():
            values, count = self._target(key).moments(core, mask)
            if count == 0:
                continue
            values = tuple(value * count for value in values)
            if key in moments:
                earlier, total = moments[key]
                values, count = tuple(a + b for a, b in zip(earlier, values)), total + count
            moments[key] = (values, count)

    def _parts(self, image: torch.Tensor, tiles: list[Tile], size: tuple[int, int],
               weights: dict[str, float], settled: dict[Key, Settled], kept: list[TileTerms],
               cut_gradient: torch.Tensor | None, wanted: bool
               ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Pass 2: each tile back-propagates its parts of the loss to its crop's pixels
        where a gradient is ``wanted`` (the tile pass 1 ``kept`` first, taken from the
        list so that its memory goes once it is done); returns the gradient, and the
        weighted sum of the parts of the targets whose loss is their parts' sum (swd).
        Split, ``cut_gradient`` is the deep part's gradient at the map CUT's pool makes,
        which each tile's part of it takes back to its pixels."""
        gradient = torch.zeros_like(image) if wanted else None  # not a tile's memory
        rest = image.new_zeros(())
        with keeping_freed_memory():
            if kept and kept[0].record is not None:  # replayed, every tile
                for index, tile in enumerate(tiles):
                    record, kept[index] = kept[index].record, None  # its memory goes after
                    rest = rest + self._back_propagate(
                        self._reader.replayed(image, tile, record, size, wanted), weights, settled,
                        gradient, cut_gradient, size)
                return gradient, rest
            if kept:
                rest = rest + self._back_propagate(kept.pop(), weights, settled, gradient,
                                                   cut_gradient, size)
                tiles = tiles[:-1]
            for tile in tiles:
                rest = rest + self._back_propagate(self._reader.run(image, tile, size, wanted),
                                                   weights, settled, gradient, cut_gradient,
                                                   size)
        return gradient, rest

    def _back_propagate(self, terms: TileTerms, weights: dict[str, float],
                        settled: dict[Key, Settled], gradient: torch.Tensor | None,
                        cut_gradient: torch.Tensor | None, size: tuple[int, int]
                        ) -> torch.Tensor:
        """A tile's share of the loss, from its crop's terms, back-propagated into
        ``gradient`` (None: not), with the deep part's ``cut_gradient`` at its cut;
        returns, detached, the weighted parts of the targets whose loss is their parts'
        sum (swd)."""
        share = sum(weights[name] * part for name, part in terms.parts.items())
        summed = terms.crop.new_zeros(())
        for key, (core, mask) in terms.cores.items():
            if key not in settled:
                continue
            part = settled[key].part(core, mask) * self._style_weight(key)
            share = share + self.objective.style_weight * part
            if settled[key].value is None:
                summed = summed + part.detach()
        if gradient is not None:  # into its view
            self._reader.crop(gradient, terms.tile).add_(
                self._reader.gradient(terms, share, cut_gradient, size))
        return summed

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
