"""The memory estimate and the check made before a run starts."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from painterly import TransferSettings, nnpack
from painterly.errors import MemoryRefused, SettingsError
from painterly.memory import (
    DEEP_BYTES_PER_PIXEL,
    GB,
    OWN_WINOGRAD_BAND_BYTES,
    _activation_bytes_per_pixel,
    _activations_per_pixel,
    estimate_bytes,
    fit_memory,
    memory_needed,
    stage_tiles,
)
from painterly.tiles import AFTER_CUT, CUT, DEEP_TILE_FACTOR, Split, crop_side
from painterly.winograd import kernel_bytes

CPU = torch.device("cpu")
PHOTO = (1024, 768)


def test_activations_per_pixel_hand_computed():
    assert _activations_per_pixel("conv1_1") == 64
    # conv1_1 + conv1_2 at full size, then the pool (64 channels) and conv2_1 (128) at 1/4
    assert _activations_per_pixel("conv2_1") == 64 + 64 + 64 / 4 + 128 / 4


def test_estimate_grows_with_pixels_depth_precision_and_optimizer():
    base = estimate_bytes([10**6], "conv5_1", torch.bfloat16, "lbfgs")
    assert estimate_bytes([4 * 10**6], "conv5_1", torch.bfloat16, "lbfgs") > 3 * base / 2
    assert estimate_bytes([10**6], "conv3_1", torch.bfloat16, "lbfgs") < base
    assert estimate_bytes([10**6], "conv5_1", None, "lbfgs") > base
    assert estimate_bytes([10**6], "conv5_1", torch.bfloat16, "adam") < base
    assert estimate_bytes([10**5, 10**6], "conv5_1", torch.bfloat16, "lbfgs") > base


def test_estimate_matches_the_measured_peak():
    # Measured on the 2-core CPU (peak RSS of a whole process, one 1024 px stage of 24
    # L-BFGS iterations, bf16, freed memory kept as the CLI does): 2.35 GB. The estimate
    # should be within 15%.
    settings = TransferSettings(size=1024, scales=(), precision="bf16", style_loss="gram")
    needed = memory_needed(settings, PHOTO, [(1024, 811)], torch.bfloat16)
    assert needed / GB == pytest.approx(2.35, rel=0.15)


@pytest.mark.parametrize(("size", "measured_gb"), [(1024, 3.55), (2048, 12.20)])
def test_fp32_estimate_is_on_the_safe_side_of_the_measured_peak(size, measured_gb):
    # Measured on a 2-core CPU without bf16 (peak RSS of a whole process: defaults, so
    # four stages, in fp32, 25 iterations a scale, freed memory kept; tubingen x
    # starry_night, benchmarks/results/speed_memory_xeon_no_bf16.md; gram, then the default).
    settings = TransferSettings(size=size, precision="fp32", style_loss="gram")
    needed = memory_needed(settings, PHOTO, [(1024, 640)], None) / GB
    assert measured_gb <= needed <= 1.1 * measured_gb


@pytest.fixture
def nnpack_preferred(monkeypatch):
    """Winograd's convolutions by NNPACK, as on the CPU without AVX-512 measured below."""
    monkeypatch.setattr(nnpack, "preferred", lambda: True)


@pytest.mark.parametrize(("size", "measured_gb"), [(1024, 4.02), (2048, 13.40)])
def test_winograd_estimate_counts_nnpack_workspace(nnpack_preferred, size, measured_gb):
    # Measured on a 2-core AMD EPYC without bf16 (peak RSS of a whole process: defaults,
    # --precision auto, so Winograd's convolutions, 3 iterations a scale, freed memory
    # kept; benchmarks/results/speed_memory_epyc_avx2.md; the larger of two runs, which
    # gave 3.89-4.02 and 12.17-13.40 GB; gram, then the default). NNPACK's workspace lifts
    # the peak over the fp32 estimate; how much depends on what freed memory the process
    # reuses for it.
    settings = TransferSettings(size=size, precision="winograd", style_loss="gram")
    needed = memory_needed(settings, PHOTO, [(1024, 640)], None, winograd=True) / GB
    assert measured_gb <= needed <= 1.3 * measured_gb
    assert needed > memory_needed(settings, PHOTO, [(1024, 640)], None) / GB


def test_the_transformed_kernels_count_their_bytes():
    # By hand: conv2_2 128 x 128, conv3_1 128 x 256, conv3_2-4 256 x 256, conv4_1 256 x 512,
    # conv4_2-4 and conv5_1 512 x 512; 36 values a pair, forward and gradient, 4 bytes.
    pairs = 128 * 128 + 128 * 256 + 3 * 256 * 256 + 256 * 512 + 4 * 512 * 512
    assert kernel_bytes("conv5_1") == 2 * 36 * 4 * pairs
    assert kernel_bytes("conv2_1") == 0 and kernel_bytes("conv2_2") == 2 * 36 * 4 * 128 * 128


