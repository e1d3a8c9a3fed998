"""Colour preservation: YIQ, luminance-only transfer, colour-statistics matching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly import TransferSettings, stylize
from painterly.color import (
    color_statistics,
    luminance,
    match_color_statistics,
    rgb_to_yiq,
    yiq_to_rgb,
)
from painterly.images import to_tensor


def _random(seed: int, shape=(1, 3, 12, 17)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_yiq_round_trip_and_known_values():
    image = _random(0)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(image)), image)
    white = torch.ones(1, 3, 1, 1, dtype=torch.float64)
    yiq = rgb_to_yiq(white).flatten()
    assert float(yiq[0]) == pytest.approx(1.0) and abs(float(yiq[1])) < 1e-6
    gray = luminance(_random(1))
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])


def test_matched_colors_have_reference_mean_and_covariance():
    source = _random(2) ** 2  # a different distribution from the reference
    reference = 0.3 + 0.4 * _random(3, shape=(1, 3, 20, 9))
    matched = match_color_statistics(source, reference)
    mean, cov = color_statistics(matched)
    mean_r, cov_r = color_statistics(reference)
    np.testing.assert_allclose(mean, mean_r, rtol=1e-2)
    np.testing.assert_allclose(cov, cov_r, rtol=1e-2, atol=1e-2 * float(cov_r.abs().max()))


def test_real_painting_recoloured_within_one_percent(small_content, small_style):
    photo, painting = to_tensor(small_content).double(), to_tensor(small_style).double()
    matched = match_color_statistics(painting, photo).clamp(0, 1)  # as the pipeline uses it
    mean, cov = color_statistics(matched)
    mean_p, cov_p = color_statistics(photo)
    assert float(((mean - mean_p).abs() / mean_p).max()) < 0.01
    assert float((cov - cov_p).norm() / cov_p.norm()) < 0.01


def _chroma_error(picture, photo) -> float:
    ours = rgb_to_yiq(to_tensor(picture).double())[:, 1:]
    theirs = rgb_to_yiq(to_tensor(photo).double())[:, 1:]
    return float((ours - theirs).abs().mean())


def test_luminance_mode_keeps_the_photos_chroma(small_content, small_style):
    settings = TransferSettings(size=64, iterations=15)
    plain = stylize(small_content, small_style, settings)
    kept = stylize(small_content, small_style, TransferSettings(
        size=64, iterations=15, preserve_color="luminance"))
    assert _chroma_error(kept, small_content) < 0.01  # only 8-bit rounding and gamut clips
    assert _chroma_error(plain, small_content) > 3 * _chroma_error(kept, small_content)
    luma_change = rgb_to_yiq(to_tensor(kept).double())[:, 0] - rgb_to_yiq(
        to_tensor(small_content).double())[:, 0]
    assert float(luma_change.abs().mean()) > 0.03  # the style did change the luminance


def test_histogram_mode_paints_in_the_photos_colors(small_content, small_style):
    plain = stylize(small_content, small_style, TransferSettings(size=64, iterations=15))
    matched = stylize(small_content, small_style, TransferSettings(
        size=64, iterations=15, preserve_color="histogram"))
    photo_mean, _ = color_statistics(to_tensor(small_content))
    error = lambda picture: float((color_statistics(to_tensor(picture))[0] - photo_mean)
                                  .abs().sum())
    assert error(matched) < error(plain)
