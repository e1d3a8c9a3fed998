"""The objective (painterly/objective.py): targets and the weighted sum of the losses,
checked against the losses recomputed in float64 numpy from the network's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly import TransferSettings
from painterly.losses import range_loss
from painterly.objective import RANGE_WEIGHT, build_objective
from painterly.vgg import load_extractor


@pytest.fixture(scope="module")
def extractor():
    return load_extractor(None, "max", "cpu")


def _images(seed: int, count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, 40, 48, generator=generator) for _ in range(count)]


def _gram64(features: torch.Tensor) -> np.ndarray:
    f = features.detach().double().numpy()[0]
    f = f.reshape(f.shape[0], -1)
    return f @ f.T / f.shape[1]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a - b) ** 2).sum() / (b**2).sum())


def test_terms_match_a_float64_reference(extractor):
    photo, painting, image = _images(0, 3)
    settings = TransferSettings(style_layers=("conv1_1", "conv3_1"), style_layer_weights=(1, 3),
                                content_weight=2.0, style_weight=5.0, tv_weight=0.5,
                                style_loss="gram")
    objective = build_objective(extractor, photo, [painting], (1.0,), settings, None)
    terms = objective(image)
    with torch.no_grad():
        mine = extractor(image, ["conv4_2", "conv1_1", "conv3_1"])
        target = extractor(photo, ["conv4_2"])["conv4_2"]
        theirs = extractor(painting, ["conv1_1", "conv3_1"])
    content = _relative(mine["conv4_2"].double().numpy(), target.double().numpy())
    style = sum(w * _relative(_gram64(mine[layer]), _gram64(theirs[layer]))
                for layer, w in (("conv1_1", 0.25), ("conv3_1", 0.75)))
    pixels = image.double().numpy()
    tv = (np.mean(np.diff(pixels, axis=2) ** 2) + np.mean(np.diff(pixels, axis=3) ** 2))
    assert float(terms.content) == pytest.approx(content, rel=1e-4)
    assert float(terms.style) == pytest.approx(style, rel=1e-4)
    total = 2.0 * float(terms.content) + 5.0 * float(terms.style) + 0.5 * float(terms.tv)
    assert float(terms.total) == pytest.approx(total, rel=1e-6)
    assert float(terms.tv) == pytest.approx(tv, rel=1e-5)


def test_paintings_mix_by_the_blend(extractor):
    photo, first, second = _images(1, 3)
    settings = TransferSettings(style_loss="gram")
    both = build_objective(extractor, photo, [first, second], (0.25, 0.75), settings, None)
    alone = [build_objective(extractor, photo, [p], (1.0,), settings, None)
             for p in (first, second)]
    for layer in settings.style_layers:
        mixed = 0.25 * alone[0].style_regions[0].targets[layer].gram + 0.75 * alone[1].style_regions[0].targets[layer].gram
        torch.testing.assert_close(both.style_regions[0].targets[layer].gram, mixed, rtol=1e-5, atol=1e-7)


def test_only_the_layers_the_weights_need_are_computed(extractor, monkeypatch):
    photo, painting, image = _images(2, 3)
    settings = TransferSettings(style_weight=0.0)
    objective = build_objective(extractor, photo, [painting], (1.0,), settings, None)
    asked = []
    real = type(extractor).forward

    def forward(self, image, layers):
        asked.append(set(layers))
        return real(self, image, layers)

    monkeypatch.setattr(type(extractor), "forward", forward)
    terms = objective(image)
    assert asked == [{"conv4_2"}] and objective.layers == settings.layers_needed()
    assert float(terms.style) == 0.0 and float(terms.content) > 0


def test_values_outside_the_picture_range_are_penalised_in_proportion_to_the_weights(extractor):
    photo, painting, image = _images(3, 3)
    outside = image * 1.6 - 0.3  # values in [-0.3, 1.3)
    expected_range = float(range_loss(outside))
    assert expected_range > 0 and float(range_loss(image)) == 0.0
    totals = []
    for scale in (1.0, 3.0):
        settings = TransferSettings(content_weight=2.0 * scale, style_weight=5.0 * scale)
        terms = build_objective(extractor, photo, [painting], (1.0,), settings, None)(outside)
        assert float(terms.outside) == pytest.approx(expected_range, rel=1e-6)
        rest = 2.0 * scale * float(terms.content) + 5.0 * scale * float(terms.style)
        penalty = RANGE_WEIGHT * 7.0 * scale * expected_range
        assert float(terms.total) == pytest.approx(rest + penalty, rel=1e-5)
        totals.append(float(terms.total))
    assert totals[1] == pytest.approx(3 * totals[0], rel=1e-5)  # scaling every weight alike


@pytest.mark.parametrize("kind", ["gram", "w2", "swd"])
def test_each_style_loss_is_zero_at_the_painting_and_grows_away_from_it(extractor, kind):
    photo, painting, image = _images(4, 3)
    settings = TransferSettings(style_loss=kind, content_weight=0.0)
    objective = build_objective(extractor, photo, [painting], (1.0,), settings, None)
    at_painting = float(objective(painting).style)
    # swd's: where a bin holds several values, their targets are interpolated in it.
    floor = 1e-5 if kind == "swd" else 1e-6
    assert at_painting < floor
    assert float(objective(image).style) > 1e-3 > at_painting
    # A blend of the painting with itself is the painting.
    twice = build_objective(extractor, photo, [painting, painting], (0.4, 0.6), settings, None)
    assert float(twice(painting).style) < floor
    assert float(twice(image).style) == pytest.approx(float(objective(image).style), rel=1e-4)


def test_swd_loss_compares_the_network_responses_by_hand(extractor):
    """The objective's swd term against the pure loss recomputed from the features and
    the same directions (one layer, so nothing else is summed)."""
    from painterly.losses import positions
    from painterly.sliced import sketch
    from painterly.style_targets import STRENGTH, directions
    from painterly.swd import bins_for, swd_loss

    photo, painting, image = _images(5, 3)
    settings = TransferSettings(style_loss="swd", style_layers=("conv2_1",), seed=3)
    objective = build_objective(extractor, photo, [painting], (1.0,), settings, None)
    projections = directions(128, 3, 2)  # conv2_1 is LAYERS[2]
    with torch.no_grad():
        mine = extractor(image, ["conv2_1"])["conv2_1"]
        theirs = positions(extractor(painting, ["conv2_1"])["conv2_1"])
    expected = STRENGTH["swd"] * float(swd_loss(mine, projections, sketch(projections.T @ theirs.T),
                                                bins_for(len(theirs))))
    assert float(objective(image).style) == pytest.approx(expected, rel=1e-5)
