"""The distances of a finished picture: content and Gram style distances against a
float64 reference, the distribution and palette distances."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from painterly.images import to_tensor
from painterly.metrics import directions, distribution_distances, measure
from painterly.settings import DEFAULT_STYLE_LAYERS, TransferSettings
from painterly.vgg import load_extractor


def test_measure_is_the_gram_distance_whatever_the_default_loss(small_content, small_style):
    """The style distance is the Gram matrices' (the paper's), not the default loss's
    (swd): a float64 reference of the module's definitions, from the same features."""
    assert TransferSettings().style_loss != "gram"  # what made this worth a test
    picture = ImageOps.mirror(small_content)
    distances = measure(picture, small_content, small_style)
    extractor = load_extractor()
    layers = ("conv4_2", *DEFAULT_STYLE_LAYERS)
    with torch.no_grad():
        ours, photo, painting = (
            {name: value[0].double().numpy().reshape(value.shape[1], -1)
             for name, value in extractor(to_tensor(image), layers).items()}
            for image in (picture, small_content, small_style))

    def relative(value: np.ndarray, target: np.ndarray) -> float:
        return float(((value - target) ** 2).sum() / (target ** 2).sum())

    def gram(f: np.ndarray) -> np.ndarray:
        return f @ f.T / f.shape[1]

    style = np.mean([relative(gram(ours[n]), gram(painting[n])) for n in DEFAULT_STYLE_LAYERS])
    assert abs(distances.content - relative(ours["conv4_2"], photo["conv4_2"])) < 1e-4
    assert abs(distances.style - style) < 1e-4 * style


def test_directions_are_fixed_unit_vectors():
    first, again = directions(64), directions(64)
    assert torch.equal(first, again) and first.shape == (64, 64)
    assert torch.allclose(first.norm(dim=0), torch.ones(64), atol=1e-6)


def test_a_painting_is_nearest_to_itself(small_style, small_content):
    itself = distribution_distances(small_style, small_style)
    assert itself.distribution < 1e-3 and itself.palette < 1e-3
    photo = distribution_distances(small_content, small_style)
    assert photo.distribution > 0.1 and photo.palette > 5
    # A mirror image has the same pixels: the same palette, and features far nearer
    # than the photo's (at 64 px the deep layers see only a few positions each).
    mirrored = distribution_distances(ImageOps.mirror(small_style), small_style)
    assert mirrored.palette < 1e-3 and mirrored.distribution < photo.distribution / 2


def test_the_palette_distance_is_in_8_bit_units(small_style):
    grey = Image.new("RGB", small_style.size, (100, 100, 100))
    lighter = Image.new("RGB", small_style.size, (110, 110, 110))
    # Every direction is a unit vector: a uniform shift of 10 moves each by 10 |sum(p)|.
    expected = float((10 * directions(3).sum(0).abs()).mean())
    assert abs(distribution_distances(lighter, grey).palette - expected) < 1e-3
