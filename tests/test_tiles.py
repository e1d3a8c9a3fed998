"""Tile geometry and tiled feature reading (painterly/tiles.py): cores partition the
picture and its feature maps, and a core's features read from its crop are the whole
picture's."""

from __future__ import annotations

import pytest
import torch

from painterly import tiles
from painterly.layers import LAYERS, layer_channels
from painterly.losses import gram_matrix
from painterly.style_targets import directions, summarize
from painterly.tiles import (
    AFTER_CUT,
    ALIGN,
    CUT,
    DEEP_TILE_FACTOR,
    core_features,
    core_of,
    margin,
    reach,
    read_tiles,
    tile_grid,
    tiled_map,
)
from painterly.vgg import load_extractor


@pytest.fixture(scope="module")
def extractor():
    return load_extractor(None, "max", "cpu")


def test_reach_is_half_the_receptive_field():
    # Receptive fields computed by hand: conv1_1 3 px, conv4_2 84 px, conv5_1 156 px;
    # a position's cell is its stride wide, so it sees (field - stride) / 2 px past it.
    assert reach("conv1_1") == 1
    assert reach("conv4_2") == (84 - 8) // 2
    assert reach("conv5_1") == (156 - 16) // 2
    assert margin("conv5_1") == 80 and margin("conv1_1") == ALIGN
    # From pool3's map on (conv4_1's input): conv4_1-4_4 widen a field of one position by
    # 2 each (9), pool4 doubles it (10 at stride 2), conv5_1 adds 2 of those: 14 positions
    # of 8 px, 112 px for a 16 px cell.
    assert reach("conv5_1", "conv4_1") == (112 - 16) // 2 == margin("conv5_1", "conv4_1")


@pytest.mark.parametrize(("height", "width", "side"), [(200, 264, 64), (97, 130, 48), (64, 64, 64)])
def test_cores_partition_the_picture(height, width, side):
    covered = torch.zeros(height, width, dtype=torch.int32)
    for tile in tile_grid(height, width, side, "conv5_1"):
        top, bottom, left, right = tile.core
        assert top % ALIGN == 0 and left % ALIGN == 0
        assert bottom - top <= side and right - left <= side
        ctop, cbottom, cleft, cright = tile.crop
        assert ctop == max(0, top - 80) and cbottom == min(height, bottom + 80)
        assert cleft == max(0, left - 80) and cright == min(width, right + 80)
        covered[top:bottom, left:right] += 1
    assert bool((covered == 1).all())


