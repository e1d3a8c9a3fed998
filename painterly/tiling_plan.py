"""Which tiling a print-size run takes: of the tile sides that fit its memory for each
place of the network's deep layers (painterly.tiling's splits), with the memory it frees
kept or given back, and its tiles' second pass run again or replayed (painterly.replay),
the one whose iteration costs least (painterly.cost).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import torch

from .cost import iteration_cost
from .errors import MemoryRefused
from .images import fitted_size
from .layers import deepest_layer
from .memory import fit_memory
from .replay import replays
from .settings import TransferSettings
from .tiles import Split, splits


class Tiling(NamedTuple):
    """How a run sees its large stages: on tiles of ``tile`` px (None: whole), with
    their deep layers where ``split`` says, keeping the memory it frees or not."""

    tile: int | None
    split: Split = Split.NONE
    keep: bool = False
    replay: bool = False  # pass 2 from pass 1's records (painterly.replay)


def fit_tiling(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    device: torch.device,
    dtype: torch.dtype | None,
    winograd: bool = False,
) -> Tiling:
    """The tile side a run uses (:func:`fit_memory`), where its tiled stages run their
    deep layers (painterly.tiling): with the rest, whole, or on tiles of their own, and
    whether it keeps the memory it frees: whichever fits and makes its final stage's
    iteration take least time (:func:`painterly.cost.iteration_cost`), its tiles'
    second pass from records where the network can replay them (:mod:`painterly.replay`)."""
    run = (settings, photo_size, painting_sizes, device, dtype, winograd)
    tile = fit_memory(*run)
    if tile is None:
        return Tiling(None)
    deepest = deepest_layer(settings.layers_needed())
    options = [Tiling(tile)]
    # A GPU's allocator keeps what it frees in any case: nothing to weigh there.
    keeps = (False, True) if device.type == "cpu" else (False,)
    can_replay = replays(settings.pooling, dtype, device, winograd)
    replays_here = (False, True) if can_replay else (False,)
    for split in (Split.NONE, Split.WHOLE, Split.TILED) if splits(deepest) else (Split.NONE,):
        for keep, replay in itertools.product(keeps, replays_here):
            if split is Split.NONE and not keep and not replay:
                continue  # the first option
            try:
                options.append(Tiling(fit_memory(*run, split=split, keep=keep, replay=replay),
                                      split, keep, replay))
            except MemoryRefused:
                continue
    width, height = fitted_size(photo_size, settings.size)
    # Of equals, min takes the first: for each split, blocks given back before kept.
    return min(options, key=lambda option: iteration_cost(
        height, width, option.tile, deepest, option.split, option.keep, option.replay))


def stage_replays(tiling: Tiling, tiles: Sequence[int | None], pooling: str,
                  dtype: torch.dtype | None, device: torch.device,
                  winograd: bool = False) -> tuple[bool, ...]:
    """Whether each stage's tiles (``tiles``: each stage's side, None where whole)
    replay their second pass: the final stage's as ``tiling`` says, and a smaller tiled
    stage's wherever the network can. A smaller stage's records (~105 bytes a pixel) fit
    in what its fewer pixels spare of L-BFGS's vectors (13 image-sized vectors and more,
    ~160 bytes for each pixel less): at 8192 px in 15 GB the 4096 px stage replays,
    though the final one's records do not fit."""
    can = replays(pooling, dtype, device, winograd)
    last = len(tiles) - 1
    return tuple(tile is not None and (tiling.replay if index == last else can)
                 for index, tile in enumerate(tiles))
