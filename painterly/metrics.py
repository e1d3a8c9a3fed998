"""How close a picture is to its photograph and its painting, by painterly's own VGG.

content distance: relative squared error of conv4_2 features against the photograph;
style distance: mean over conv1_1..conv5_1 of the relative squared error of
size-normalized Gram matrices against the painting. These are exactly the unweighted
content and style terms of the objective with ``style_loss="gram"`` (the paper's; see
:mod:`painterly.losses`), whatever loss painted the picture.

Two distances see more than a Gram matrix does (:func:`distribution_distances`):
distribution: mean over conv1_1..conv5_1 of the sliced Wasserstein distance between the
picture's and the painting's feature vectors, along fixed random directions, each
divided by the painting's spread along it (so 1 is "off by a whole spread");
palette: the sliced Wasserstein distance between their pixels' RGB values, in 8-bit
units (how far apart their colour histograms are).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from PIL import Image

from .devices import resolve_device
from .images import ImageSource, fit_long_side, load_image, to_tensor
from .losses import positions
from .objective import build_objective, extract
from .settings import DEFAULT_STYLE_LAYERS, TransferSettings
from .sliced import sliced_wasserstein
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
    and weights of ``settings`` (default: the default transfer's) and Gram matrices,
    whichever style loss ``settings`` name. The network always runs in fp32 here: a
    distance must not depend on the precision a picture was made in.
    """
    settings = replace(settings or TransferSettings(), style_loss="gram")
    device = resolve_device(settings.device)
    image, painting = _picture_and_painting(picture, style, style_size)
    photo = load_image(content).resize(image.size, Image.Resampling.LANCZOS)
    extractor = load_extractor(settings.weights, settings.pooling, device)
    objective = build_objective(
        extractor, to_tensor(photo).to(device), [to_tensor(painting).to(device)], (1.0,),
        settings, dtype=None,
    )
    with torch.no_grad():
        terms = objective(to_tensor(image).to(device))
    return Distances(content=float(terms.content), style=float(terms.style))


def _picture_and_painting(picture: ImageSource, style: ImageSource,
                          style_size: int | None) -> tuple[Image.Image, Image.Image]:
    """The picture, and the painting at long side ``style_size`` (default the picture's),
    refused if too narrow for VGG19 there."""
    image = load_image(picture)
    painting = load_image(style)
    long_side = style_size or max(image.size)
    check_side(painting.size, long_side, str(style))
    return image, fit_long_side(painting, long_side)


#: Directions per layer (and for the pixels); fixed, so distances compare across runs.
PROJECTIONS = 64
PROJECTION_SEED = 2016


@dataclass(frozen=True)
class DistributionDistances:
    distribution: float
    palette: float


def directions(channels: int, count: int = PROJECTIONS) -> torch.Tensor:
    """(channels, count) fixed random unit directions (seeded: the same in every run)."""
    generator = torch.Generator().manual_seed(PROJECTION_SEED + channels)
    vectors = torch.randn(channels, count, generator=generator, dtype=torch.float64)
    return (vectors / vectors.norm(dim=0, keepdim=True)).float()


def distribution_distances(picture: ImageSource, style: ImageSource,
                           style_size: int | None = None,
                           settings: TransferSettings | None = None) -> DistributionDistances:
    """The distribution and palette distances of ``picture`` to ``style`` (long side
    ``style_size``, default the picture's), by the network of ``settings`` in fp32."""
    settings = settings or TransferSettings()
    device = resolve_device(settings.device)
    image, painting = _picture_and_painting(picture, style, style_size)
    extractor = load_extractor(settings.weights, settings.pooling, device)
    mine, theirs = to_tensor(image).to(device), to_tensor(painting).to(device)
    with torch.no_grad():
        ours = extract(extractor, mine, DEFAULT_STYLE_LAYERS, None)
        target = extract(extractor, theirs, DEFAULT_STYLE_LAYERS, None)
        layers = [_feature_distance(ours[layer], target[layer]) for layer in DEFAULT_STYLE_LAYERS]
        palette = sliced_wasserstein(positions(mine) * 255, positions(theirs) * 255,
                                     directions(3).to(device))
    return DistributionDistances(sum(layers) / len(layers), float(palette))


def _feature_distance(features: torch.Tensor, target: torch.Tensor) -> float:
    rows, target_rows = positions(features).float(), positions(target).float()
    projections = directions(rows.shape[1]).to(rows.device)
    spread = (target_rows @ projections).std(dim=0)
    return float(sliced_wasserstein(rows, target_rows, projections, spread))