def test_our_winograd_holds_the_same_few_bands_at_any_size(monkeypatch):
    # NNPACK's workspace grows with the picture (the tests above); ours is a few bands.
    monkeypatch.setattr(nnpack, "preferred", lambda: False)
    for size in (512, 4096):
        settings = TransferSettings(size=size, precision="winograd")
        extra = (memory_needed(settings, PHOTO, [PHOTO], None, winograd=True)
                 - memory_needed(settings, PHOTO, [PHOTO], None))
        assert extra == pytest.approx(OWN_WINOGRAD_BAND_BYTES + kernel_bytes("conv5_1"), abs=1)


def test_too_much_for_the_whole_picture_is_painted_on_tiles():
    settings = TransferSettings(size=2048, precision="bf16", max_memory=2.0)
    bf16 = torch.bfloat16
    assert memory_needed(settings, PHOTO, [PHOTO], bf16) > 2 * GB
    tile = fit_memory(settings, PHOTO, [PHOTO], CPU, bf16)
    assert tile is not None and tile % 16 == 0
    assert memory_needed(settings, PHOTO, [PHOTO], bf16, tile=tile) <= 2 * GB
    assert memory_needed(settings, PHOTO, [PHOTO], bf16, tile=tile + 16) > 2 * GB


def test_fits_whole_when_it_can_and_keeps_a_given_tile():
    settings = TransferSettings(size=256, max_memory=8.0)
    assert fit_memory(settings, PHOTO, [PHOTO], CPU, None) is None
    assert fit_memory(replace(settings, tile=128), PHOTO, [PHOTO], CPU, None) == 128


def test_tiles_bound_the_networks_memory():
    settings = TransferSettings(size=4096)
    whole = memory_needed(settings, PHOTO, [PHOTO], None)
    small, large = (memory_needed(settings, PHOTO, [PHOTO], None, tile=t) for t in (512, 1024))
    assert small < large < whole / 3


def test_too_much_even_on_tiles_names_the_largest_size_that_fits():
    settings = TransferSettings(size=8192, precision="bf16", max_memory=2.0)
    bf16 = torch.bfloat16
    with pytest.raises(MemoryRefused, match=r"size \d+ fits") as refused:
        fit_memory(settings, PHOTO, [PHOTO], CPU, bf16)
    largest = refused.value.largest_size
    assert f"size {largest} fits" in str(refused.value) and refused.value.setting == "size"
    assert refused.value.from_setting and refused.value.limit == 2 * GB
    fit_memory(replace(settings, size=largest), PHOTO, [PHOTO], CPU, bf16)  # and it runs
    with pytest.raises(MemoryRefused):
        fit_memory(replace(settings, size=largest + 1), PHOTO, [PHOTO], CPU, bf16)


def test_nothing_fits_says_so():
    settings = TransferSettings(size=512, max_memory=0.1)
    with pytest.raises(MemoryRefused, match="no size fits") as refused:
        fit_memory(settings, PHOTO, [PHOTO], CPU, None)
    assert refused.value.largest_size is None and refused.value.setting == "max_memory"


def test_max_memory_must_be_positive():
    with pytest.raises(SettingsError, match="max_memory"):
        TransferSettings(max_memory=0)




@pytest.mark.parametrize(("size", "measured_gb"), [(1024, 4.70), (2048, 15.58)])
def test_swd_estimate_is_on_the_safe_side_of_the_measured_peak(nnpack_preferred, size,
                                                               measured_gb):
    # Measured on a 2-core AMD EPYC without bf16 (peak RSS of a whole process: defaults,
    # swd, Winograd's convolutions, 3 iterations a scale, freed memory kept; the larger of
    # two runs at 1024 px, 4.33-4.70 GB; benchmarks/results/speed_memory_losses_epyc_avx2.md).
    settings = TransferSettings(size=size, precision="winograd", style_loss="swd")
    needed = memory_needed(settings, PHOTO, [(1024, 640)], None, winograd=True) / GB
    assert measured_gb <= needed <= 1.15 * measured_gb


def test_swd_needs_more_memory_than_gram_and_tiles():
    settings = TransferSettings(size=2048, max_memory=6.0, style_loss="gram")
    swd = replace(settings, style_loss="swd")
    gram = memory_needed(settings, PHOTO, [PHOTO], None)
    # The distances of 2048x1536 pixels' 122 style values, 4 bytes each: 1.5 GB.
    assert memory_needed(swd, PHOTO, [PHOTO], None) > gram + GB
    assert memory_needed(swd, PHOTO, [PHOTO], None, tile=512) < memory_needed(
        swd, PHOTO, [PHOTO], None)
    tile = fit_memory(swd, PHOTO, [PHOTO], CPU, None)
    assert tile is not None and memory_needed(swd, PHOTO, [PHOTO], None, tile=tile) <= 6 * 1024**3


