"""What one evaluation of a stage costs, in pixels through a forward and backward pass of
the network: its pixels, or on tiles (:mod:`painterly.tiling`) its crops' pixels, margins
included, with what the statistics pass adds. :mod:`painterly.timing` turns it into
seconds, :func:`painterly.tiling_plan.fit_tiling` into a choice of split.
"""

from __future__ import annotations

from .tiles import AFTER_CUT, CUT, DEEP_TILE_FACTOR, Split, seen_pixels, splits

#: What tiling adds to the cost of the pixels the network sees, relative to a forward and
#: backward pass: the statistics pass's forward (but for the last tile's), swd's
#: projections a second time. Fitted to the 4096 px command (benchmarks/README.md): with
#: bf16 on tiles of 1472 px (session 22) its stage took 370 s where 0.3 said 412; in fp32
#: with Winograd's convolutions on tiles of 960 px (session 21) 558 s where 0.3 said 732.
TILED_EXTRA = 0.15
#: The share of a split evaluation's work :func:`iteration_cost` gives its tiles (the
#: shallow part, run twice), the rest going to the deep part, run once on the whole
#: picture. Fitted to single evaluations with bf16 (session 23, benchmarks/README.md):
#: 4096 px on tiles of 1472 px 83-88 s where unsplit took 95-98 s; 2048 px on tiles of
#: 1024 px 18.5-19.6 s where unsplit took 22.1-23.4 s.
SPLIT_SHALLOW = 0.85
#: What a tiled deep part (Split.TILED) adds to the cost of the pixels its crops cover,
#: its statistics pass's forward on top. Fitted to single evaluations with bf16 (session
#: 24, benchmarks/README.md): 8192 px on tiles of 1520 px 189.9 s where unsplit on tiles
#: of 1504 px took 200.8; 4096 px on tiles of 1568 px 46.9-52.8 s where whole on tiles
#: of 784 px took 46.5-48.5. With TILED_EXTRA here the model said 0.89x and 0.95x.
DEEP_TILED_EXTRA = 0.6
#: A tiled evaluation's time where the run keeps the memory it frees, against one that
#: gives large blocks back: no fresh pages for each phase's blocks and the optimiser's
#: vectors. Every freed block kept, with bf16 (session 28, benchmarks/README.md): 4096 px
#: 38.96 -> 33.43 s an iteration (0.86), 8192 px 166.5 -> 139.6 s (0.84).
KEPT_TIME = 0.85
#: A tiled evaluation's time where its tiles' second pass comes from pass 1's records
#: (painterly.replay), against one that runs their forward again. Measured with bf16,
#: one evaluation of a 2048 x 1536 picture on tiles of 640 px, deep part whole: 8.1 ->
#: 6.9 s (benchmarks/README.md, session 30); since session 33 the records keep the deep
#: read layers' responses, which pass 2 recomputed: 4.5% less (session 32's measure).
REPLAY_TIME = 0.81


def iteration_cost(height: int, width: int, tile: int | None, deepest: str,
                   split: Split = Split.NONE, kept: bool = False, replay: bool = False
                   ) -> float:
    """The work of one evaluation of a ``height`` x ``width`` picture, in pixels through a
    forward and backward pass: all of them, or on tiles of ``tile`` px the crops'
    pixels, margins included, with the statistics pass on top; split, SPLIT_SHALLOW
    of that on the shallow part's crops, the rest on the picture's pixels (``Split.TILED``:
    those its deep tiles' crops cover, with their statistics pass on top). On tiles in a
    run that keeps the memory it frees (``kept``), KEPT_TIME of that; replayed
    (``replay``), REPLAY_TIME of that."""
    if tile is None or max(height, width) <= tile:
        return float(height * width)
    return (_tiled_cost(height, width, tile, deepest, split) * (KEPT_TIME if kept else 1.0)
            * (REPLAY_TIME if replay else 1.0))


def _tiled_cost(height: int, width: int, tile: int, deepest: str, split: Split) -> float:
    if split is Split.NONE or not splits(deepest):
        return seen_pixels(height, width, tile, deepest) * (1 + TILED_EXTRA)
    shallow = seen_pixels(height, width, tile, CUT) * (1 + TILED_EXTRA)
    deep = float(height * width)
    if split is Split.TILED:
        deep = seen_pixels(height, width, tile * DEEP_TILE_FACTOR, deepest,
                           AFTER_CUT) * (1 + DEEP_TILED_EXTRA)
    return shallow * SPLIT_SHALLOW + deep * (1 - SPLIT_SHALLOW)
