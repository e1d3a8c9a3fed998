"""The temporal loss of a video frame (Ruder, Dosovitskiy and Brox, GCPR 2016): the
painted frame should match the previous painted frame, carried to it by the optical
flow, wherever that flow is reliable (:mod:`painterly.flow`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from .objective import LossTerms


def temporal_loss(image: torch.Tensor, warped: torch.Tensor,
                  reliable: torch.Tensor) -> torch.Tensor:
    """sum c (x - w)^2 / sum c w^2 over every pixel and channel: the squared difference
    between ``image`` x and the warped previous frame w, where the weights c say it is
    reliable, relative to w's own energy there (0: the same; 1: as far as black).

    ``image``, ``warped``: (N, C, H, W); ``reliable``: (N, 1, H, W) in [0, 1]. Returns a
    0-d tensor; 0 where nothing is reliable."""
    difference = (reliable * (image - warped).square()).sum()
    return difference / (reliable * warped.square()).sum().clamp_min(1e-12)


@dataclass(frozen=True)
class TemporalObjective:
    """``objective``'s total plus ``weight`` times :func:`temporal_loss` of the image
    against ``warped`` (both at the frame's size) where ``reliable`` says so."""

    objective: Callable[[torch.Tensor], LossTerms]
    warped: torch.Tensor
    reliable: torch.Tensor
    weight: float

    def __call__(self, image: torch.Tensor) -> LossTerms:
        terms = self.objective(image)
        temporal = temporal_loss(image, self.warped, self.reliable)
        return replace(terms, total=terms.total + self.weight * temporal)


@dataclass(frozen=True)
class PreviousFrame:
    """A video's previous painted frame, carried to the frame being painted: its start
    and, weighted by ``weight``, the target of :func:`temporal_loss`."""

    warped: torch.Tensor  # (1, 3, H, W) in [0, 1], at the frame's size
    reliable: torch.Tensor  # (1, 1, H, W) in [0, 1]
    weight: float

    def to(self, device: torch.device) -> PreviousFrame:
        """This frame's tensors on ``device``."""
        return replace(self, warped=self.warped.to(device), reliable=self.reliable.to(device))

    def objective(self, objective: Callable[[torch.Tensor], LossTerms],
                  warped: torch.Tensor) -> TemporalObjective:
        """``objective`` with the temporal loss against ``warped`` (this frame's warped
        previous frame as the stage paints it: in luminance mode, its luminance)."""
        return TemporalObjective(objective, warped, self.reliable, self.weight)
