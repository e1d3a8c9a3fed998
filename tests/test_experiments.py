"""Reconstructions, layer tables and sweeps: the report's experiments."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from painterly import Progress, SettingsError, TransferSettings
from painterly.experiments import (
    ReconstructSettings,
    grid,
    reconstruct,
    sweep,
    sweep_settings,
)
from painterly.layers import LAYERS


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return 10 * np.log10(255.0**2 / np.mean((x - y) ** 2))


@pytest.mark.parametrize(("optimizer", "iterations"), [("lbfgs", 100), ("gd", 300)])
def test_content_reconstruction_from_conv1_1_reaches_20_db(small_content, optimizer, iterations):
    settings = ReconstructSettings(
        target="content", layer="conv1_1", size=64, iterations=iterations, optimizer=optimizer
    )
    picture = reconstruct(small_content, settings)
    assert picture.size == small_content.size
    noise_start = reconstruct(small_content, ReconstructSettings(layer="conv1_1", size=64,
                                                                 iterations=1))
    assert psnr(noise_start, small_content) < 12  # it really started from noise
    assert psnr(picture, small_content) >= 20


def test_style_reconstruction_lowers_gram_loss_100x(small_style):
    log: list[Progress] = []
    settings = ReconstructSettings(target="style", layer="conv3_1", size=64, iterations=100)
    reconstruct(small_style, settings, log.append)
    assert log[0].content == 0.0 and log[-1].content == 0.0  # content term is off
    assert log[-1].style < log[0].style / 100


def test_gd_converges_on_block_5_without_tuning(small_content):
    log: list[Progress] = []
    settings = ReconstructSettings(layer="conv5_1", size=64, iterations=60, optimizer="gd")
    reconstruct(small_content, settings, log.append)
    assert log[-1].total < log[0].total / 4
    assert all(b.total <= a.total for a, b in zip(log, log[1:]))  # every step descends


def _locate(sheet: Image.Image, tile: Image.Image) -> tuple[int, int]:
    """Top-left corner of the exact copy of ``tile`` in ``sheet``."""
    big, small = np.asarray(sheet), np.asarray(tile)
    first_row = small[0].tobytes()
    for y in range(big.shape[0] - small.shape[0] + 1):
        start = big[y].tobytes().find(first_row)
        while start >= 0:
            if start % 3 == 0:
                x = start // 3
                if np.array_equal(big[y : y + small.shape[0], x : x + small.shape[1]], small):
                    return x, y
            start = big[y].tobytes().find(first_row, start + 1)
    raise AssertionError("tile not found in sheet")


def test_grid_lays_out_blocks_and_convs(small_content):
    settings = ReconstructSettings(size=48, iterations=2)
    sheet, tiles = grid(small_content, settings)
    assert [tile.layer for tile in tiles] == list(LAYERS)
    assert all(tile.image.size == (48, 36) for tile in tiles)
    positions = {tile.layer: _locate(sheet, tile.image) for tile in tiles}
    rows = sorted({y for _, y in positions.values()})
    columns = sorted({x for x, _ in positions.values()})
    assert len(rows) == 5 and len(columns) == 4
    for layer, (x, y) in positions.items():
        assert rows.index(y) == int(layer[4]) - 1  # Block
        assert columns.index(x) == int(layer[6]) - 1  # Conv
    original = small_content.resize((48, 36), Image.Resampling.LANCZOS)
    x, y = _locate(sheet, original)
    assert x < columns[0] and y < rows[0]  # the original comes first, above and left


def test_sweep_runs_the_cartesian_product(small_content, small_style):
    base = TransferSettings(iterations=2, scales=())
    axes = {"size": [32, 48], "style_weight": [1.0, 10.0]}
    sheet, points = sweep(small_content, small_style, base, axes)
    assert [p.values for p in points] == [
        {"size": 32, "style_weight": 1.0}, {"size": 32, "style_weight": 10.0},
        {"size": 48, "style_weight": 1.0}, {"size": 48, "style_weight": 10.0},
    ]
    assert [max(p.image.size) for p in points] == [32, 32, 48, 48]
    assert all(0 < p.distances.content and 0 < p.distances.style for p in points)
    assert sheet.width > 2 * 48 and sheet.height > 2 * 36


def test_sweep_settings_are_checked_before_running():
    with pytest.raises(SettingsError):
        sweep_settings(TransferSettings(), {"size": [64, -1]})


def test_parallel_sweep_matches_serial(small_content, small_style):
    # fp32: with bf16, the workers' other thread count shifts early L-BFGS steps visibly.
    base = TransferSettings(size=32, iterations=3, scales=(), precision="fp32")
    axes = {"style_weight": [1.0, 10.0]}
    _, serial = sweep(small_content, small_style, base, axes, jobs=1)
    _, parallel = sweep(small_content, small_style, base, axes, jobs=2)
    for a, b in zip(serial, parallel):
        assert a.values == b.values
        assert a.total == pytest.approx(b.total, rel=1e-3)
