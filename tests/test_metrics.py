"""The distances of a finished picture: the distribution and palette distances."""

from __future__ import annotations

import torch
from PIL import Image, ImageOps

from painterly.metrics import directions, distribution_distances


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
