"""Motion between two frames: optical flow, warping by it, and where it can be trusted.

Ruder, Dosovitskiy and Brox (GCPR 2016) carry a painted frame to the next by the flow
between the source frames, and trust it only where the forward and backward flows agree
and away from motion boundaries. The flow is OpenCV's DIS (Kroeger et al., ECCV 2016),
from the ``[video]`` extra. Frames are (1, 3, H, W) float RGB in [0, 1]; a flow is
(1, 2, H, W) in pixels, x then y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import PainterlyError

#: Ruder et al.'s consistency test: forward and backward flow disagree (an occlusion)
#: where |w^ + w~|^2 > OCCLUSION_RATIO (|w^|^2 + |w~|^2) + OCCLUSION_PX; a motion
#: boundary where |grad u|^2 + |grad v|^2 > BOUNDARY_RATIO |w~|^2 + BOUNDARY_PX.
OCCLUSION_RATIO, OCCLUSION_PX = 0.01, 0.5
BOUNDARY_RATIO, BOUNDARY_PX = 0.01, 0.002
#: A pixel is explained by the motion when it is reliable and the previous frame, warped,
#: matches it within this (mean absolute difference over RGB, values in [0, 1]).
EXPLAINED_WITHIN = 0.1


@dataclass(frozen=True)
class Motion:
    """How a frame came from the previous one.

    ``flow``: (1, 2, H, W), for each pixel p of the frame, where it was in the previous
    frame (p + flow[p]); ``reliable``: (1, 1, H, W), 1 where that is trusted (no
    occlusion, no motion boundary, inside the previous frame), else 0; ``explained``:
    the share of the frame's pixels that are reliable and that the warped previous frame
    reproduces (a scene cut explains little)."""

    flow: torch.Tensor
    reliable: torch.Tensor
    explained: float


def motion(previous: torch.Tensor, frame: torch.Tensor) -> Motion:
    """The motion from ``previous`` to ``frame`` (both (1, 3, H, W) in [0, 1])."""
    backward = optical_flow(frame, previous)
    forward = optical_flow(previous, frame)
    reliable = reliability(backward, forward)
    difference = (warp(previous, backward) - frame).abs().mean(dim=1, keepdim=True)
    explained = float((reliable * (difference < EXPLAINED_WITHIN)).mean())
    return Motion(backward, reliable, explained)


def optical_flow(frame: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """DIS optical flow: for each pixel p of ``frame`` (1, 3, H, W), the displacement d
    with frame[p] ~ other[p + d], as (1, 2, H, W) in pixels (x, y)."""
    try:
        import cv2
    except ModuleNotFoundError:
        raise PainterlyError("optical flow needs OpenCV: pip install 'painterly[video]'") \
            from None
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(_grey(frame), _grey(other), None)
    return torch.from_numpy(flow).permute(2, 0, 1).unsqueeze(0).to(frame.device)


def _grey(image: torch.Tensor) -> np.ndarray:
    weights = image.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (image * weights).sum(dim=1)[0].clamp(0, 1)
    return np.ascontiguousarray((grey * 255).round().to(torch.uint8).cpu().numpy())


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``image`` (1, C, H, W) sampled at p + flow[p] for every pixel p, interpolated by
    ``mode`` (bilinear or bicubic: sharper, for a painting carried frame after frame; it
    may overshoot [0, 1]); a point outside takes the nearest border pixel's value. With
    the backward flow of :func:`motion`, the previous frame brought to this one."""
    height, width = image.shape[-2:]
    grid = _sample_points(flow)
    # grid_sample wants positions in [-1, 1], corners at pixel centres (align_corners).
    scale = grid.new_tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)]).view(1, 2, 1, 1)
    normalised = (grid * scale - 1).permute(0, 2, 3, 1)
    return F.grid_sample(image, normalised.to(image.dtype), mode=mode,
                         padding_mode="border", align_corners=True)


def _sample_points(flow: torch.Tensor) -> torch.Tensor:
    """p + flow[p], (1, 2, H, W) in pixels."""
    height, width = flow.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=flow.dtype, device=flow.device),
                            torch.arange(width, dtype=flow.dtype, device=flow.device),
                            indexing="ij")
    return flow + torch.stack([xs, ys]).unsqueeze(0)


def reliability(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W): 1 where the backward flow (this frame -> previous) can be trusted,
    0 where it lands outside the previous frame, where the forward flow (previous -> this)
    does not lead back (an occlusion), or at a motion boundary (Ruder et al. 2016)."""
    height, width = backward.shape[-2:]
    there = _sample_points(backward)
    inside = ((there[:, 0] >= 0) & (there[:, 0] <= width - 1)
              & (there[:, 1] >= 0) & (there[:, 1] <= height - 1)).unsqueeze(1)
    back_again = warp(forward, backward)  # the forward flow where each pixel came from
    disagreement = (back_again + backward).square().sum(dim=1, keepdim=True)
    lengths = back_again.square().sum(dim=1, keepdim=True) + backward.square().sum(
        dim=1, keepdim=True)
    occluded = disagreement > OCCLUSION_RATIO * lengths + OCCLUSION_PX
    boundary = _gradient_energy(backward) > (
        BOUNDARY_RATIO * backward.square().sum(dim=1, keepdim=True) + BOUNDARY_PX)
    return (inside & ~occluded & ~boundary).to(backward.dtype)


def _gradient_energy(flow: torch.Tensor) -> torch.Tensor:
    """|grad u|^2 + |grad v|^2 per pixel, by forward differences (0 past the last row
    and column)."""
    across = F.pad(flow[..., :, 1:] - flow[..., :, :-1], (0, 1))
    down = F.pad(flow[..., 1:, :] - flow[..., :-1, :], (0, 0, 0, 1))
    return (across.square() + down.square()).sum(dim=1, keepdim=True)
