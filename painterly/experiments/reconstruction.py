"""The report's reconstructions: an image rebuilt from one layer's content features or
style (Gram matrices), and the table of all layers, rows Block1..Block5 by Conv1..Conv4.

A reconstruction is the transfer objective with one term switched off and a white-noise
start, run by the same engine: nothing here has an optimisation loop of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from PIL import Image

from ..events import Progress
from ..images import ImageSource, load_image
from ..layers import LAYERS, canonical_layer
from ..settings import ReconstructSettings
from ..sheets import contact_sheet
from ..transfer import Inputs, paint

#: The grid's default long side: sixteen reconstructions are run, so smaller than one's.
GRID_SIZE = 128


def reconstruct(
    image: ImageSource,
    settings: ReconstructSettings | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> Image.Image:
    """Reconstruct ``image`` from one layer's content features or style (Gram matrices)."""
    settings = settings or ReconstructSettings()
    return _reconstruct(load_image(image, settings.max_input_pixels), _name(image), settings,
                        callback)


def _reconstruct(
    source: Image.Image,
    name: str,
    settings: ReconstructSettings,
    callback: Callable[[Progress], None] | None,
) -> Image.Image:
    inputs = Inputs(source, [source], name, [name])
    return paint(inputs, settings.transfer_settings(), callback)


def _name(image: ImageSource) -> str:
    return "the image" if isinstance(image, Image.Image) else str(image)


@dataclass(frozen=True)
class GridTile:
    layer: str
    image: Image.Image
    loss: float
    iterations: int
    seconds: float


def grid(
    image: ImageSource,
    settings: ReconstructSettings | None = None,
    layers: Sequence[str] = LAYERS,
    callback: Callable[[str, Progress], None] | None = None,
    on_tile: Callable[[GridTile], None] | None = None,
) -> tuple[Image.Image, list[GridTile]]:
    """Reconstruct ``image`` from each of ``layers`` and lay the results out as the
    report's table: rows Block1..Block5, columns Conv1..Conv4, the original first.

    ``settings`` defaults to :data:`GRID_SIZE` px. Returns the contact sheet and the
    tiles; ``callback(layer, progress)`` follows each run, and ``on_tile(tile)`` gets
    each tile as soon as it is done.
    """
    settings = settings or ReconstructSettings(size=GRID_SIZE)
    source = load_image(image, settings.max_input_pixels)
    tiles = []
    for layer in [canonical_layer(name) for name in layers]:
        last: list[Progress] = []

        def follow(progress: Progress, layer: str = layer, last: list = last) -> None:
            last[:] = [progress.numbers()]
            if callback is not None:
                callback(layer, progress)

        began = time.perf_counter()
        picture = _reconstruct(source, _name(image), replace(settings, layer=layer), follow)
        tiles.append(
            GridTile(layer, picture, last[-1].total, settings.iterations,
                     time.perf_counter() - began)
        )
        if on_tile is not None:
            on_tile(tiles[-1])
    return _grid_sheet(source, tiles, settings), tiles


def _grid_sheet(
    source: Image.Image, tiles: list[GridTile], settings: ReconstructSettings
) -> Image.Image:
    original = source.resize(tiles[0].image.size, Image.Resampling.LANCZOS)
    cells = {(0, 0): (original, "original")}
    for tile in tiles:
        block, conv = int(tile.layer[4]), int(tile.layer[6])
        cells[(block, conv)] = (
            tile.image,
            f"{tile.layer}: {tile.iterations} it {settings.optimizer}",
        )
    return contact_sheet(
        cells,
        row_labels=["", *(f"Block{b}" for b in range(1, 6))],
        column_labels=["", *(f"Conv{c}" for c in range(1, 5))],
        title=f"{settings.target} reconstructions, {settings.size} px",
    )
