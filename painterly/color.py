"""Colour: YIQ luminance and chroma, and matching colour statistics.

Both colour-preserving modes of Gatys et al. 2016, "Preserving Color in Neural Artistic
Style Transfer", are built from these pure functions on (1, 3, H, W) RGB tensors.
"""

from __future__ import annotations

import torch

# NTSC YIQ: Y is luminance, I and Q carry the chroma.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB -> (1, 3, H, W) YIQ (Y in [0, 1])."""
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) YIQ -> (1, 3, H, W) RGB (not clipped)."""
    return _apply(_YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB -> its luminance as a gray RGB image (Y in all three channels)."""
    return rgb_to_yiq(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Gray ``source`` shifted and scaled to the mean and std of gray ``reference``.

    Both (1, 3, H, W) gray images (as from :func:`luminance`), of any sizes.
    """
    scale = reference.std() / source.std().clamp_min(1e-8)
    return ((source - source.mean()) * scale + reference.mean()).clamp(0.0, 1.0)


def with_chroma_of(luma_image: torch.Tensor, chroma_image: torch.Tensor) -> torch.Tensor:
    """RGB image with the luminance of ``luma_image`` and the I, Q of ``chroma_image``.

    Both (1, 3, H, W) RGB of the same size; the result is clipped to [0, 1].
    """
    y = rgb_to_yiq(luma_image)[:, :1]
    iq = rgb_to_yiq(chroma_image)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0.0, 1.0)


def color_statistics(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,) and covariance (3, 3) of the pixels of a (1, 3, H, W) image, in float64."""
    pixels = image.detach().double().reshape(3, -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


def _sqrt_psd(matrix: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(1e-10)
    powers = values.rsqrt() if inverse else values.sqrt()
    return vectors @ torch.diag(powers) @ vectors.T


def match_color_statistics(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Affinely recolour ``source`` so its pixels have ``reference``'s mean and covariance.

    x -> C_r^(1/2) C_s^(-1/2) (x - mu_s) + mu_r, with symmetric matrix square roots (the
    "image analogies" colour transfer). Returns (1, 3, H, W), not clipped: clip before use.
    """
    mu_s, cov_s = color_statistics(source)
    mu_r, cov_r = color_statistics(reference)
    transform = _sqrt_psd(cov_r) @ _sqrt_psd(cov_s, inverse=True)
    pixels = source.double().reshape(3, -1)
    matched = transform @ (pixels - mu_s[:, None]) + mu_r[:, None]
    return matched.reshape(source.shape).to(source.dtype)
