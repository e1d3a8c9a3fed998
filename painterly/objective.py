"""The objective of a style transfer: targets from the photograph and the paintings, and
the weighted sum of content, style and total-variation losses of an image.

features -> losses: the network's responses to an image are compared with the targets
by the pure loss functions of :mod:`painterly.losses`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .layers import LAYERS, layer_channels
from .losses import content_loss, range_loss, squared_norm, tv_loss
from .regions import layer_masks
from .settings import TransferSettings
from .style_targets import (
    STRENGTH,
    StyleRegion,
    build_targets,
    directions,
    region_loss,
    summarize,
)
from .tiles import read_tiles, stride, tiled_map
from .vgg import VGG19Features

#: Weight of the penalty on values outside [0, 1], per unit of the other terms' weights
#: (so that scaling every weight alike changes nothing, as it changes nothing for L-BFGS).
#: L-BFGS moves pixels freely, and the picture saved is clipped to [0, 1]: unchecked, ~4%
#: of the values end outside and the clipping raises the style distance by a third (0.031
#: -> 0.040 on the default run). At this weight ~1% end outside, by little, and the
#: clipping costs ~1%.
RANGE_WEIGHT = 100.0
#: The brushwork layers: those whose positions are at most this many pixels apart
#: (conv1_x, conv2_x; receptive fields up to 16 px): the strokes' texture, not the
#: composition. Past the painting's own size they see it at that size (painterly.stage).
BRUSHWORK_STRIDE = 2


@dataclass(frozen=True)
class LossTerms:
    """The weighted objective and its unweighted parts, as 0-d tensors."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    outside: torch.Tensor  # range_loss of the image


