"""Loss curves against iteration and time, drawn with matplotlib."""

from __future__ import annotations

import io
import os
from pathlib import Path

from .events import Progress
from .outputs import atomic_write, check_output_path

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """Fail early if a plot cannot be written to ``path``."""
    return check_output_path(path, PLOT_SUFFIXES)


def plot_losses(histories: dict[str, list[Progress]], path: str | os.PathLike[str]) -> Path:
    """Draw loss curves to ``path`` (.png, .svg or .pdf), atomically.

    One history: its total, content, style and TV losses. Several (a sweep): the total
    loss of each, labelled by its key. Left against iteration, right against seconds.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and never opens a window
    from matplotlib.figure import Figure

    out = check_plot_path(path)
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    by_iteration, by_time = figure.subplots(1, 2)
    for label, history in histories.items():
        curves = {"total": [p.total for p in history]}
        if len(histories) == 1:
            parts = {
                part: [getattr(p, part) for p in history] for part in ("content", "style", "tv")
            }
            parts = {part: values for part, values in parts.items() if any(values)}
            if len(parts) > 1:  # a lone part is the total again, up to its weight
                curves.update(parts)
        iterations = [p.iteration for p in history]
        seconds = [p.elapsed for p in history]
        for name, values in curves.items():
            name = name if len(histories) == 1 else label
            by_iteration.plot(iterations, values, label=name)
            by_time.plot(seconds, values, label=name)
    for axes, xlabel in ((by_iteration, "iteration"), (by_time, "seconds")):
        axes.set_xlabel(xlabel)
        axes.set_ylabel("loss (relative squared error)")
        axes.set_yscale("log")
        axes.grid(True, alpha=0.3)
    by_iteration.legend(fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=out.suffix[1:], dpi=100)
    return atomic_write(out, lambda handle: handle.write(buffer.getvalue()))
