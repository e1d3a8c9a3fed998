"""The report's experiments: reconstructions from one layer, tables of layers, sweeps.

A reconstruction is the transfer objective with one term switched off and a white-noise
start, run by the same optimisers: nothing here has an optimisation loop of its own.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import torch
from PIL import Image

from .errors import PainterlyError, SettingsError
from .images import MAX_INPUT_PIXELS, ImageSource, load_image
from .layers import LAYERS, canonical_layer
from .metrics import Distances, measure
from .optimizers import OPTIMIZERS
from .sheets import contact_sheet
from .transfer import DEFAULT_STYLE_LAYERS, Progress, TransferSettings, style_sources, stylize

TARGETS = ("content", "style")


@dataclass(frozen=True)
class ReconstructSettings:
    """Settings of a reconstruction from one layer's content or style features."""

    target: str = field(default="content", metadata={"help": "content or style"})
    layer: str = field(default="conv4_2", metadata={"help": "the layer to reconstruct from"})
    up_to: bool = field(
        default=False,
        metadata={"help": "style: use conv1_1, conv2_1, ... up to --layer, as in Figure 1"},
    )
    size: int = field(default=256, metadata={"help": "long side of the image in px"})
    iterations: int = field(default=300, metadata={"help": "optimiser iterations"})
    optimizer: str = field(default="lbfgs", metadata={"help": "/".join(OPTIMIZERS)})
    step: float | None = field(
        default=None,
        metadata={"help": "step: multiplier of lbfgs steps (1), learning rate of adam (0.02), "
                  "first move of gd (0.05)"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the white-noise start"})
    pooling: str = field(default="max", metadata={"help": "max or avg"})
    weights: str | None = field(
        default=None, metadata={"help": "VGG19 weights file (default: bundled)"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    max_input_pixels: int = field(
        default=MAX_INPUT_PIXELS,
        metadata={"help": "refuse input images with more pixels than this, before decoding"},
    )
    max_memory: float | None = field(
        default=None,
        metadata={"help": "GB the run may use (default: the memory available now)"},
    )

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise SettingsError("target", f"unknown target {self.target!r}; use content or style")
        try:
            object.__setattr__(self, "layer", canonical_layer(self.layer))
        except PainterlyError as error:
            raise SettingsError("layer", str(error)) from None
        self.transfer_settings()  # the shared fields are checked where they are defined

    def style_layers(self) -> tuple[str, ...]:
        """The layers whose Gram matrices a style reconstruction matches."""
        if not self.up_to:
            return (self.layer,)
        depth = LAYERS.index(self.layer)
        earlier = tuple(layer for layer in DEFAULT_STYLE_LAYERS if LAYERS.index(layer) < depth)
        return (*earlier, self.layer)

    def transfer_settings(self) -> TransferSettings:
        """The transfer objective with the other term off, from noise, at one scale."""
        content = self.target == "content"
        return TransferSettings(
            size=self.size,
            iterations=self.iterations,
            content_layer=self.layer if content else "conv4_2",
            style_layers=DEFAULT_STYLE_LAYERS if content else self.style_layers(),
            content_weight=1.0 if content else 0.0,
            style_weight=0.0 if content else 1.0,
            scales=(),
            optimizer=self.optimizer,
            step=self.step,
            init="noise",
            seed=self.seed,
            pooling=self.pooling,
            weights=self.weights,
            device=self.device,
            max_input_pixels=self.max_input_pixels,
            max_memory=self.max_memory,
        )


def reconstruct(
    image: ImageSource,
    settings: ReconstructSettings | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> Image.Image:
    """Reconstruct ``image`` from one layer's content features or style (Gram matrices)."""
    settings = settings or ReconstructSettings()
    source = load_image(image, settings.max_input_pixels)
    return stylize(source, source, settings.transfer_settings(), callback)


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

    Returns the contact sheet and the tiles; ``callback(layer, progress)`` follows each
    run, and ``on_tile(tile)`` gets each tile as soon as it is done.
    """
    settings = settings or ReconstructSettings()
    source = load_image(image, settings.max_input_pixels)
    tiles = []
    for layer in [canonical_layer(name) for name in layers]:
        layer_settings = replace(settings, layer=layer)
        last: list[Progress] = []

        def follow(progress: Progress, layer: str = layer, last: list = last) -> None:
            last[:] = [progress.numbers()]
            if callback is not None:
                callback(layer, progress)

        began = time.perf_counter()
        picture = reconstruct(source, layer_settings, follow)
        tiles.append(
            GridTile(layer, picture, last[-1].total, settings.iterations,
                     time.perf_counter() - began)
        )
        if on_tile is not None:
            on_tile(tiles[-1])
    original = source.resize(tiles[0].image.size, Image.Resampling.LANCZOS)
    cells = {(0, 0): (original, "original")}
    for tile in tiles:
        block, conv = int(tile.layer[4]), int(tile.layer[6])
        cells[(block, conv)] = (
            tile.image,
            f"{tile.layer}: {tile.iterations} it {settings.optimizer}",
        )
    sheet = contact_sheet(
        cells,
        row_labels=["", *(f"Block{b}" for b in range(1, 6))],
        column_labels=["", *(f"Conv{c}" for c in range(1, 5))],
        title=f"{settings.target} reconstructions, {settings.size} px",
    )
    return sheet, tiles


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: its settings (the varied values), picture and numbers."""

    values: dict[str, object]
    settings: TransferSettings
    image: Image.Image
    total: float
    content: float
    style: float
    distances: Distances
    seconds: float
    history: list[Progress]


def sweep_settings(
    base: TransferSettings, axes: dict[str, Sequence[object]]
) -> list[tuple[dict[str, object], TransferSettings]]:
    """The cartesian product of ``axes`` (field -> values) over ``base``, checked."""
    points = []
    names = list(axes)
    for combination in itertools.product(*(axes[name] for name in names)):
        values = dict(zip(names, combination))
        points.append((values, replace(base, **values)))
    return points


def _run_point(
    content: Image.Image, styles: list[Image.Image], values: dict, settings: TransferSettings,
    threads: int,
) -> SweepPoint:
    if threads:
        torch.set_num_threads(threads)
    history: list[Progress] = []
    began = time.perf_counter()
    picture = stylize(content, styles, settings, lambda p: history.append(p.numbers()))
    seconds = time.perf_counter() - began
    final = history[-1]
    # Distances are to the first painting, by the default layers, comparable across points.
    distances = measure(
        picture, content, styles[0], settings=replace(TransferSettings(), device=settings.device)
    )
    return SweepPoint(
        values, settings, picture, final.total, final.content, final.style, distances,
        seconds, history,
    )


def sweep(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    base: TransferSettings,
    axes: dict[str, Sequence[object]],
    jobs: int = 1,
    callback: Callable[[SweepPoint, int, int], None] | None = None,
) -> tuple[Image.Image, list[SweepPoint]]:
    """Run every combination of ``axes`` over ``base``; ``jobs`` processes at once.

    Returns a labelled contact sheet (one varied option across; with several, the first
    down and the others across) and the points in product order.
    ``callback(point, done, total)`` follows each point.
    """
    styles = style_sources(style)
    limit = base.max_input_pixels
    photo, paintings = load_image(content, limit), [load_image(s, limit) for s in styles]
    planned = sweep_settings(base, axes)
    points: list[SweepPoint] = []
    if jobs <= 1:
        for values, settings in planned:
            points.append(_run_point(photo, paintings, values, settings, 0))
            if callback is not None:
                callback(points[-1], len(points), len(planned))
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        # spawn, not fork: a forked copy of a process whose OpenMP pool has started hangs.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_run_point, photo, paintings, values, settings, threads)
                for values, settings in planned
            ]
            for future in futures:  # in product order; each waits for its own
                points.append(future.result())
                if callback is not None:
                    callback(points[-1], len(points), len(planned))
    return _sweep_sheet(axes, points), points


def format_value(value: object) -> str:
    """A setting's value as it is written on the command line."""
    if isinstance(value, tuple):
        return ",".join(format_value(item) for item in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sweep_sheet(axes: dict[str, Sequence[object]], points: list[SweepPoint]) -> Image.Image:
    """One varied option runs across; with more, the first runs down, the rest across."""
    names = list(axes)
    row_names, column_names = (names[:1], names[1:]) if len(names) > 1 else ([], names)
    columns = list(itertools.product(*(axes[name] for name in column_names)))
    cells = {}
    for index, point in enumerate(points):
        row, column = divmod(index, len(columns))
        cells[(row, column)] = (
            point.image,
            f"content {point.distances.content:.2f} style {point.distances.style:.3f}",
        )
    column_labels = [
        " ".join(f"{name}={format_value(value)}" for name, value in zip(column_names, combo))
        for combo in columns
    ]
    row_labels = [f"{name}={format_value(value)}" for name in row_names for value in axes[name]]
    return contact_sheet(cells, row_labels=row_labels or [""], column_labels=column_labels)


def point_record(point: SweepPoint) -> dict[str, object]:
    """A flat, JSON-ready row for a sweep point: varied values, every setting, numbers."""
    record: dict[str, object] = {f"varied_{k}": format_value(v) for k, v in point.values.items()}
    record.update({k: format_value(v) if isinstance(v, tuple) else v
                   for k, v in asdict(point.settings).items()})
    record.update(
        total=point.total,
        content=point.content,
        style=point.style,
        content_distance=point.distances.content,
        style_distance=point.distances.style,
        seconds=round(point.seconds, 3),
    )
    return record