def test_core_features_are_the_whole_pictures(extractor):
    image = torch.rand(1, 3, 150, 200, generator=torch.Generator().manual_seed(1))
    layers = ["conv1_1", "conv2_2", "conv3_1", "conv4_2", "conv5_1"]
    whole = extractor(image, layers)
    size = (150, 200)
    for tile in tile_grid(*size, 64, "conv5_1"):
        crop = image[:, :, tile.rows(), tile.cols()]
        cores = core_features(extractor, crop, layers, tile, size, None)
        for layer in layers:
            expected = core_of(whole[layer], layer, tile, size, whole=True)
            assert cores[layer].shape == expected.shape
            torch.testing.assert_close(cores[layer], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("size", [(150, 200), (157, 203)], ids=["even", "odd"])
def test_core_features_from_a_map_are_the_whole_maps(extractor, size):
    """The network from conv4_1 on, run on tiles of the map pool3 makes: the whole map's
    features (a picture's side not a multiple of 8: pools drop its last rows)."""
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(2))
    layers = ["conv4_2", "conv5_1"]
    pooled = extractor.pool(extractor(image, ["conv3_4"])["conv3_4"])
    whole = extractor(pooled, layers, start="conv4_1")
    for tile in tile_grid(*size, 64, "conv5_1", "conv4_1"):
        crop = pooled[:, :, tile.rows(8), tile.cols(8)]
        cores = core_features(extractor, crop, layers, tile, size, None, "conv4_1")
        for layer in layers:
            expected = core_of(whole[layer], layer, tile, size, whole=True)
            assert cores[layer].shape == expected.shape
            torch.testing.assert_close(cores[layer], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_a_cores_gradient_keeps_the_features_layout(layout):
    """A core's gradient is the slice's, zero in the margin, in the features' own layout:
    autograd's slicing gives channels-last features an NCHW gradient, which made a
    tile's backward pass strided."""
    size = (96, 96)
    tile = tile_grid(*size, 32, "conv1_1")[4]  # the middle core: margins on every side
    assert tile.core == (32, 64, 32, 64) and tile.crop == (16, 80, 16, 80)
    features = torch.randn(1, 8, 32, 32, generator=torch.Generator().manual_seed(4))  # conv2_1's
    features = features.contiguous(memory_format=layout).requires_grad_(True)
    seen = []
    mapped = (features * 1).contiguous(memory_format=layout)
    mapped.register_hook(seen.append)
    core = tiles._Core.apply(mapped, tiles._core_slices("conv2_1", tile, size))
    expected = core_of(features, "conv2_1", tile, size)
    torch.testing.assert_close(core, expected.detach())
    weights = torch.randn(core.shape, generator=torch.Generator().manual_seed(5))
    (core * weights).sum().backward()
    (reference,) = torch.autograd.grad((expected * weights).sum(), features)
    torch.testing.assert_close(features.grad, reference)
    assert seen[0].is_contiguous(memory_format=layout)
    torch.testing.assert_close(features.grad[:, :, 8:24, 8:24], weights)
    assert float(features.grad.abs().sum()) == pytest.approx(float(weights.abs().sum()))


def test_too_small_a_margin_changes_the_features(extractor, monkeypatch):
    """The margin is what makes core features exact: without it they differ."""
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    whole = extractor(image, ["conv5_1"])["conv5_1"]
    monkeypatch.setattr(tiles, "margin", lambda deepest, start: ALIGN)
    worst = 0.0
    for tile in tiles.tile_grid(128, 128, 64, "conv5_1"):
        crop = image[:, :, tile.rows(), tile.cols()]
        core = tiles.core_features(extractor, crop, ["conv5_1"], tile, (128, 128), None)
        expected = core_of(whole, "conv5_1", tile, (128, 128), whole=True)
        worst = max(worst, float((core["conv5_1"] - expected).abs().max() / expected.abs().max()))
    assert worst > 0.05


@pytest.mark.parametrize("kind", ["gram", "w2", "swd"])
def test_tiled_map_and_statistics_match_the_whole(extractor, kind):
    """A painting's statistics gathered from tiles' cores are the whole picture's."""
    image = torch.rand(1, 3, 120, 184, generator=torch.Generator().manual_seed(3))
    layers = list(LAYERS[::3])
    whole = extractor(image, layers)
    # Responses reach ~1.5e4 (Caffe's 0-255 scale); the convolutions of a crop and of
    # the whole sum in other orders (on AVX-512 up to 1.4e-6 of the largest apart).
    scale = float(whole["conv4_2"].abs().max())
    torch.testing.assert_close(tiled_map(extractor, image, "conv4_2", 64, None),
                               whole["conv4_2"], rtol=1e-4, atol=1e-5 * scale)
    projections = {layer: directions(layer_channels(layer), 0, 0) for layer in layers}
    tiled = summarize(kind, (f for _t, f in read_tiles(extractor, image, layers, 64, None)),
                      projections)
    untiled = summarize(kind, [whole], projections)
    for layer in layers:
        for got, expected in zip(tiled[layer], untiled[layer]):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    grams = summarize("gram", [whole], projections)
    for layer in layers:  # the gram summary is the Gram matrix itself
        torch.testing.assert_close(grams[layer][0], gram_matrix(whole[layer]))


def test_layers_past_the_cut_are_read_from_its_map_without_wide_margins(extractor):
    """The shallow layers on tiles with margins for CUT's reach, then the deep ones on the
    map CUT's pool makes, on tiles DEEP_TILE_FACTOR times the side: no 80 px margins."""
    image = torch.rand(1, 3, 120, 184, generator=torch.Generator().manual_seed(5))
    pieces = list(read_tiles(extractor, image, ["conv1_1", "conv5_1"], 64, None))
    shallow = [tile for tile, features in pieces if set(features) == {"conv1_1"}]
    deep = [tile for tile, features in pieces if set(features) == {"conv5_1"}]
    assert len(shallow) + len(deep) == len(pieces)
    assert shallow == tile_grid(120, 184, 64, CUT)
    assert deep == tile_grid(120, 184, 64 * DEEP_TILE_FACTOR, "conv5_1", AFTER_CUT)
    assert margin(CUT) == 32 and margin("conv5_1", AFTER_CUT) == 48
    # Below the cut there is nothing to split.
    assert [tile for tile, _ in read_tiles(extractor, image, ["conv2_1"], 64, None)] == (
        tile_grid(120, 184, 64, "conv2_1"))
