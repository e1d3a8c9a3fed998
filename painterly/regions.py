"""Styles by region (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer"): a mask per painting, white where it applies, grey where it applies in part.

Each painting's style loss is taken over its own region at every layer, the mask
averaged over each layer's cells (:func:`layer_masks`), so a position weighs as much as
its cell lies inside; where no mask is white the photo stays (:func:`keep_photo`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from .errors import PainterlyError
from .images import ImageSource, load_image, to_tensor
from .tiles import stride

#: How far a mask's shape may differ from the photo's (width / height), relative.
ASPECT_TOLERANCE = 0.02


def load_masks(sources: Sequence[ImageSource], max_pixels: int) -> list[Image.Image]:
    """The masks, decoded as 8-bit grey (their luminance)."""
    return [load_image(source, max_pixels).convert("L") for source in sources]


def check_masks(masks: Sequence[Image.Image], names: Sequence[str], paintings: int,
                photo: tuple[int, int]) -> None:
    """One mask per painting, each of the photo's shape and white somewhere."""
    if len(masks) != paintings:
        raise PainterlyError(f"got {len(masks)} masks for {paintings} paintings; give one "
                             "mask per painting", setting="masks")
    for mask, name in zip(masks, names):
        aspect, wanted = mask.size[0] / mask.size[1], photo[0] / photo[1]
        if abs(aspect / wanted - 1) > ASPECT_TOLERANCE:
            raise PainterlyError(
                f"{name}: the mask is {mask.size[0]}x{mask.size[1]} but the photo is "
                f"{photo[0]}x{photo[1]}; draw the mask on the photo's frame", setting="masks")
        if mask.getextrema()[1] == 0:
            raise PainterlyError(f"{name}: the mask is black everywhere: its painting would "
                                 "apply nowhere", setting="masks")


def stage_masks(masks: Sequence[Image.Image], like: torch.Tensor) -> list[torch.Tensor]:
    """Each mask at the size of ``like`` (1, C, H, W), as (1, 1, H, W) weights in [0, 1]."""
    height, width = like.shape[-2:]
    return [to_tensor(mask.resize((width, height), Image.Resampling.BILINEAR))[:, :1]
            .to(like.device) for mask in masks]


def layer_masks(mask: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """A (1, 1, H, W) mask at each layer's resolution (H // stride, as VGG19's pools
    floor), each position weighted by the share of its cell the mask covers."""
    height, width = mask.shape[-2:]
    return {layer: F.adaptive_avg_pool2d(mask, (height // stride(layer), width // stride(layer)))
            for layer in layers}


def keep_photo(image: torch.Tensor, photo: torch.Tensor, masks: Sequence[torch.Tensor]
               ) -> torch.Tensor:
    """``image`` where the masks cover the picture, ``photo`` where none does, blended
    by their summed coverage (all (1, C, H, W), masks (1, 1, H, W))."""
    coverage = torch.stack(list(masks)).sum(0).clamp(0.0, 1.0)
    return coverage * image + (1 - coverage) * photo