@dataclass(frozen=True)
class Objective:
    """content_weight * content + style_weight * style + tv_weight * tv
    + RANGE_WEIGHT * (content_weight + style_weight + tv_weight) * outside,

    style = sum over regions r of share_r sum_l w_l style_{r,l} (one region, everywhere,
    without masks; :mod:`painterly.style_targets`).

    A term whose weight is zero is not computed, and the network runs only as deep as
    the deepest layer a computed term needs (``layers``).
    """

    extractor: VGG19Features
    layers: frozenset[str]  # the layers the network is asked for
    content_layer: str
    content_target: torch.Tensor  # (1, C, H, W) features of the photograph
    style_regions: tuple[StyleRegion, ...]
    style_layer_weights: dict[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    # The network's arithmetic under autocast (torch.bfloat16), or None for fp32.
    compute_dtype: torch.dtype | None = None

    @functools.cached_property
    def content_norm(self) -> torch.Tensor:
        """||P||^2 of the content target, computed once, not every evaluation."""
        return squared_norm(self.content_target)

    def __call__(self, image: torch.Tensor) -> LossTerms:
        features = extract(self.extractor, image, self.layers, self.compute_dtype)
        zero = image.new_zeros(())
        content = zero
        if self.content_layer in features:
            content = content_loss(features[self.content_layer], self.content_target,
                                   self.content_norm)
        style = zero
        if self.style_weight > 0:
            for region in self.style_regions:
                style = style + region_loss(region, features, self.style_layer_weights)
        tv = tv_loss(image) if self.tv_weight > 0 else zero
        outside = range_loss(image)
        weights = self.content_weight + self.style_weight + self.tv_weight
        total = (self.content_weight * content + self.style_weight * style
                 + self.tv_weight * tv + RANGE_WEIGHT * weights * outside)
        return LossTerms(total, content, style, tv, outside)


def build_objective(
    extractor: VGG19Features,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    settings: TransferSettings,
    dtype: torch.dtype | None,
    tile: int | None = None,
    masks: Sequence[torch.Tensor] | None = None,
    brushwork: Sequence[torch.Tensor | None] | None = None,
) -> Objective:
    """Targets from the photograph and paintings (each (1, 3, H, W), sizes may differ),
    and the weights. Several paintings mix by ``blend`` (one weight per painting, summing
    to 1; one of weight 0 is left out) into one distribution, or, with ``masks`` (one
    (1, 1, H, W) weight map in [0, 1] per painting, the photo's size), each rules its own
    region, weighed by its area times its blend weight. The network runs in
    ``dtype`` (None: fp32), on tiles of at most ``tile`` px square where a picture is
    larger (the same targets, with a tile's memory; :mod:`painterly.tiles`).
    ``brushwork``: per painting, None or the painting at another size (its own, where
    ``styles`` has it enlarged), whose statistics the brushwork layers (BRUSHWORK_STRIDE)
    take instead."""
    layer = settings.content_layer
    if tile is not None and max(content.shape[-2:]) > tile:
        content_target = tiled_map(extractor, content, layer, tile, dtype)
    else:
        with torch.no_grad():
            content_target = extract(extractor, content, [layer], dtype)[layer]
    # A painting of weight 0 is left out, not pooled with no weight: swd's pooled sketch
    # would still take its values into the bins, and the picture would differ by rounding.
    used = [index for index, weight in enumerate(blend) if weight > 0]
    styles, blend = [styles[i] for i in used], [blend[i] for i in used]
    brushwork = [brushwork[i] for i in used] if brushwork is not None else None
    masks = [masks[i] for i in used] if masks is not None else None
    kind, layers = settings.style_loss, settings.style_layers
    projections = {name: directions(layer_channels(name), settings.seed, LAYERS.index(name))
                   .to(content.device) for name in layers} if kind == "swd" else {}
    summaries = [_summary(kind, extractor, style, brush, layers, dtype, tile, projections)
                 for style, brush in zip(styles, brushwork or [None] * len(styles), strict=True)]
    if masks is None:
        regions = (StyleRegion(STRENGTH[kind], build_targets(kind, summaries, blend, projections)),)
    else:
        regions = _regions(kind, summaries, masks, blend, layers, projections)
    return Objective(
        extractor=extractor,
        layers=settings.layers_needed(),
        content_layer=settings.content_layer,
        content_target=content_target,
        style_regions=regions,
        style_layer_weights=settings.normalized_style_layer_weights(),
        content_weight=settings.content_weight,
        style_weight=settings.style_weight,
        tv_weight=settings.tv_weight,
        compute_dtype=dtype,
    )


def _regions(kind: str, summaries: Sequence[dict], masks: Sequence[torch.Tensor],
             blend: Sequence[float], layers: Sequence[str],
             projections: dict[str, torch.Tensor]) -> tuple[StyleRegion, ...]:
    """A region per painting, weighed by the share of the picture its mask covers times
    its blend weight (equal by default)."""
    areas = [weight * float(mask.mean()) for mask, weight in zip(masks, blend)]
    return tuple(
        StyleRegion(STRENGTH[kind] * area / sum(areas), build_targets(kind, [summary], (1.0,), projections),
                    layer_masks(mask, layers))
        for summary, mask, area in zip(summaries, masks, areas) if area > 0)


def _summary(kind: str, extractor: VGG19Features, style: torch.Tensor,
             brushwork: torch.Tensor | None, layers: Sequence[str], dtype: torch.dtype | None,
             tile: int | None, projections: dict[str, torch.Tensor]) -> dict:
    """A painting's statistics per layer (:func:`summarize`): the brushwork layers' from
    ``brushwork`` where it is given, every other layer's from ``style``."""
    fine = [layer for layer in layers
            if brushwork is not None and stride(layer) <= BRUSHWORK_STRIDE]
    rest = [layer for layer in layers if layer not in fine]
    summary = {}
    for image, group in ((style, rest), (brushwork, fine)):
        if group:
            summary.update(summarize(kind, _pieces(extractor, image, group, dtype, tile),
                                     projections))
    return {layer: summary[layer] for layer in layers}


def _pieces(extractor: VGG19Features, image: torch.Tensor, layers: Sequence[str],
            dtype: torch.dtype | None, tile: int | None):
    """``image``'s features at ``layers``: whole, or tiles' cores where it is larger than
    ``tile`` (a painting's statistics gathered with a tile's memory)."""
    if tile is not None and max(image.shape[-2:]) > tile:
        return (features for _tile, features in read_tiles(extractor, image, layers, tile, dtype))
    with torch.no_grad():
        return [extract(extractor, image, layers, dtype)]


def extract(
    extractor: VGG19Features,
    image: torch.Tensor,
    layers: Iterable[str],
    dtype: torch.dtype | None,
) -> dict[str, torch.Tensor]:
    """Features of ``image`` with the network run in ``dtype`` (None: fp32), returned
    in that dtype. The losses take it from there: each one does its sums in at least
    fp32, and a Gram matrix keeps its fast bfloat16 products with fp32 accumulation.
    Targets and iterates go through here alike, so the photo's own content loss is
    exactly 0."""
    with torch.autocast(image.device.type, dtype=dtype, enabled=dtype is not None):
        return extractor(image, layers)
