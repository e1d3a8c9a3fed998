"""A 3x3 convolution against float64's: its output's and its input gradient's relative
errors on random data, for the Winograd tests (NNPACK's and painterly's own)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.detach().double() - reference).norm() / reference.norm())


def errors(convolve: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
           c_in: int, c_out: int, h: int, w: int) -> tuple[float, float]:
    """``convolve(x, weight, bias)``'s relative errors, output and input gradient, against
    ``F.conv2d(..., padding=1)`` in float64, on float32 data seeded by ``c_in``."""
    generator = torch.Generator().manual_seed(c_in)
    x = torch.randn(1, c_in, h, w, generator=generator)
    weight = torch.randn(c_out, c_in, 3, 3, generator=generator) / (3 * c_in**0.5)
    bias = torch.randn(c_out, generator=generator)
    upstream = torch.randn(1, c_out, h, w, generator=generator)

    x64 = x.double().requires_grad_(True)
    reference = F.conv2d(x64, weight.double(), bias.double(), padding=1)
    (reference_grad,) = torch.autograd.grad(reference, x64, upstream.double())

    x32 = x.clone().requires_grad_(True)
    ours = convolve(x32, weight, bias)
    (grad,) = torch.autograd.grad(ours, x32, upstream)
    assert ours.shape == reference.shape and grad.shape == x.shape
    return relative(ours, reference.detach()), relative(grad, reference_grad)


def extractors_compared(image: torch.Tensor, layers: list[str]) -> tuple[
        dict[str, torch.Tensor], dict[str, float], float]:
    """The Winograd extractor's responses to ``image`` at ``layers``, their relative
    errors against the direct extractor's, and that of the gradient of a sum of their
    mean squares at the image."""
    from painterly.objective import extract
    from painterly.vgg import load_extractor

    grads, features = [], []
    for extractor in (load_extractor(), load_extractor(winograd=True)):
        x = image.clone().requires_grad_(True)
        out = extract(extractor, x, layers, None)
        sum(o.pow(2).mean() for o in out.values()).backward()
        grads.append(x.grad)
        features.append(out)
    response_errors = {layer: relative(features[1][layer], features[0][layer].detach().double())
                       for layer in layers}
    return features[1], response_errors, relative(grads[1], grads[0].double())
