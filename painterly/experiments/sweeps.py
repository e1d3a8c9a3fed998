"""Sweeps: transfers over every combination of some settings' values, with their
distances, and a contact sheet that lays them out by the varied settings."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from PIL import Image

from ..backends.local import LocalBackend
from ..batch import FAILED, PAINTED, Backend, Outcome, Task, read_input
from ..errors import PainterlyError
from ..events import Progress, StopRequested
from ..images import ImageSource, encode_image, to_rgb
from ..metrics import Distances
from ..settings import TransferSettings
from ..sheets import contact_sheet
from ..transfer import load_inputs, style_sources


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


def sweep(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    base: TransferSettings,
    axes: dict[str, Sequence[object]],
    jobs: int = 1,
    callback: Callable[[SweepPoint, int, int], None] | None = None,
    backend: Backend | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[Image.Image, list[SweepPoint]]:
    """Run every combination of ``axes`` over ``base``: each point a batch task, run by
    ``backend`` (default: ``jobs`` local processes at once; a Ray cluster's spreads them
    over its nodes).

    Returns a labelled contact sheet (one varied option across; with several, the first
    down and the others across) and the points in product order.
    ``callback(point, done, total)`` follows each point as it finishes. Once
    ``should_stop()`` says yes, no new point starts and :class:`StopRequested` is raised
    when those under way have stopped; a point that fails raises its error.
    """
    inputs = load_inputs(content, style, base.max_input_pixels)  # bad input: before any work
    planned = sweep_settings(base, axes)
    files = [_file_bytes(source) for source in [content, *style_sources(style)]]
    names = (inputs.photo_name, *(inputs.painting_names or ()))
    start = _file_bytes(base.init_file()) if base.init_file() else None
    masks = tuple(_file_bytes(mask) for mask in base.masks) if base.masks else None
    tasks = [Task(index, "point.png", files[0], tuple(files[1:]), names, settings, "",
                  start, masks, history=True) for index, (_, settings) in enumerate(planned)]
    finished: dict[int, SweepPoint] = {}
    failed: list[PainterlyError] = []

    def arrived(outcome: Outcome) -> None:
        if outcome.status == FAILED and outcome.error is not None:
            failed.append(outcome.error)
        if outcome.status != PAINTED:
            return
        values, settings = planned[outcome.index]
        final = outcome.history[-1]
        point = SweepPoint(values, settings, outcome.picture(), final.total, final.content,
                           final.style, outcome.distances, outcome.seconds,
                           list(outcome.history))
        finished[outcome.index] = point
        if callback is not None:
            callback(point, len(finished), len(planned))

    (backend or LocalBackend(jobs)).run(tasks, arrived, should_stop)
    if failed:
        raise failed[0]
    if len(finished) < len(planned):
        raise StopRequested
    points = [finished[index] for index in range(len(planned))]
    return _sweep_sheet(axes, points), points


def _file_bytes(source: ImageSource) -> bytes:
    """An input as the bytes of a file, to travel to a worker (a PIL image as a PNG)."""
    if isinstance(source, Image.Image):
        return encode_image(to_rgb(source), ".png")
    return read_input(source)


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
