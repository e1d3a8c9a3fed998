"""Where the tiles of a print-size picture are, and the network's features read tile by tile.

A tile is a *core*, a rectangle of the picture that is its own share of every feature
map, inside a *crop*: the core widened by a margin at least as wide as the deepest
layer's receptive field reaches past it, clipped to the picture. The network runs on the
crop; the features it gives over the core are then exactly those of the whole picture,
because no padding or border the crop introduces reaches them. Cores start at multiples
of 16, so that each of VGG19's four pools pairs the same pixels as it does in the whole
picture. The cores partition the picture, and their features partition every map.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from .layers import LAYERS, deepest_layer
from .vgg import VGG19Features

#: Cores start at multiples of this: 2^4, the stride after VGG19's four pools.
ALIGN = 16

#: The last layer of a split network's shallow part (:class:`Split`): its tiles need
#: margins for this layer's reach only (32 px, against conv5_1's 80), and its pool's
#: output, a 64th of the pixels, feeds the deep part.
CUT = "conv3_4"
#: The first layer of the deep part.
AFTER_CUT = LAYERS[LAYERS.index(CUT) + 1]

#: The side of a tiled deep part's tiles (:class:`Split`), in the tiles' sides: their
#: pixels hold about a quarter of the bytes a shallow crop's do (0.27 against 1.13 GB a
#: megapixel with bf16), so four times the pixels need no more memory than a shallow tile.
DEEP_TILE_FACTOR = 2


class Split(enum.Enum):
    """Where a tiled evaluation runs the network's layers past its cut, conv3_4
    (:mod:`painterly.tiling`)."""

    #: With the shallow ones, on the tiles.
    NONE = "none"
    #: Once, on the whole map the cut's pool makes.
    WHOLE = "whole"
    #: On that map, on tiles DEEP_TILE_FACTOR times the tiles' side.
    TILED = "tiled"


def splits(deepest: str) -> bool:
    """Whether a network run to ``deepest`` can be split at CUT."""
    return LAYERS.index(deepest) > LAYERS.index(CUT)


@dataclass(frozen=True)
class Tile:
    """A core and its crop, as (top, bottom, left, right) pixel bounds, bottom and right
    excluded; the core lies inside the crop."""

    core: tuple[int, int, int, int]
    crop: tuple[int, int, int, int]

    def rows(self, step: int = 1) -> slice:
        """The crop's rows, for indexing a (1, C, H, W) picture, or with ``step`` a map
        of ``step`` pixels a position (crops start on the pools' grid, and a map's last
        row is its picture's ``height // step``-th)."""
        return slice(self.crop[0] // step, self.crop[1] // step)

    def cols(self, step: int = 1) -> slice:
        return slice(self.crop[2] // step, self.crop[3] // step)


def stride(layer: str) -> int:
    """Input pixels per position of a layer's feature map (1 in block 1, 16 in block 5)."""
    return 2 ** (int(layer[4]) - 1)


def reach(deepest: str, start: str = LAYERS[0]) -> int:
    """How far past its own stride-sized cell a position of ``deepest`` sees, in input
    pixels, on each side: each 3x3 convolution adds its stride, a pool adds nothing
    beyond the cells it merges (conv5_1: 70, the half of its 156 px receptive field).
    From ``start``'s input on (a map of the picture) only the layers from there count."""
    return sum(stride(layer)
               for layer in LAYERS[LAYERS.index(start): LAYERS.index(deepest) + 1])


def margin(deepest: str, start: str = LAYERS[0]) -> int:
    """The margin a crop needs around its core for ``deepest`` (from ``start``'s input):
    its reach, rounded up to a multiple of ALIGN so that crops start on the pools' grid too."""
    return -(-reach(deepest, start) // ALIGN) * ALIGN


def tile_grid(height: int, width: int, side: int, deepest: str,
              start: str = LAYERS[0]) -> list[Tile]:
    """Tiles whose cores, at most ``side`` px square (a multiple of ALIGN), cover a
    ``height`` x ``width`` picture, row by row; crops widened by ``margin(deepest,
    start)``, in the picture's pixels also where the network runs from ``start``'s
    input, a map of the picture (:meth:`Tile.rows` with its step slices it)."""
    pad = margin(deepest, start)
    tall, wide = _even(height, side), _even(width, side)
    tiles = []
    for top in range(0, height, tall):
        for left in range(0, width, wide):
            bottom, right = min(top + tall, height), min(left + wide, width)
            crop = (max(0, top - pad), min(height, bottom + pad),
                    max(0, left - pad), min(width, right + pad))
            tiles.append(Tile((top, bottom, left, right), crop))
    return tiles


def crop_side(tile: int, deepest: str, start: str = LAYERS[0]) -> int:
    """The side of the largest crop on tiles of ``tile`` px: a core and both margins."""
    return tile // ALIGN * ALIGN + 2 * margin(deepest, start)


def stage_tile(width: int, height: int, tile: int | None, deepest: str,
               given: bool = True) -> int | None:
    """The tile side a ``width`` x ``height`` picture is seen in, None for whole: whole
    when there is no tile or the picture is no larger than it, and, for a tile chosen
    to fit memory rather than ``given``, when the picture has no more pixels than one
    tile's crop (whole, it costs no more memory and less time)."""
    if tile is None or max(width, height) <= tile:
        return None
    crop = crop_side(tile, deepest)
    if not given and width * height <= crop * crop:
        return None
    return tile


def seen_pixels(height: int, width: int, side: int | None, deepest: str,
                start: str = LAYERS[0]) -> int:
    """Pixels the network sees to evaluate a ``height`` x ``width`` picture on tiles of
    ``side`` (None: whole): the crops, margins and all (from ``start``'s input: the
    picture's pixels its crops of the map cover)."""
    if side is None or max(height, width) <= side:
        return height * width
    return sum((tile.crop[1] - tile.crop[0]) * (tile.crop[3] - tile.crop[2])
               for tile in tile_grid(height, width, side, deepest, start))


def _even(length: int, side: int) -> int:
    """The core length that splits ``length`` into as few cores of at most ``side`` as
    possible, all of about one size (a multiple of ALIGN): no thin last core paying a
    whole margin for a few pixels."""
    side = max(ALIGN, side // ALIGN * ALIGN)
    count = -(-length // side)
    return min(side, -(-length // (count * ALIGN)) * ALIGN)


def core_of(features: torch.Tensor, layer: str, tile: Tile, size: tuple[int, int],
            whole: bool = False) -> torch.Tensor:
    """The part of ``features`` at ``layer`` that belongs to the tile's core, in a
    picture of ``size`` (height, width): (1, C, h, w). ``features`` are the crop's, or
    with ``whole`` the whole picture's."""
    rows, cols = _core_slices(layer, tile, size, whole)
    return features[:, :, rows, cols]


def _core_slices(layer: str, tile: Tile, size: tuple[int, int], whole: bool = False
                 ) -> tuple[slice, slice]:
    """The rows and columns of :func:`core_of`."""
    step = stride(layer)
    top, bottom, left, right = tile.core
    origin = (0, 0) if whole else (tile.crop[0], tile.crop[2])
    return (_span(top, bottom, origin[0], size[0], step),
            _span(left, right, origin[1], size[1], step))


def _span(start: int, stop: int, crop_start: int, length: int, step: int) -> slice:
    """Feature positions of [start, stop) in a crop starting at ``crop_start``; a core
    ending at the picture's edge takes the positions up to the map's own end (pools
    drop an odd last row), an inner one ends on the pools' grid."""
    end = None if stop == length else (stop - crop_start) // step
    return slice((start - crop_start) // step, end)


def core_features(
    extractor: VGG19Features,
    crop: torch.Tensor,
    layers: Iterable[str],
    tile: Tile,
    size: tuple[int, int],
    dtype: torch.dtype | None,
    start: str = LAYERS[0],
) -> dict[str, torch.Tensor]:
    """The network's ``layers`` over the tile's core, run on ``crop`` (the picture's
    pixels inside ``tile.crop``, or from ``start`` on, its map there) in ``dtype``
    (None: fp32)."""
    with torch.autocast(crop.device.type, dtype=dtype, enabled=dtype is not None):
        features = extractor(crop, layers, start=start)
    return cores_of(features, tile, size)


def cores_of(features: dict[str, torch.Tensor], tile: Tile, size: tuple[int, int]
             ) -> dict[str, torch.Tensor]:
    """Each of a crop's ``features`` over the tile's core (:func:`core_of`), dense, with
    a gradient in the features' own layout."""
    cores = {}
    for layer, value in features.items():
        where = _core_slices(layer, tile, size)
        # A core that is its whole crop (a deep part run whole) needs no copy.
        whole = all(part == slice(0, None) for part in where)
        cores[layer] = value if whole else _Core.apply(value, where)
    return cores


class _Core(torch.autograd.Function):
    """The core's part of a crop's features (1, C, h, w), copied dense in the features'
    own layout, with a gradient in that layout too. Autograd's slicing returns an NCHW
    gradient for channels-last features, and the two layouts meeting made the adds,
    copies and ReLU gradients of a tile's backward pass strided ones (the tiles'
    back-propagating pass took 1.21x a whole evaluation a pixel it sees)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, where: tuple[slice, slice]) -> torch.Tensor:
        layout = _layout(features)
        ctx.where, ctx.layout, ctx.shape = where, layout, features.shape
        return features[:, :, where[0], where[1]].contiguous(memory_format=layout)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        whole = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device,
                            memory_format=ctx.layout).zero_()
        whole[:, :, ctx.where[0], ctx.where[1]] = grad
        return whole, None


def _layout(features: torch.Tensor) -> torch.memory_format:
    """channels_last for channels-last features (the extractor's, but for Winograd's layers)."""
    channels_last = (features.is_contiguous(memory_format=torch.channels_last)
                     and not features.is_contiguous())
    return torch.channels_last if channels_last else torch.contiguous_format


def read_tiles(
    extractor: VGG19Features,
    image: torch.Tensor,
    layers: Sequence[str],
    side: int,
    dtype: torch.dtype | None,
) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
    """Tiles of ``image`` (1, 3, H, W) with their cores' features at ``layers``, without
    gradients. Where the layers reach past CUT, the tiles run the network only to CUT
    (margins for its reach) and come with the layers up to it; then the layers past it
    come from the map CUT's pool makes, assembled from the cores, on tiles
    DEEP_TILE_FACTOR times the side with margins for the deep layers' reach only: the
    deep layers see no margins of 80 px (a 4096 px painting's statistics on tiles of
    640 px: the network on 1.56x its pixels)."""
    size = (image.shape[-2], image.shape[-1])
    if not splits(deepest_layer(layers)):
        yield from _read(extractor, image, layers, side, dtype, size)
        return
    shallow = [layer for layer in layers if LAYERS.index(layer) <= LAYERS.index(CUT)]
    cuts = []
    for tile, features in _read(extractor, image, [*shallow, CUT], side, dtype, size):
        cuts.append((tile, extractor.pool(features[CUT])))
        yield tile, {layer: features[layer] for layer in shallow}
    deep = [layer for layer in layers if layer not in shallow]
    cut_map = assemble(cuts)
    cuts.clear()  # the map held once
    yield from _read(extractor, cut_map, deep, side * DEEP_TILE_FACTOR, dtype, size, AFTER_CUT)


def _read(extractor: VGG19Features, image: torch.Tensor, layers: Sequence[str], side: int,
          dtype: torch.dtype | None, size: tuple[int, int], start: str = LAYERS[0]
          ) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
    """:func:`read_tiles` without a cut: ``image`` is a picture of ``size``, or from
    ``start`` on its map."""
    step = stride(start)
    with torch.no_grad():
        for tile in tile_grid(*size, side, deepest_layer(layers), start):
            crop = image[:, :, tile.rows(step), tile.cols(step)]
            yield tile, core_features(extractor, crop, layers, tile, size, dtype, start)


def tiled_map(
    extractor: VGG19Features, image: torch.Tensor, layer: str, side: int,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    """The whole feature map of ``layer`` for ``image``, assembled from tiles' cores:
    what ``extractor(image, [layer])[layer]`` gives, with a tile's memory."""
    return assemble((tile, features[layer])
                    for tile, features in read_tiles(extractor, image, [layer], side, dtype)
                    if layer in features)


def assemble(parts: Iterable[tuple[Tile, torch.Tensor]]) -> torch.Tensor:
    """A whole map from its tiles' cores' parts of it, which come row by row (as
    :func:`tile_grid` gives the tiles)."""
    rows: list[list[torch.Tensor]] = []
    top = None
    for tile, part in parts:
        if tile.core[0] != top:
            rows.append([])
            top = tile.core[0]
        rows[-1].append(part)
    return torch.cat([torch.cat(row, dim=3) for row in rows], dim=2)

