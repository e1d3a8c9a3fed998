"""Sweeps: transfers over every combination of some settings' values, with their
distances, and a contact sheet that lays them out by the varied settings."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace

import torch
from PIL import Image

from ..events import Progress
from ..images import ImageSource
from ..metrics import Distances, measure
from ..settings import TransferSettings
from ..sheets import contact_sheet
from ..transfer import Inputs, load_inputs, paint


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
    inputs: Inputs, values: dict, settings: TransferSettings, threads: int
) -> SweepPoint:
    if threads:
        torch.set_num_threads(threads)
    history: list[Progress] = []
    began = time.perf_counter()
    picture = paint(inputs, settings, lambda p: history.append(p.numbers()))
    seconds = time.perf_counter() - began
    final = history[-1]
    # Distances are to the first painting, by the default layers, comparable across points.
    distances = measure(
        picture, inputs.photo, inputs.paintings[0],
        settings=replace(TransferSettings(), device=settings.device),
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
    inputs = load_inputs(content, style, base.max_input_pixels)
    planned = sweep_settings(base, axes)
    points: list[SweepPoint] = []
    if jobs <= 1:
        for values, settings in planned:
            points.append(_run_point(inputs, values, settings, 0))
            if callback is not None:
                callback(points[-1], len(points), len(planned))
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        # spawn, not fork: a forked copy of a process whose OpenMP pool has started hangs.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_run_point, inputs, values, settings, threads)
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
