"""A tile's second pass from what its first kept (painterly/replay.py): the network's
responses and autograd's gradient, and a tiled objective's value and gradient, without
the tiles' forward pass run again."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import TransferSettings, bitmasks, nnpack, replay, stylize, tiling_plan, winograd
from painterly.layers import LAYERS
from painterly.objective import build_objective
from painterly.tiles import AFTER_CUT, CUT, DEEP_TILE_FACTOR, Split, tile_grid
from painterly.tiling import TiledObjective
from painterly.vgg import load_extractor

pytestmark = pytest.mark.skipif(not bitmasks.available(), reason="numba is not installed")

BF16 = torch.bfloat16


@pytest.fixture(scope="module")
def extractor():
    return load_extractor(None, "max", "cpu")


@pytest.fixture
def winograd_extractor(monkeypatch):
    """The extractor by painterly's own Winograd's convolutions (as on a CPU with AVX-512),
    on every layer from 128 channels at these tests' small sizes too."""
    monkeypatch.setattr(nnpack, "preferred", lambda: False)
    monkeypatch.setattr(winograd, "_MIN_POSITIONS", {128: 1, 256: 1, 512: 1})
    return load_extractor(None, "max", "cpu", winograd=True)


def _slopes(responses: dict[str, torch.Tensor], seed: int,
            dtype: torch.dtype) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {layer: torch.randn(value.shape, generator=generator).to(dtype)
            for layer, value in responses.items()}


@pytest.mark.parametrize(("read", "start", "deepest", "pools", "size", "inputs", "kept"), [
    # A split's tiles: the style layers, CUT pooled for the deep part; odd sides.
    (("conv1_1", "conv2_1", "conv3_1"), LAYERS[0], CUT, True, (75, 101),
     {"conv2_1", "conv3_1"}, set()),
    # A pooled layer a loss reads too (its responses kept: no larger than its input), and
    # the content layer after a style layer (whose response is conv2_2's input:
    # recomputed, not kept).
    (("conv1_2", "conv2_1", "conv2_2"), LAYERS[0], "conv2_2", False, (64, 48),
     {"conv2_1"}, {"conv1_2"}),
    # A deep part from the cut's map: every read layer's responses are small and kept.
    (("conv4_1", "conv4_2", "conv5_1"), AFTER_CUT, "conv5_1", False, (19, 26),
     set(), {"conv4_1", "conv4_2", "conv5_1"}),
    # The whole network on a tile: the shallow read layers from their inputs, the deep
    # ones kept (conv4_2's input, conv4_1's response, is not kept twice).
    (("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"), LAYERS[0], "conv5_1",
     False, (64, 80), {"conv2_1", "conv3_1"}, {"conv4_1", "conv4_2", "conv5_1"})])
@pytest.mark.parametrize(("dtype", "winograd"), [(BF16, False), (torch.float32, False),
                                               (torch.float32, True)],
                         ids=["bf16", "fp32", "fp32 winograd"])
def test_the_gradient_from_a_record_is_autograds(request, read, start, deepest, pools,
                                                 size, inputs, kept, dtype, winograd):
    extractor = request.getfixturevalue("winograd_extractor" if winograd else "extractor")
    channels = 3 if start == LAYERS[0] else 256
    generator = torch.Generator().manual_seed(0)
    crop = torch.rand(1, channels, *size, generator=generator)
    if start != LAYERS[0]:
        crop = crop.to(dtype).contiguous(memory_format=torch.channels_last)
    read = frozenset(read)
    responses, pooled, record = replay.forward(extractor, crop, read, deepest, start, pools,
                                               dtype)
    # It keeps the inputs it cannot recompute (or the responses, where no larger), and
    # what it holds is what record_bytes counts.
    assert set(record.inputs) == inputs and set(record.responses) == kept
    assert record.nbytes == pytest.approx(replay.record_bytes(read, deepest, start, pools,
                                                              dtype.itemsize)
                                 * size[0] * size[1] * (1 if start == LAYERS[0] else 64),
                                 rel=0.2)
    # Recomputed from the record (which takes the read layers' ReLU bits from them), the
    # read layers' responses are the same again.
    again = replay.recompute(extractor, crop, record, read)
    assert all(torch.equal(again[layer], responses[layer]) for layer in read)
    # The extractor's own responses, and its gradient through autograd.
    leaf = crop.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=BF16, enabled=dtype == BF16):
        expected = extractor(leaf, [*read, deepest], start=start)
    for layer in read:
        assert torch.equal(responses[layer], expected[layer])
    slopes = _slopes(responses, 1, dtype)
    total = sum((expected[layer].float() * slopes[layer].float()).sum() for layer in read)
    pooled_slope = None
    if pools:
        assert torch.equal(pooled, extractor.pool(expected[deepest]))
        pooled_slope = _slopes({"pool": pooled}, 2, dtype)["pool"]
        total = total + (extractor.pool(expected[deepest]).float() * pooled_slope.float()).sum()
    total.backward()
    gradient = replay.backward(extractor, record, slopes, pooled_slope, crop.dtype)
    assert gradient.dtype == crop.dtype and gradient.shape == crop.shape
    # The same arithmetic, to the bit (two gradients meeting at a layer add either way).
    assert torch.equal(gradient, leaf.grad)
    if winograd and LAYERS.index(deepest) >= LAYERS.index("conv2_2"):
        assert "winograd" in record.methods  # (its own convolutions ran there)


SPLITS = pytest.mark.parametrize("split", list(Split), ids=lambda split: f"deep {split.value}")


