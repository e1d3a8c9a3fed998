"""The objective of a picture too large for the network to see at once, evaluated tile by
tile: the same value and gradient as :class:`~painterly.objective.Objective`'s, with a
tile's memory.

The style loss is global, a function of moments (Gram matrices; means too for w2;
swd's histograms) gathered over the whole picture, or over each region, so it takes two
passes over the tiles (:mod:`painterly.tiles` says where they are):

1. without gradients, each tile's core adds its share of every moment, and of the
   content, total-variation and range terms; the last tile, where a gradient is
   wanted, keeps its graph, so that pass 2 starts from it instead of running it again;
2. each target then settles its loss at the whole picture's moments
   (:meth:`~painterly.style_targets.StyleTarget.settle`): for gram and w2 the slopes
   dL/dM make a tile's part sum(dL/dM * M_tile); for swd the histograms give every
   value its target. Each tile in turn back-propagates its parts and its local terms
   from its core's features to its crop's pixels. swd's loss is the sum of its parts,
   so this pass also runs, without gradients, for its value alone.

The tiles' gradients, added, are the gradient of the untiled objective up to rounding:
every feature position belongs to exactly one core, and a crop holds every pixel its
core's features see.

*Split* (where memory allows: :func:`painterly.memory.fit_tiling`), the tiles run the
network only to CUT, with margins for its reach (32 px, not conv5_1's 80), and pass 1
also gathers their cores' part of the map CUT's pool makes (a 64th of the pixels). The
deep part (conv4_1 on) runs once on that whole map between the passes: its loss terms
are the untiled objective's own, and its gradient at the map goes back through the
tiles in pass 2 with their own parts. The deep layers no longer run twice, nor on
margins: at 4096 px an evaluation costs 0.85-0.9 of the unsplit one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from .allocator import tiles_keep_freed_memory
from .layers import LAYERS, deepest_layer
from .losses import content_loss, range_loss, relative_squared_error, tv_pairs, tv_sums
from .objective import RANGE_WEIGHT, LossTerms, Objective
from .style_targets import Moments, Settled, StyleTarget, region_loss
from .tiles import Tile, assemble, core_features, core_of, seen_pixels, tile_grid
from .vgg import VGG19Features

#: A style target's key: (region index, layer).
Key = tuple[int, str]
#: Each key's moments summed over positions (weighted), and the positions' weight.
Sums = dict[Key, tuple[Moments, float]]
#: Each key's features in a tile's core, and its region's weights there (None: all).
Cores = dict[Key, tuple[torch.Tensor, "torch.Tensor | None"]]

#: What tiling adds to the cost of the pixels the network sees, relative to a forward and
#: backward pass: the statistics pass's forward (but for the last tile's), swd's
#: projections a second time. Fitted to the 4096 px command (benchmarks/README.md): with
#: bf16 on tiles of 1472 px (session 22) its stage took 370 s where 0.3 said 412; in fp32
#: with Winograd's convolutions on tiles of 960 px (session 21) 558 s where 0.3 said 732.
TILED_EXTRA = 0.15
#: The last layer of a split evaluation's shallow part: its tiles need margins for this
#: layer's reach only (32 px, against conv5_1's 80), and its pool's output, a 64th of the
#: pixels, feeds the deep part whole.
CUT = "conv3_4"
#: The first layer of the deep part.
AFTER_CUT = LAYERS[LAYERS.index(CUT) + 1]
#: The share of a split evaluation's work :func:`iteration_cost` gives its tiles (the
#: shallow part, run twice), the rest going to the deep part, run once on the whole
#: picture. Fitted to single evaluations with bf16 (session 23, benchmarks/README.md):
#: 4096 px on tiles of 1472 px 83-88 s where unsplit took 95-98 s; 2048 px on tiles of
#: 1024 px 18.5-19.6 s where unsplit took 22.1-23.4 s.
SPLIT_SHALLOW = 0.85


def splits(deepest: str) -> bool:
    """Whether an evaluation whose losses reach ``deepest`` can be split at CUT."""
    return LAYERS.index(deepest) > LAYERS.index(CUT)


def iteration_cost(height: int, width: int, tile: int | None, deepest: str,
                   split: bool = False) -> float:
    """The work of one evaluation of a ``height`` x ``width`` picture, in pixels through a
    forward and backward pass: all of them, or on tiles of ``tile`` px the crops'
    pixels, margins included, with the statistics pass on top; ``split``, SPLIT_SHALLOW
    of that on the shallow part's crops, the rest on the picture's pixels."""
    if tile is None or max(height, width) <= tile:
        return float(height * width)
    if split and splits(deepest):
        shallow = seen_pixels(height, width, tile, CUT) * (1 + TILED_EXTRA)
        return shallow * SPLIT_SHALLOW + height * width * (1 - SPLIT_SHALLOW)
    return seen_pixels(height, width, tile, deepest) * (1 + TILED_EXTRA)


@dataclass(frozen=True)
class TiledObjective:
    """``objective`` evaluated on tiles whose cores are at most ``tile`` px square (its
    targets may be built on tiles too: :func:`painterly.objective.build_objective`).

    Called on an image that requires a gradient, it computes the gradient as well, and
    ``backward()`` of the returned total delivers it to the image."""

    objective: Objective
    tile: int
    split: bool = False

    def __call__(self, image: torch.Tensor) -> LossTerms:
        objective = self.objective
        image_size = (image.shape[-2], image.shape[-1])
        tiles = tile_grid(*image_size, self.tile, deepest_layer(self._tile_layers))
        sums, moments, kept, cuts = self._statistics(image.detach(), tiles, image.requires_grad)
        settled = {key: self._target(key).settle(tuple(part / count for part in parts), count)
                   for key, (parts, count) in moments.items()}
        style = image.new_zeros(())
        for key, term in settled.items():
            if term.value is not None:
                style = style + self._style_weight(key) * term.value
        weights = self._weights(image)
        local = sum(weights[name] * sums[name] for name in ("content", "across", "down", "outside"))
        cut_gradient = None
        if cuts:
            content, deep_style, cut_gradient = self._deep(assemble(cuts), image.requires_grad)
            sums["content"] = sums["content"] + content
            local = local + objective.content_weight * content
            style = style + deep_style
        gradient = None
        if image.requires_grad or any(term.value is None for term in settled.values()):
            gradient, rest = self._parts(image.detach(), tiles, weights, settled, kept,
                                         cut_gradient)
            style = style + rest
        total = objective.style_weight * style + local
        if gradient is not None:
            total = _WithGradient.apply(image, total.detach(), gradient)
        channels, height, width = image.shape[1:]
        tv = image.new_zeros(())  # reported, as by the untiled objective, only when weighted
        if objective.tv_weight > 0:
            tv = (sums["across"] / tv_pairs(channels, height, width - 1)
                  + sums["down"] / tv_pairs(channels, height - 1, width))
        outside = sums["outside"] / image.numel()
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
    def _split(self) -> bool:
        """Whether this evaluation splits the network at CUT: asked to, and reaching past it."""
        return self.split and splits(deepest_layer(self.objective.layers))

    @functools.cached_property
    def _tile_layers(self) -> frozenset[str]:
        """The layers the tiles' crops run to: all, or split, the shallow ones and CUT."""
        if not self._split:
            return self.objective.layers
        cut = LAYERS.index(CUT)
        return frozenset(layer for layer in self.objective.layers
                         if LAYERS.index(layer) <= cut) | {CUT}

    def _deep(self, cuts: torch.Tensor, gradient: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The deep part of a split evaluation, whole, on the map CUT's pool makes
        (``cuts``): the content term where its layer is deep, the deep layers' weighted
        style terms, and, with ``gradient``, their weighted sum's gradient at ``cuts``."""
        objective = self.objective
        deep = [layer for layer in objective.layers if layer not in self._tile_layers]
        cuts.requires_grad_(gradient)
        with torch.set_grad_enabled(gradient):
            features = _extract(objective.extractor, cuts, deep, objective.compute_dtype)
            content = cuts.new_zeros((), dtype=torch.float32)
            if objective.content_layer in features:
                content = content_loss(features[objective.content_layer], objective.content_target)
            style = torch.zeros_like(content)
            regions = objective.style_regions if objective.style_weight > 0 else ()
            for region in regions:
                style = style + region_loss(region, features, objective.style_layer_weights,
                                            only=features)
            if not gradient:
                return content, style, None
            (objective.content_weight * content + objective.style_weight * style).backward()
        return content.detach(), style.detach(), cuts.grad

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

    def _statistics(self, image: torch.Tensor, tiles: list[Tile], keep_last: bool
                    ) -> tuple[dict[str, torch.Tensor], Sums, list[_TileTerms],
                               list[tuple[Tile, torch.Tensor]]]:
        """Pass 1: the local terms' sums over the tiles' cores, and each style target's
        moments summed over its positions, with the positions' weight. With
        ``keep_last``, the last tile runs with its graph kept (the list returned) for
        pass 2, which then starts from it instead of running it again: a tile's forward
        pass saved, at no more memory than pass 2's own tiles hold. Split, each tile's
        part of the map CUT's pool makes comes too (the last list)."""
        sums: dict[str, torch.Tensor] = {}
        moments: Sums = {}
        cuts: list[tuple[Tile, torch.Tensor]] = []
        with tiles_keep_freed_memory(), torch.no_grad():
            for tile in tiles[:-1] if keep_last else tiles:
                self._gather(tile, *self._tile(image, tile), sums, moments, cuts)
        if not keep_last:
            return sums, moments, [], cuts
        # After the trim that ends the others: laid among their freed blocks, the graph
        # peaked 0.11 GB higher (3.07 against 2.96 GB, 2048 px on tiles of 1024 px).
        with tiles_keep_freed_memory():
            kept = self._run(image, tiles[-1], True)
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

    def _parts(self, image: torch.Tensor, tiles: list[Tile], weights: dict[str, float],
               settled: dict[Key, Settled], kept: list[_TileTerms],
               cut_gradient: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Pass 2: each tile back-propagates its parts of the loss to its crop's pixels
        (where pass 1 ``kept`` a tile's graph, the image wants a gradient: that tile
        first, taken from the list so that its memory goes once it is done); returns the
        gradient, and the weighted sum of the parts of the targets whose loss is their
        parts' sum (swd). Split, ``cut_gradient`` is the deep part's gradient at the map
        CUT's pool makes, which each tile's part of it takes back to its pixels."""
        gradient = torch.zeros_like(image) if kept else None  # not a tile's memory
        rest = image.new_zeros(())
        size = (image.shape[-2], image.shape[-1])
        with tiles_keep_freed_memory():
            if kept:
                rest = rest + self._back_propagate(kept.pop(), weights, settled, gradient,
                                                   cut_gradient, size)
                tiles = tiles[:-1]
            for tile in tiles:
                rest = rest + self._back_propagate(self._run(image, tile, gradient is not None),
                                                   weights, settled, gradient, cut_gradient,
                                                   size)
        return gradient, rest

    def _run(self, image: torch.Tensor, tile: Tile, gradient: bool) -> _TileTerms:
        """A tile's crop of ``image`` and its terms, with their graph if ``gradient``."""
        crop = image[:, :, tile.rows(), tile.cols()].clone().requires_grad_(gradient)
        with torch.set_grad_enabled(gradient):
            return _TileTerms(tile, crop, *self._tile(crop, tile, image_size=image.shape[-2:]))

    def _back_propagate(self, terms: _TileTerms, weights: dict[str, float],
                        settled: dict[Key, Settled], gradient: torch.Tensor | None,
                        cut_gradient: torch.Tensor | None, size: tuple[int, int]
                        ) -> torch.Tensor:
        """A tile's share of the loss, from its crop's terms, back-propagated into
        ``gradient`` (None: not), with the deep part's ``cut_gradient`` at its cut;
        returns, detached, the weighted parts of the targets whose loss is their parts'
        sum (swd)."""
        share = sum(weights[name] * terms.parts[name]
                    for name in ("content", "across", "down", "outside"))
        summed = terms.crop.new_zeros(())
        for key, (core, mask) in terms.cores.items():
            if key not in settled:
                continue
            part = settled[key].part(core, mask) * self._style_weight(key)
            share = share + self.objective.style_weight * part
            if settled[key].value is None:
                summed = summed + part.detach()
        if gradient is not None:
            if cut_gradient is not None:
                share = share + (terms.cut * core_of(cut_gradient, AFTER_CUT, terms.tile, size,
                                                     whole=True)).sum()
            share.backward()
            gradient[:, :, terms.tile.rows(), terms.tile.cols()] += terms.crop.grad
        return summed

    def _tile(self, pixels: torch.Tensor, tile: Tile, image_size: torch.Size | None = None
              ) -> tuple[dict[str, torch.Tensor], Cores, torch.Tensor | None]:
        """A tile's local terms: the content term (already divided by the whole target's
        norm), the TV and range sums; each style target's core features with its
        region's weights there; split, its core's part of the map CUT's pool makes
        (else None). ``pixels`` is the whole image, or with ``image_size`` the tile's
        crop of an image of that size."""
        objective = self.objective
        if image_size is None:
            size = (pixels.shape[-2], pixels.shape[-1])
            crop = pixels[:, :, tile.rows(), tile.cols()]
        else:
            size, crop = (image_size[0], image_size[1]), pixels
        features = core_features(objective.extractor, crop, self._tile_layers, tile, size,
                                 objective.compute_dtype)
        parts = _local_sums(crop, tile, size)
        parts["content"] = crop.new_zeros(())
        if objective.content_layer in features:
            target = core_of(objective.content_target, objective.content_layer, tile, size,
                             whole=True)
            parts["content"] = relative_squared_error(
                features[objective.content_layer], target, norm=self._content_norm)
        cores: Cores = {}
        regions = objective.style_regions if objective.style_weight > 0 else ()
        for index, region in enumerate(regions):
            for layer in set(region.targets) & set(features):
                core = features[layer]
                if not core.shape[-2] * core.shape[-1]:  # a thin last core without positions
                    continue
                cores[(index, layer)] = (core, None if region.masks is None else core_of(
                    region.masks[layer], layer, tile, size, whole=True))
        cut = objective.extractor.pool(features[CUT]) if self._split else None
        return parts, cores, cut


@dataclass(frozen=True)
class _TileTerms:
    """A tile's crop of the image and its terms (:meth:`TiledObjective._tile`), with
    their graph where the crop wants a gradient."""

    tile: Tile
    crop: torch.Tensor
    parts: dict[str, torch.Tensor]
    cores: Cores
    cut: torch.Tensor | None


def _local_sums(crop: torch.Tensor, tile: Tile, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The TV sums of the pairs that start in the tile's core, and the range sum over it.
    The crop holds the row and column after the core wherever the picture goes on."""
    top, left = tile.core[0] - tile.crop[0], tile.core[2] - tile.crop[2]
    rows, cols = tile.core[1] - tile.core[0], tile.core[3] - tile.core[2]
    region = crop[:, :, top: top + rows + 1, left: left + cols + 1]
    across, down = tv_sums(region, rows, cols)
    core = region[:, :, :rows, :cols]
    return {"across": across, "down": down, "outside": range_loss(core) * core.numel()}


def _extract(extractor: VGG19Features, cuts: torch.Tensor, layers: list[str],
             dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """The deep ``layers``' responses, from the map CUT's pool makes, in ``dtype``."""
    with torch.autocast(cuts.device.type, dtype=dtype, enabled=dtype is not None):
        return extractor(cuts, layers, start=AFTER_CUT)


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
