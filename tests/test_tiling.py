"""The tiled objective (painterly/tiling.py): the untiled objective's value and gradient,
tile by tile."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import Progress, TransferSettings, stylize
from painterly.events import Interrupted, StopRequested
from painterly.images import fit_long_side, to_tensor
from painterly.layers import LAYERS
from painterly.objective import build_objective
from painterly.tiles import Split
from painterly.tiling import TiledObjective
from painterly.vgg import load_extractor


@pytest.fixture(scope="module")
def extractor():
    return load_extractor(None, "max", "cpu")


def _value_and_gradient(objective, image: torch.Tensor):
    image = image.clone().requires_grad_(True)
    terms = objective(image)
    terms.total.backward()
    return terms, image.grad


def _relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value - reference).norm() / reference.norm())


def _pictures(seed: int, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    photo = torch.rand(1, 3, *size, generator=generator)
    painting = torch.rand(1, 3, size[0] - 20, size[1] + 12, generator=generator)
    image = (photo + 0.2 * torch.randn(photo.shape, generator=generator)).clamp(-0.05, 1.05)
    return photo, painting, image


SETTINGS = {
    "defaults": TransferSettings(),
    "gram": TransferSettings(style_loss="gram"),
    "tv and shallow layers": TransferSettings(tv_weight=3.0, content_layer="conv2_2",
                                              style_layers=("conv1_1", "conv3_1")),
    "style only": TransferSettings(content_weight=0.0),
    "content only": TransferSettings(style_weight=0.0),
    "w2": TransferSettings(style_loss="w2", tv_weight=1.0),
    "w2, two regions": TransferSettings(style_loss="w2"),
    "gram, two regions": TransferSettings(style_loss="gram"),
    "swd": TransferSettings(style_loss="swd", tv_weight=1.0),
    "swd, two regions": TransferSettings(style_loss="swd"),
}


def _two_regions(size: tuple[int, int]) -> list[torch.Tensor]:
    """A soft-edged left region and the rest."""
    ramp = torch.linspace(-3, 3, size[1]).sigmoid().view(1, 1, 1, -1).expand(1, 1, *size)
    return [1 - ramp, ramp.contiguous()]


SPLITS = pytest.mark.parametrize("split", list(Split), ids=lambda split: f"deep {split.value}")


@SPLITS
@pytest.mark.parametrize(("name", "tile"), [("defaults", 64), *((name, 112) for name in SETTINGS)])
def test_tiled_value_and_gradient_are_the_untiled_ones(extractor, name, tile, split):
    """Split, the shallow layers run on tiles and the deep ones whole, or on tiles of
    their own on the map the shallow ones end with (at 112 px, 2 of them)
    ("tv and shallow layers" reaches no deeper than the cut: not split)."""
    settings = SETTINGS[name]
    photo, painting, image = _pictures(0, (150, 230))
    regions = "regions" in name
    paintings = [painting, painting.flip(-1) * 0.8] if regions else [painting]
    blend = (0.5, 0.5) if regions else (1.0,)
    masks = _two_regions((150, 230)) if regions else None
    whole = build_objective(extractor, photo, paintings, blend, settings, None, masks=masks)
    tiled = TiledObjective(build_objective(extractor, photo, paintings, blend, settings, None,
                                           tile=tile, masks=masks), tile, split)
    expected, expected_gradient = _value_and_gradient(whole, image)
    terms, gradient = _value_and_gradient(tiled, image)
    # swd: a tile's features round apart from the whole's, and a value that crosses a bin
    # edge so moves its target by a rank.
    tolerance = 1e-4 if settings.style_loss == "swd" else 1e-5
    for part in ("total", "content", "style", "tv", "outside"):
        torch.testing.assert_close(getattr(terms, part).detach(),
                                   getattr(expected, part).detach(), rtol=tolerance, atol=1e-9)
    assert _relative_error(gradient, expected_gradient) < tolerance


def test_without_a_gradient_it_computes_none(extractor):
    photo, painting, image = _pictures(1, (100, 140))
    objective = build_objective(extractor, photo, [painting], (1.0,), TransferSettings(), None)
    terms = TiledObjective(objective, 64)(image)
    assert not terms.total.requires_grad
    assert float(terms.total) == pytest.approx(float(objective(image).total), rel=1e-5)


@SPLITS
@pytest.mark.parametrize("loss", ["swd", "gram"])
def test_the_last_tile_of_the_statistics_pass_is_not_run_again(extractor, loss, split):
    """Pass 1 keeps its last tile's terms (with their graph where a gradient is wanted)
    and pass 2 starts from them: 2n - 1 passes through the network for n tiles; without
    a gradient gram's pass 2 runs no tile (n). Split, the tiles run only to conv3_4 and
    the deep part once more, whole; or on its own 2 tiles, when the shallow tiles keep
    none (their graph and the deep part's would be held at once)."""
    photo, painting, image = _pictures(2, (150, 230))
    settings = TransferSettings(style_loss=loss)
    tiled = TiledObjective(build_objective(extractor, photo, [painting], (1.0,), settings,
                                           None, tile=112), 112, split)
    passes: list[str] = []
    hook = extractor.register_forward_hook(
        lambda _module, args, _out: passes.append(max(args[1], key=LAYERS.index)))
    try:
        for gradient in (True, False):
            passes.clear()
            if gradient:
                _value_and_gradient(tiled, image)
            else:
                tiled(image)
            both = gradient or loss == "swd"  # pass 2 runs: passes over n tiles, k kept
            runs = {(n, k): 2 * n - k if both else n for n in (2, 6) for k in (0, 1)}
            # 150 x 230 px on cores of 112 px: 2 rows, 3 columns; the deep part's: 1 x 2.
            expected = {Split.NONE: {"conv5_1": runs[6, 1]},
                        Split.WHOLE: {"conv3_4": runs[6, 1], "conv5_1": 1},
                        Split.TILED: {"conv3_4": runs[6, 0], "conv5_1": runs[2, 1]}}[split]
            assert Counter(passes) == expected, gradient
    finally:
        hook.remove()


def test_gradient_at_1024_px_for_several_tiles(extractor, content_path, style_path):
    """The issue's check: a real photo and painting at 1024 px, an image between them,
    and tiles of two sizes (several rows and columns each). One objective per tile size
    serves its splits (its targets are made once; ~5 s each at this size)."""
    with Image.open(content_path) as photo_file, Image.open(style_path) as painting_file:
        photo = to_tensor(fit_long_side(photo_file.convert("RGB"), 1024))
        painting = to_tensor(fit_long_side(painting_file.convert("RGB"), 1024))
    generator = torch.Generator().manual_seed(4)
    image = (0.7 * photo + 0.3 * torch.rand(photo.shape, generator=generator))
    settings = TransferSettings(size=1024, tv_weight=1.0)
    whole = build_objective(extractor, photo, [painting], (1.0,), settings, None)
    expected, expected_gradient = _value_and_gradient(whole, image)
    for tile, splits in ((384, (Split.NONE, Split.TILED)), (640, (Split.WHOLE,))):
        objective = build_objective(extractor, photo, [painting], (1.0,), settings, None, tile)
        for split in splits:
            terms, gradient = _value_and_gradient(TiledObjective(objective, tile, split), image)
            assert _relative_error(gradient, expected_gradient) <= 1e-3, (tile, split)
            assert float(terms.total.detach()) == pytest.approx(float(expected.total.detach()),
                                                                rel=1e-4)


@pytest.fixture(scope="module")
def photo_96(content_path):
    with Image.open(content_path) as image:
        return image.convert("RGB").resize((96, 72), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def paintings_96(style_path):
    with Image.open(style_path) as image:
        painting = image.convert("RGB").resize((96, 60), Image.Resampling.LANCZOS)
    return [painting, painting.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]


@pytest.mark.parametrize("color", ["none", "luminance", "histogram"])
def test_a_tiled_run_paints_the_untiled_picture(photo_96, paintings_96, color):
    """Every colour mode, two paintings blended: a few iterations on tiles give the
    untiled picture (L-BFGS amplifies rounding over many, so few are compared)."""
    settings = TransferSettings(size=96, iterations=3, scales=(48,), preserve_color=color,
                                style_blend=(0.3, 0.7))
    whole = np.asarray(stylize(photo_96, paintings_96, settings), dtype=np.float64)
    tiled = np.asarray(stylize(photo_96, paintings_96, replace(settings, tile=64)),
                       dtype=np.float64)
    assert np.abs(tiled - whole).mean() < 0.5 and np.abs(tiled - whole).max() <= 8


def test_a_tiled_run_stops_and_resumes_to_the_straight_picture(photo_96, paintings_96):
    settings = TransferSettings(size=96, iterations=4, scales=(48,), tile=64)
    plans = []
    straight = np.asarray(stylize(photo_96, paintings_96[0], settings, on_plan=plans.append))
    assert [s.tile for s in plans[0].stages] == [None, 64]

    def stop_at_6(progress: Progress) -> None:
        if progress.iteration == 6:
            raise StopRequested

    with pytest.raises(Interrupted) as stopped:
        stylize(photo_96, paintings_96[0], settings, callback=stop_at_6)
    shares = []
    resumed = stylize(photo_96, paintings_96[0], settings, resume=stopped.value.checkpoint,
                      callback=lambda p: shares.append(p.fraction))
    np.testing.assert_array_equal(np.asarray(resumed), straight)
    # The share of the work grows to 1, each tiled iteration by more than a 48 px one.
    assert shares == sorted(shares) and shares[-1] == pytest.approx(1.0)


def test_a_tiled_runs_untiled_stages_keep_their_freed_memory(photo_96, paintings_96,
                                                            monkeypatch):
    """Its whole stages run inside allocator.keeping_freed_memory (their iterations reuse
    their activations' pages), its tiled stages outside (each evaluation keeps its own)."""
    from painterly import transfer

    stages_inside: list[tuple[int, int]] = []
    depth = [0]

    @contextlib.contextmanager
    def recording():
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    monkeypatch.setattr(transfer, "keeping_freed_memory", recording)
    settings = TransferSettings(size=96, iterations=2, scales=(48,), tile=64)
    stylize(photo_96, paintings_96[0], settings,
            callback=lambda p: stages_inside.append((p.size, depth[0])))
    assert stages_inside == [(48, 1), (48, 1), (96, 0), (96, 0)]
