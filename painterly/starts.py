"""Where each stage of a transfer starts: the photo, noise or a given picture for the
first, the last stage's result enlarged with the photo's detail for the others, a video's
previous frame as painted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from .images import load_image, to_tensor
from .settings import TransferSettings
from .stage import as_painted
from .temporal import PreviousFrame


def stage_start(previous: PreviousFrame | None, given: Image.Image | None,
                settings: TransferSettings, image: torch.Tensor | None, target: torch.Tensor
                ) -> torch.Tensor:
    """Where a stage not resumed starts: a video's ``previous`` frame as painted, the first
    stage's start image (:func:`start_image`, ``given`` where decoded already), or the last
    stage's result ``image`` upsampled with the detail of ``target`` (the stage's photo).
    Always a tensor of the stage's own, which the optimiser changes in place."""
    if previous is not None:
        return as_painted(previous.warped, settings.preserve_color).clone()
    if image is None:
        return start_image(target, settings, given)
    return upsample_with_detail(image, target)


def start_image(content: torch.Tensor, settings: TransferSettings,
                given: Image.Image | None = None) -> torch.Tensor:
    """The image the optimisation starts from: the photograph, noise, or ``given`` (the
    decoded image ``settings.init`` names; read from there if not given)."""
    if settings.init == "content":
        return content.clone()
    if settings.init == "noise":
        generator = torch.Generator().manual_seed(settings.seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    height, width = content.shape[-2:]
    image = given if given is not None else load_image(settings.init, settings.max_input_pixels)
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    return to_tensor(image).to(content.device)


def upsample_with_detail(image: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """The last stage's result as the next one's start: ``image`` upsampled (bicubic) to
    the size of ``photo`` (1, C, H, W), plus the photo's detail that the smaller size
    could not hold (the photo less its own down- and upsampled copy), kept in [0, 1].

    Upsampling alone blurs the picture, and a blurred picture is far from both targets
    (its Gram matrices lose the strokes' texture, conv4_2 the edges); the photo's fine
    detail brings the content back at once, leaving the stage only the strokes to redo.
    """
    if image.shape[-2:] == photo.shape[-2:]:
        return image
    size = photo.shape[-2:]
    upsampled = F.interpolate(image, size=size, mode="bicubic", align_corners=False)
    coarse = F.interpolate(F.interpolate(photo, size=image.shape[-2:], mode="area"),
                           size=size, mode="bicubic", align_corners=False)
    return (upsampled + (photo - coarse)).clamp(0.0, 1.0)
