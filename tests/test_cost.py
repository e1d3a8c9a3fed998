"""The work of one evaluation, whole or on tiles, in pixels through the network."""

from __future__ import annotations

import pytest

from painterly.cost import DEEP_TILED_EXTRA, KEPT_TIME, SPLIT_SHALLOW, TILED_EXTRA, iteration_cost
from painterly.tiles import AFTER_CUT, CUT, Split, seen_pixels


def test_a_whole_picture_costs_its_pixels_and_tiles_their_crops_with_the_statistics_pass():
    assert iteration_cost(1536, 2048, None, "conv5_1") == 2048 * 1536
    assert iteration_cost(1536, 2048, 2048, "conv5_1") == 2048 * 1536  # one tile: whole
    tiled = iteration_cost(1536, 2048, 1024, "conv5_1")
    # 2 x 2 cores with conv5_1's 80 px margins on their inner sides.
    assert tiled == pytest.approx((1536 + 2 * 80) * (2048 + 2 * 80) * (1 + TILED_EXTRA))


def test_a_split_stage_runs_its_deep_part_once_on_its_own_pixels():
    """Split, the tiles' margins reach conv3_4 (32 px, not 80) and only SPLIT_SHALLOW of
    the work runs on them twice; the rest is the picture's pixels once."""
    height, width = 3072, 4096
    split = iteration_cost(height, width, 1024, "conv5_1", Split.WHOLE)
    assert height * width < split < iteration_cost(height, width, 1024, "conv5_1")
    shallow = seen_pixels(height, width, 1024, CUT)
    assert shallow == (3072 + 4 * 32) * (4096 + 6 * 32)  # 3 x 4 cores, inner margins twice
    assert split == pytest.approx(SPLIT_SHALLOW * (1 + TILED_EXTRA) * shallow
                                  + (1 - SPLIT_SHALLOW) * height * width)
    # The deep part on tiles of its own, twice the side (2 x 2 of them, 48 px margins),
    # with a statistics pass of its own.
    deep = seen_pixels(height, width, 2048, "conv5_1", AFTER_CUT)
    assert deep == (3072 + 2 * 48) * (4096 + 2 * 48)
    assert iteration_cost(height, width, 1024, "conv5_1", Split.TILED) == pytest.approx(
        (1 + TILED_EXTRA) * SPLIT_SHALLOW * shallow
        + (1 + DEEP_TILED_EXTRA) * (1 - SPLIT_SHALLOW) * deep)
    # Losses no deeper than the cut: nothing to split.
    for split in (Split.WHOLE, Split.TILED):
        assert iteration_cost(height, width, 1024, "conv3_1", split) == iteration_cost(
            height, width, 1024, "conv3_1")


def test_tiles_in_a_run_that_keeps_its_freed_memory_take_kept_time():
    """No fresh pages for each tile's blocks: only tiled stages change."""
    assert iteration_cost(1536, 2048, None, "conv5_1", kept=True) == 2048 * 1536
    for split in Split:
        assert iteration_cost(3072, 4096, 1024, "conv5_1", split, kept=True) == pytest.approx(
            KEPT_TIME * iteration_cost(3072, 4096, 1024, "conv5_1", split))
    assert 0 < KEPT_TIME < 1
