"""The tiling a print-size run takes (painterly/tiling_plan.py): the split, the memory
kept and the replay that fit and make an iteration cheapest."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from painterly import TransferSettings, matching, memory, nnpack, tiling_plan
from painterly.cost import iteration_cost
from painterly.errors import MemoryRefused
from painterly.memory import GB, KEPT_BYTES, KEPT_BYTES_PER_PIXEL, fit_memory, memory_needed
from painterly.tiles import AFTER_CUT, CUT, DEEP_TILE_FACTOR, Split, seen_pixels
from painterly.tiling_plan import fit_tiling

CPU = torch.device("cpu")
PHOTO = (1024, 768)


@pytest.fixture
def without_replay(monkeypatch):
    """The planner as where tiles cannot replay their second pass (painterly.replay)."""
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: False)


@pytest.mark.usefixtures("without_replay")
def test_tiles_run_their_deep_layers_whole_where_that_fits_and_costs_less():
    bf16, painting = torch.bfloat16, [(1024, 640)]
    settings = TransferSettings(size=4096, precision="bf16", max_memory=8.0)
    tile, split, keep, _ = fit_tiling(settings, PHOTO, painting, CPU, bf16)
    unsplit = fit_memory(settings, PHOTO, painting, CPU, bf16)
    assert split is Split.WHOLE and tile is not None and unsplit is not None
    assert memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split,
                         keep=keep) <= 8 * GB
    # The deep part's memory grows with the picture, beside the tiles: smaller tiles, yet
    # less work (their margins reach conv3_4 only, and they run the deep layers no more).
    assert tile < unsplit
    assert iteration_cost(3072, 4096, tile, "conv5_1", split, keep) < iteration_cost(
        3072, 4096, unsplit, "conv5_1")
    # Losses that reach no deeper than conv3_4 have no deep part.
    shallow = replace(settings, content_layer="conv2_2", style_layers=("conv1_1", "conv3_1"))
    assert fit_tiling(shallow, PHOTO, painting, CPU, bf16)[1] is Split.NONE
    # Nothing to split where the picture fits whole.
    assert fit_tiling(replace(settings, size=512), PHOTO, painting, CPU, bf16) == (
        None, Split.NONE, False, False)


@pytest.mark.usefixtures("without_replay")
def test_where_the_deep_part_whole_does_not_fit_it_runs_on_tiles_of_its_own(monkeypatch):
    """8192 px in 16 GB: the deep part whole would need ~13 GB of it; on tiles twice the
    side, after the shallow ones, it needs only the map and its gradient beside them."""
    bf16, painting = torch.bfloat16, [(1024, 640)]
    settings = TransferSettings(size=8192, precision="bf16", max_memory=16.0)
    with pytest.raises(MemoryRefused):
        fit_memory(settings, PHOTO, painting, CPU, bf16, split=Split.WHOLE)
    tile, split, keep, _ = fit_tiling(settings, PHOTO, painting, CPU, bf16)
    unsplit = fit_memory(settings, PHOTO, painting, CPU, bf16)
    assert split is Split.TILED and tile is not None and unsplit is not None
    assert memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split,
                         keep=keep) <= 16 * GB
    assert iteration_cost(6144, 8192, tile, "conv5_1", split, keep) < iteration_cost(
        6144, 8192, unsplit, "conv5_1")
    # In fp32 with NNPACK's Winograd convolutions too, their crops counted at what they
    # held: 4096 px on tiles of 1024 px peaked at 8.05 GB in 8 GB (session 24).
    monkeypatch.setattr(nnpack, "preferred", lambda: True)
    fp32 = replace(settings, size=4096, max_memory=8.0, precision="winograd")
    tile, split, _keep, _ = fit_tiling(fp32, PHOTO, painting, CPU, None, True)
    assert split is Split.TILED and tile is not None and tile < 1024
    assert memory_needed(fp32, PHOTO, painting, None, True, 1024, Split.TILED) > 8.05 * GB


@pytest.mark.usefixtures("without_replay")
def test_a_tiled_run_keeps_what_it_frees_where_the_limit_leaves_room(monkeypatch):
    bf16, painting = torch.bfloat16, [(1024, 640)]
    settings = TransferSettings(size=4096, precision="bf16", max_memory=8.0)
    tile, split, keep, _ = fit_tiling(settings, PHOTO, painting, CPU, bf16)
    assert keep and memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split,
                                  keep=True) <= 8 * GB
    back = memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split)
    kept = memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split, keep=True)
    assert kept - back == pytest.approx(KEPT_BYTES + KEPT_BYTES_PER_PIXEL * 4096 * 3072, abs=2)
    # Kept, the tiles are smaller than given back, yet the iteration takes less time.
    given_back = fit_memory(settings, PHOTO, painting, CPU, bf16, split=split)
    assert given_back is not None and tile < given_back
    assert iteration_cost(3072, 4096, tile, "conv5_1", split, True) < iteration_cost(
        3072, 4096, given_back, "conv5_1", split)
    # Where keeping would need tiles so small that their margins cost more than it saves
    # (NNPACK's Winograd convolutions, whose workspace grows with a tile).
    monkeypatch.setattr(nnpack, "preferred", lambda: True)
    fp32 = replace(settings, size=8192, max_memory=16.0, precision="winograd")
    assert not fit_tiling(fp32, PHOTO, painting, CPU, None, True).keep
    # A GPU's caching allocator keeps what it frees whatever the plan says.
    assert not fit_tiling(settings, PHOTO, painting, torch.device("cuda"), bf16).keep


def test_a_tiled_run_replays_its_second_pass_where_its_records_fit(monkeypatch):
    bf16, painting = torch.bfloat16, [(1024, 640)]
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: True)  # as with numba, bf16, max pools
    settings = TransferSettings(size=4096, precision="bf16", max_memory=8.0)
    tile, split, keep, replay = fit_tiling(settings, PHOTO, painting, CPU, bf16)
    assert replay and keep and split is not Split.NONE
    needed = memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split, keep=keep,
                           replay=True)
    assert needed <= 8 * GB
    # The records are counted: a bit a response of the crops' shallow layers that no loss
    # reads (conv1_1, conv2_1 and conv3_1's are their recomputed responses') or that a
    # pool follows, the inputs of conv2_1 and conv3_1 (pool1's and pool2's outputs) in
    # bf16, and the deep tiles' bits (conv4_3, conv4_4) and read layers' responses
    # (conv4_1, conv4_2, conv5_1), beside the fewer vectors a replayed stage holds.
    plain = memory_needed(settings, PHOTO, painting, bf16, tile=tile, split=split, keep=keep)
    fewer = (memory.LBFGS_OTHER_VECTORS - memory.REPLAYED_OTHER_VECTORS) * 12 * 4096 * 3072
    bits = (64 + 128 / 4 + 3 * 256 / 16) / 8
    inputs = 2 * (64 / 4 + 128 / 16)
    shallow = (bits + inputs) * seen_pixels(3072, 4096, tile, CUT)
    deep = (2 * 512 / 64 / 8 + 2 * (512 / 64 + 512 / 64 + 512 / 256)) * seen_pixels(
        3072, 4096, tile * DEEP_TILE_FACTOR, "conv5_1", AFTER_CUT)
    assert needed - plain + fewer == pytest.approx(shallow + deep, rel=0.02)
    # Replayed, an iteration costs less than the best plan without (its tiles smaller).
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: False)
    old = fit_tiling(settings, PHOTO, painting, CPU, bf16)
    assert not old.replay and iteration_cost(
        3072, 4096, tile, "conv5_1", split, keep, True) < iteration_cost(
        3072, 4096, old.tile, "conv5_1", old.split, old.keep)
    # At 8192 px in 16 GB the records fit with freed blocks given back (session 31: 727 s,
    # 129 s an iteration, against 769 s and 154 with the tiles run again and kept); in
    # 15 GB L-BFGS's vectors leave them no room.
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: True)
    large = replace(settings, size=8192, max_memory=16.0)
    assert fit_tiling(large, PHOTO, painting, CPU, bf16) == (1120, Split.TILED, False, True)
    assert not fit_tiling(replace(large, max_memory=15.0), PHOTO, painting, CPU, bf16).replay


@pytest.mark.parametrize(("pooling", "dtype", "device", "winograd", "replays"), [
    ("max", torch.bfloat16, "cpu", False, True), ("avg", torch.bfloat16, "cpu", False, False),
    ("max", None, "cpu", False, True), ("max", None, "cpu", "ours", True),
    ("max", None, "cpu", "NNPACK's", False),
    ("max", torch.float16, "cpu", False, False), ("max", torch.bfloat16, "cuda", False, False)])
def test_max_pools_on_the_cpu_by_channels_last_convolutions_replay(monkeypatch, pooling, dtype,
                                                                   device, winograd, replays):
    monkeypatch.setattr(nnpack, "preferred", lambda: winograd == "NNPACK's")
    assert tiling_plan.replays(pooling, dtype, torch.device(device), bool(winograd)) is (
        replays and matching.available())


def test_a_smaller_tiled_stage_replays_where_the_final_ones_records_do_not_fit(monkeypatch):
    """8192 px in 15 GB: the final stage runs its tiles again, the 4096 px stage replays
    them; its records fit in what its quarter of the pixels spares of L-BFGS's vectors."""
    bf16, painting = torch.bfloat16, [(1024, 640)]
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: True)
    settings = TransferSettings(size=8192, precision="bf16", max_memory=15.0)
    tiling = fit_tiling(settings, PHOTO, painting, CPU, bf16)
    tiles = memory.stage_tiles(settings, PHOTO, bf16, False, *tiling[:3])
    assert not tiling.replay and tiles[-2:] == (tiling.tile, tiling.tile)
    replays = tiling_plan.stage_replays(tiling, tiles, "max", bf16, CPU)
    assert replays == tuple(tile is not None for tile in tiles[:-1]) + (False,)
    # The 4096 px stage with its records needs less than the 8192 px stage without.
    smaller = replace(settings, size=4096)
    assert memory_needed(smaller, PHOTO, painting, bf16, tile=tiling.tile, split=tiling.split,
                         keep=tiling.keep, replay=True) < memory_needed(
        settings, PHOTO, painting, bf16, tile=tiling.tile, split=tiling.split, keep=tiling.keep)
    # Where the network cannot replay, no stage does.
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: False)
    assert not any(tiling_plan.stage_replays(tiling, tiles, "max", bf16, CPU))
