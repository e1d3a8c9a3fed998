"""How close a picture is to its photograph and its painting, by painterly's own VGG.

content distance: relative squared error of conv4_2 features against the photograph;
style distance: mean over conv1_1..conv5_1 of the relative squared error of
size-normalized Gram matrices against the painting. These are exactly the default
objective's unweighted content and style terms (see :mod:`painterly.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from .devices import resolve_device
from .images import ImageSource, fit_long_side, load_image, to_tensor
from .objective import build_objective
from .settings import TransferSettings
from .transfer import check_side
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
    ``style`` (long side ``style_size``, default the picture's long side), by the layers
    and weights of ``settings`` (default: the default transfer's). The network always
    runs in fp32 here: a distance must not depend on the precision a picture was made in.
    """
    settings = settings or TransferSettings()
    device = resolve_device(settings.device)
    image = load_image(picture)
    photo = load_image(content).resize(image.size, Image.Resampling.LANCZOS)
    painting = load_image(style)
    long_side = style_size or max(image.size)
    check_side(painting.size, long_side, str(style))
    painting = fit_long_side(painting, long_side)
    extractor = load_extractor(settings.weights, settings.pooling, device)
    objective = build_objective(
        extractor, to_tensor(photo).to(device), [to_tensor(painting).to(device)], (1.0,),
        settings, dtype=None,
    )
    with torch.no_grad():
        terms = objective(to_tensor(image).to(device))
    return Distances(content=float(terms.content), style=float(terms.style))
