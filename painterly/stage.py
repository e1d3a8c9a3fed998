"""One stage's objective: the photo and the paintings at the stage's size, in the run's
colour mode, made into targets (:mod:`painterly.objective`), whole or on tiles.

Past the painting's own size, a painting is seen twice: the brushwork layers take it
at its own size (enlarged, its strokes would be blurred), the deeper layers scaled with
the output as at every smaller stage (at its own size, their statistics would ask for
the composition's shapes a fraction of the size the smaller stages gave them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from .color import luminance, match_color_statistics, match_luminance
from .images import fit_long_side, to_tensor
from .objective import LossTerms, build_objective
from .regions import stage_masks
from .settings import TransferSettings
from .temporal import PreviousFrame
from .tiles import Split
from .tiling import TiledObjective
from .vgg import VGG19Features

#: An objective, whole or tiled: image -> its loss terms.
Evaluate = Callable[[torch.Tensor], LossTerms]


def stage_objective(
    extractor: VGG19Features,
    photo: torch.Tensor,
    paintings: Sequence[Image.Image],
    masks: Sequence[Image.Image] | None,
    previous: PreviousFrame | None,
    blend: Sequence[float],
    settings: TransferSettings,
    dtype: torch.dtype | None,
    tile: int | None,
    split: Split = Split.NONE,
    replay: bool = False,
) -> tuple[Evaluate, torch.Tensor]:
    """One stage's objective, evaluated on tiles of ``tile`` px (None: whole), ``split``
    where their deep layers run, their second pass from records with ``replay``
    (:mod:`painterly.tiling`), and the photo as that stage
    optimises it (its luminance in luminance mode). ``masks``: a
    region per painting; ``previous``: a video's last frame, carried to this one."""
    size = max(photo.shape[-2:])
    whole = settings.style_long_side(size)
    wholes, held = [], []
    for painting in paintings:
        own = settings.style_long_side(size, max(painting.size))
        wholes.append(_tensor(painting, whole, photo.device))
        held.append(None if own == whole else _tensor(painting, own, photo.device))
    # One call for all: luminance mode takes the photo's luminance once.
    target, prepared = prepare_colors(photo, wholes + [h for h in held if h is not None],
                                      settings.preserve_color)
    styles, extra = prepared[: len(wholes)], iter(prepared[len(wholes):])
    brushwork = [None if h is None else next(extra) for h in held]
    regions = None if masks is None else stage_masks(masks, photo)
    objective = build_objective(extractor, target, styles, blend, settings, dtype, tile, regions,
                                brushwork)
    evaluate: Evaluate = (objective if tile is None
                          else TiledObjective(objective, tile, split, replay=replay))
    if previous is not None:
        evaluate = previous.objective(evaluate, as_painted(previous.warped, settings.preserve_color))
    return evaluate, target


def _tensor(painting: Image.Image, long_side: int, device: torch.device) -> torch.Tensor:
    return to_tensor(fit_long_side(painting, long_side)).to(device)


def as_painted(image: torch.Tensor, mode: str) -> torch.Tensor:
    """A picture in colour as a stage in colour ``mode`` paints it (luminance: grey)."""
    return luminance(image) if mode == "luminance" else image


def prepare_colors(
    content: torch.Tensor, styles: list[torch.Tensor], mode: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The photo and paintings as the chosen colour mode optimises them."""
    if mode == "histogram":
        return content, [match_color_statistics(s, content).clamp(0.0, 1.0) for s in styles]
    if mode == "luminance":
        content_luma = luminance(content)
        return content_luma, [match_luminance(luminance(s), content_luma) for s in styles]
    return content, styles
