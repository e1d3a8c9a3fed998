from __future__ import annotations

import os

import pytest
from PIL import Image

from painterly.errors import PainterlyError
from painterly.events import Progress
from painterly.plots import plot_losses


def _history(scale: float) -> list[Progress]:
    return [
        Progress(i, 10, 64, scale * (2.0 / i), 1.0 / i, 0.1 / i, 0.0, 0.1 * i)
        for i in range(1, 11)
    ]


def test_single_history_png(tmp_path):
    out = plot_losses({"run": _history(1.0)}, tmp_path / "curves.png")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 200
    assert os.listdir(tmp_path) == ["curves.png"]  # no temp file left


def test_several_histories_svg(tmp_path):
    out = plot_losses({"a": _history(1.0), "b": _history(3.0)}, tmp_path / "curves.svg")
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_bad_plot_path(tmp_path):
    with pytest.raises(PainterlyError, match="unsupported output type"):
        plot_losses({"a": _history(1.0)}, tmp_path / "curves.gif")
