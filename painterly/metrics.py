"""How close a picture is to its photograph and its painting, by painterly's own VGG.

content distance: relative squared error of conv4_2 features against the photograph;
style distance: mean over conv1_1..conv5_1 of the relative squared error of
size-normalized Gram matrices against the painting. These are exactly the default
objective's unweighted content and style terms (see :mod:`painterly.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from PIL import Image

from .images import ImageSource, load_image, to_tensor
from .transfer import TransferSettings, build_objective, fit_checked, resolve_device
from .vgg import load_extractor


@dataclass(frozen=True)
class Distances:
    content: float
    style: float


def measure(
    picture: ImageSource,
    content: ImageSource,
    style: ImageSource,
    style_size: int | None = None,
    settings: TransferSettings | None = None,
) -> Distances:
    """Distances of ``picture`` to ``content`` (resized to the picture's size) and to
    ``style`` (long side ``style_size``, default the picture's long side)."""
    # Always fp32: a distance must not depend on the precision a picture was made in.
    settings = replace(settings or TransferSettings(), precision="fp32")
    device = resolve_device(settings.device)
    image = load_image(picture)
    photo = load_image(content).resize(image.size, Image.Resampling.LANCZOS)
    painting = fit_checked(load_image(style), style_size or max(image.size), str(style))
    extractor = load_extractor(settings.weights, settings.pooling, device)
    objective = build_objective(
        extractor, to_tensor(photo).to(device), [to_tensor(painting).to(device)], settings
    )
    with torch.no_grad():
        terms = objective(to_tensor(image).to(device))
    return Distances(content=float(terms.content), style=float(terms.style))
