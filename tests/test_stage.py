"""A stage's objective (painterly/stage.py): where the paintings' statistics come from."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from painterly.images import fit_long_side, to_tensor
from painterly.objective import extract
from painterly.settings import NATIVE_FROM, TransferSettings
from painterly.stage import stage_objective
from painterly.style_targets import GramTarget
from painterly.vgg import load_extractor

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


@pytest.fixture(scope="module")
def extractor():
    return load_extractor(None, "max", "cpu")


def _grams(extractor, painting: Image.Image, long_side: int) -> dict[str, torch.Tensor]:
    """Each style layer's Gram matrix of ``painting`` at ``long_side`` px, computed
    apart from the objective."""
    with torch.no_grad():
        features = extract(extractor, to_tensor(fit_long_side(painting, long_side)), LAYERS, None)
    return {layer: GramTarget.moments(features[layer])[0][0] for layer in LAYERS}


def _targets(extractor, style_path, photo_side: int, painting_side: int):
    with Image.open(style_path) as image:
        painting = fit_long_side(image.convert("RGB"), painting_side)
    photo = torch.rand(1, 3, photo_side * 3 // 4, photo_side,
                       generator=torch.Generator().manual_seed(0))
    settings = TransferSettings(size=photo_side, style_loss="gram")
    objective, _target = stage_objective(extractor, photo, [painting], None, None, (1.0,),
                                         settings, None, None)
    targets = objective.style_regions[0].targets
    return painting, {layer: targets[layer].gram for layer in LAYERS}


def test_past_the_paintings_size_brushwork_takes_it_at_that_size(extractor, style_path):
    """A 640 px stage of a 544 px painting: conv1_1 and conv2_1 (the strokes) see the
    painting at its own 544 px, the deeper layers see it enlarged to 640 px with the
    output, as every smaller stage saw it."""
    own = NATIVE_FROM + 32
    painting, targets = _targets(extractor, style_path, 640, own)
    at_own, enlarged = _grams(extractor, painting, own), _grams(extractor, painting, 640)
    for layer in LAYERS:
        expected = at_own[layer] if layer in ("conv1_1", "conv2_1") else enlarged[layer]
        other = enlarged[layer] if layer in ("conv1_1", "conv2_1") else at_own[layer]
        torch.testing.assert_close(targets[layer], expected, rtol=1e-4, atol=1e-6)
        assert not torch.allclose(targets[layer], other, rtol=1e-3, atol=1e-6), layer


def test_within_the_paintings_size_every_layer_sees_it_scaled_with_the_output(
        extractor, style_path):
    painting, targets = _targets(extractor, style_path, 320, 640)
    expected = _grams(extractor, painting, 320)
    for layer in LAYERS:
        torch.testing.assert_close(targets[layer], expected[layer], rtol=1e-4, atol=1e-6)