def test_stages_that_fit_whole_beside_the_final_tiles_are_painted_whole():
    # 4096 px in 8 GB (the print-size benchmark's run), with a 2048 px stage: the final
    # stage needs tiles, and the 2048 px stage whole needs less than that (L-BFGS's
    # vectors are a quarter).
    bf16 = torch.bfloat16
    settings = TransferSettings(size=4096, precision="bf16", max_memory=8.0,
                                scales=(128, 256, 512, 1024, 2048))
    tile = fit_memory(settings, PHOTO, [(1024, 640)], CPU, bf16)
    tiles = stage_tiles(settings, PHOTO, bf16, False, tile)
    assert tile is not None and tiles[-1] == tile and set(tiles[:-1]) == {None}
    assert memory_needed(settings, PHOTO, [(1024, 640)], bf16, tile=tile) <= 8 * GB
    # With less memory the final stage's tiles shrink and the 2048 px stage is tiled too.
    tight = replace(settings, max_memory=5.0)
    small = fit_memory(tight, PHOTO, [(1024, 640)], CPU, bf16)
    assert small is not None and small < tile
    assert stage_tiles(tight, PHOTO, bf16, False, small)[-2:] == (small, small)


@pytest.mark.parametrize(("size", "tile", "split", "keep", "replay", "measured_gb"), [
    (4096, 784, Split.WHOLE, False, False, 5.61), (4096, 784, Split.WHOLE, True, False, 7.04),
    (8192, 1552, Split.TILED, False, False, 13.91),
    (8192, 1552, Split.TILED, True, False, 17.32),
    (4096, 928, Split.TILED, True, True, 6.97), (4096, 1536, Split.WHOLE, True, True, 8.83),
    (4096, 1056, Split.TILED, True, True, 6.96), (8192, 912, Split.TILED, False, True, 13.01),
    (8192, 1488, Split.TILED, True, True, 18.81),
    (4096, 1104, Split.TILED, True, True, 7.18), (4096, 1056, Split.WHOLE, True, True, 7.55),
    (8192, 1120, Split.TILED, False, True, 12.06), (8192, 1632, Split.TILED, True, True, 18.95)])
def test_tiled_estimates_are_on_the_safe_side_of_the_measured_peaks(size, tile, split, keep,
                                                                    replay, measured_gb):
    """The print-size commands with bf16 (sessions 28, 30, 31 and 33,
    benchmarks/results/print_*_s28*.md, print_4096_*_s30_{replay,tile_1536}.md,
    print_*_s31.md and print_*_s33*.md: peak RSS of the whole process, large blocks given
    back or every freed block kept, replayed; session 31's records keep no read layer's
    ReLU bits, session 33's keep the deep read layers' responses, and its runs no longer
    hold a finished stage's optimiser). Within 1.25x, but 1.35x for a replayed stage
    with blocks given back: its records go back tile by tile as pass 2 runs, where the
    estimate counts them all beside a tile's peak."""
    settings = TransferSettings(size=size, precision="bf16")
    needed = memory_needed(settings, PHOTO, [(1024, 640)], torch.bfloat16, tile=tile,
                           split=split, keep=keep, replay=replay) / GB
    assert measured_gb <= needed <= (1.35 if replay and not keep else 1.25) * measured_gb


@pytest.mark.parametrize("dtype", [torch.bfloat16, None], ids=["bf16", "fp32"])
@pytest.mark.parametrize("tile", [256, 784, 1536])
def test_a_deep_tile_needs_no_more_memory_than_a_shallow_one(dtype, tile):
    """Why the planner counts a tiled deep part's tiles as no more than a shallow tile."""
    shallow = _activation_bytes_per_pixel(CUT, dtype) * crop_side(tile, CUT) ** 2
    deep_side = crop_side(tile * DEEP_TILE_FACTOR, "conv5_1", AFTER_CUT)
    assert DEEP_BYTES_PER_PIXEL[dtype] * deep_side**2 < shallow


def test_a_given_tile_tiles_every_stage_larger_than_it():
    settings = TransferSettings(size=4096, precision="bf16", tile=1312,
                                scales=(128, 256, 512, 1024, 2048))
    assert stage_tiles(settings, PHOTO, torch.bfloat16, False, 1312) == (
        None, None, None, None, 1312, 1312)