@SPLITS
@pytest.mark.parametrize(("settings", "regions", "dtype"), [
    (TransferSettings(), False, BF16),
    (TransferSettings(style_loss="gram", tv_weight=1.0), False, BF16),
    (TransferSettings(content_layer="conv2_2", style_layers=("conv1_1", "conv3_1")), False, BF16),
    (TransferSettings(style_loss="w2"), True, BF16), (TransferSettings(style_weight=0.0), False, BF16),
    (TransferSettings(content_weight=0.0), False, BF16),
    # fp32 takes the same path in another type: the defaults and the regions suffice.
    (TransferSettings(), False, torch.float32), (TransferSettings(style_loss="w2"), True, torch.float32)],
    ids=["defaults", "gram and tv", "shallow layers", "w2, two regions", "content only",
         "style only", "fp32 defaults", "fp32 w2, two regions"])
def test_a_replayed_tiled_objective_is_the_one_that_runs_again(extractor, settings, regions,
                                                              split, dtype):
    generator = torch.Generator().manual_seed(3)
    photo = torch.rand(1, 3, 150, 230, generator=generator)
    painting = torch.rand(1, 3, 130, 242, generator=generator)
    image = (photo + 0.2 * torch.randn(photo.shape, generator=generator)).clamp(0, 1)
    paintings, blend, masks = [painting], (1.0,), None
    if regions:  # a soft-edged left region and the rest, each its own painting
        ramp = torch.linspace(-3, 3, 230).sigmoid().view(1, 1, 1, -1).expand(1, 1, 150, 230)
        paintings, blend, masks = [painting, painting.flip(-1)], (0.5, 0.5), [1 - ramp, ramp]
    objective = build_objective(extractor, photo, paintings, blend, settings,
                                dtype if dtype == BF16 else None, tile=112, masks=masks)
    results = []
    for replayed in (False, True):
        pixels = image.clone().requires_grad_(True)
        terms = TiledObjective(objective, 112, split, replay=replayed)(pixels)
        terms.total.backward()
        results.append((terms, pixels.grad))
    (expected, expected_gradient), (terms, gradient) = results
    for part in ("total", "content", "style", "tv", "outside"):
        torch.testing.assert_close(getattr(terms, part).detach(),
                                   getattr(expected, part).detach(), rtol=1e-6, atol=1e-9)
    # Deep tiles add their crops' gradients into a map of the network's type in another
    # order.
    tolerance = (2e-3 if dtype == BF16 else 1e-5) if split is Split.TILED else 1e-5
    difference = (gradient - expected_gradient).norm() / expected_gradient.norm()
    assert difference < tolerance


def _conv_runs(extractor, layers: tuple[str, ...], split: Split) -> Counter[str]:
    """How often each of ``layers`` runs its convolution in one replayed evaluation of a
    150 x 230 px picture on tiles of 112 px, its deep layers where ``split`` says."""
    generator = torch.Generator().manual_seed(5)
    photo = torch.rand(1, 3, 150, 230, generator=generator)
    painting = torch.rand(1, 3, 130, 242, generator=generator)
    objective = build_objective(extractor, photo, [painting], (1.0,), TransferSettings(), BF16,
                                tile=112)
    calls: Counter[str] = Counter()
    hooks = [extractor.convs[layer].register_forward_hook(
        lambda *_, layer=layer: calls.update([layer])) for layer in layers]
    try:
        pixels = photo.clone().requires_grad_(True)
        TiledObjective(objective, 112, split, replay=True)(pixels).total.backward()
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def test_replayed_tiles_run_their_deep_layers_once(extractor):
    """Each tile runs to conv3_4 once; pass 2 runs again only the layers its losses read
    (conv1_1, conv2_1, conv3_1 from their kept inputs)."""
    tiles = 6  # 150 x 230 px on cores of 112 px: 2 rows, 3 columns
    assert _conv_runs(extractor, ("conv1_1", "conv1_2", CUT), Split.WHOLE) == {
        "conv1_1": 2 * tiles, "conv1_2": tiles, CUT: tiles}


def test_replayed_deep_tiles_keep_their_read_layers_responses(extractor):
    """On tiles of its own, the deep part runs conv4_1 and conv4_2 once a tile: pass 2
    takes their responses from the records (KEPT_RESPONSE_VALUES)."""
    deep_tiles = len(tile_grid(150, 230, 112 * DEEP_TILE_FACTOR, "conv5_1", AFTER_CUT))
    assert deep_tiles > 1  # (one tile keeps its graph instead)
    assert _conv_runs(extractor, ("conv4_1", "conv4_2"), Split.TILED) == {
        "conv4_1": deep_tiles, "conv4_2": deep_tiles}


def test_a_bf16_run_on_tiles_replays_and_paints_the_same_picture(content_path, style_path,
                                                                monkeypatch):
    """A run with bf16 on given tiles plans the replay, and paints what the tiles' forward
    run again paints (a few iterations: L-BFGS amplifies rounding over many)."""
    with Image.open(content_path) as photo, Image.open(style_path) as painting:
        photo = photo.convert("RGB").resize((96, 72), Image.Resampling.LANCZOS)
        painting = painting.convert("RGB").resize((96, 60), Image.Resampling.LANCZOS)
    settings = TransferSettings(size=96, iterations=3, scales=(48,), tile=64,
                                precision="bf16")
    plans = []
    replayed = np.asarray(stylize(photo, painting, settings, on_plan=plans.append),
                          dtype=np.float64)
    assert [stage.replay for stage in plans[0].stages] == [False, True]
    monkeypatch.setattr(tiling_plan, "replays", lambda *_: False)
    again = np.asarray(stylize(photo, painting, settings, on_plan=plans.append),
                       dtype=np.float64)
    assert not plans[1].stages[-1].replay
    assert np.abs(replayed - again).mean() < 0.5 and np.abs(replayed - again).max() <= 8
