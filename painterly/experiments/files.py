"""Where the experiments' results go on disk, each written as soon as it is done (so an
interrupt keeps it), atomically, and with its recipe.

A grid ``SHEET.png`` keeps its tiles in ``SHEET_tiles/LAYER.png`` and its numbers in
``SHEET.csv``; a sweep's directory holds ``NNN_OPTION-VALUE....png`` for each point,
``results.csv``, ``results.json`` and ``sheet.png``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from pathlib import Path

from PIL import Image

from ..images import check_image_path, save_image
from ..outputs import atomic_write, make_output_dir
from ..recipes import encode, make_recipe
from ..settings import ReconstructSettings
from .reconstruction import GridTile
from .sweeps import SweepPoint, format_value, point_record


class GridFiles:
    """The files of a grid whose sheet is ``sheet`` (checked writable on creation)."""

    def __init__(self, sheet: str | os.PathLike[str], image: str,
                 settings: ReconstructSettings) -> None:
        self.sheet = check_image_path(sheet)
        self.tiles = self.sheet.with_name(f"{self.sheet.stem}_tiles")
        self.table = self.sheet.with_suffix(".csv")
        self.image = image
        self.settings = settings

    def _recipe(self, layer: str) -> str:
        settings = replace(self.settings, layer=layer)
        return encode(make_recipe("reconstruct", settings, {"image": [self.image]}))

    def save_tile(self, tile: GridTile) -> Path:
        self.tiles.mkdir(exist_ok=True)
        return save_image(tile.image, self.tiles / f"{tile.layer}.png", self._recipe(tile.layer))

    def save_partial(self, layer: str, picture: Image.Image) -> Path:
        """The picture of an interrupted layer, beside the finished tiles."""
        self.tiles.mkdir(exist_ok=True)
        return save_image(picture, self.tiles / f"{layer}_partial.png", self._recipe(layer))

    def save(self, sheet: Image.Image, tiles: list[GridTile], layers: list[str]) -> None:
        """The table of numbers, then the sheet with the grid's recipe."""
        rows = [
            {"layer": t.layer, "loss": t.loss, "iterations": t.iterations,
             "optimizer": self.settings.optimizer, "seconds": round(t.seconds, 3)}
            for t in tiles
        ]
        write_csv(self.table, rows)
        recipe = make_recipe("grid", self.settings, {"image": [self.image]})
        recipe["layers"] = list(layers)
        save_image(sheet, self.sheet, encode(recipe))


class SweepFiles:
    """The files of a sweep in ``directory`` (created if missing, its parent checked)."""

    def __init__(self, directory: str | os.PathLike[str], content: str,
                 styles: list[str]) -> None:
        self.directory = make_output_dir(directory)
        self.inputs = {"content": [content], "style": list(styles)}
        self.records: list[dict[str, object]] = []

    def save_point(self, point: SweepPoint, number: int) -> Path:
        """Point ``number`` (from 1) as NNN_OPTION-VALUE....png, with its recipe."""
        label = "_".join(f"{k}-{format_value(v)}" for k, v in point.values.items())
        name = f"{number:03d}_{safe_name(label)}.png"
        recipe = make_recipe("transfer", point.settings, self.inputs)
        path = save_image(point.image, self.directory / name, encode(recipe))
        self.records.append({"file": name, **point_record(point)})
        return path

    def save(self, sheet: Image.Image) -> Path:
        """results.csv and results.json of the points saved, then the sheet."""
        write_csv(self.directory / "results.csv", self.records)
        text = json.dumps(self.records, indent=1).encode() + b"\n"
        atomic_write(self.directory / "results.json", lambda handle: handle.write(text))
        return save_image(sheet, self.directory / "sheet.png")


def safe_name(text: str) -> str:
    """``text`` as a file name: letters, digits and -_. kept, the rest as -."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:120]


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue().encode()))


