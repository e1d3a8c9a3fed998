"""Optical flow, warping and the reliability map (painterly/flow.py)."""

from __future__ import annotations

import sys

import pytest
import torch
from clips import cut, pan, zoom

from painterly.errors import PainterlyError
from painterly.flow import motion, optical_flow, reliability, warp
from painterly.images import to_tensor

BORDER = 12  # px left out at the edges, where new content enters


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10((a - b).square().mean()))


def core(image: torch.Tensor) -> torch.Tensor:
    return image[..., BORDER:-BORDER, BORDER:-BORDER]


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_warp_by_a_whole_pixel_shift_is_the_shifted_image(mode):
    image = torch.rand(1, 3, 10, 12, dtype=torch.float64)
    flow = torch.zeros(1, 2, 10, 12, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # each pixel p shows image[p + (2, -1)]
    warped = warp(image, flow, mode)
    torch.testing.assert_close(warped[..., 1:, :-2], image[..., :-1, 2:])
    # outside: the nearest border pixel
    torch.testing.assert_close(warped[..., 0, :-2], image[..., 0, 2:])


def test_warp_by_half_a_pixel_averages_neighbours():
    image = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    flow = torch.zeros(1, 2, 4, 5, dtype=torch.float64)
    flow[:, 0] = 0.5
    warped = warp(image, flow)
    torch.testing.assert_close(warped[..., :-1], (image[..., :-1] + image[..., 1:]) / 2)


def test_flow_of_a_pan_is_its_motion_and_warping_reproduces_the_next_frame():
    frames = [to_tensor(frame) for frame in pan(2, size=(160, 120), step=(4, 2))]
    moved = motion(frames[0], frames[1])
    flow = core(moved.flow)
    assert flow[:, 0].median() == pytest.approx(4.0, abs=0.1)
    assert flow[:, 1].median() == pytest.approx(2.0, abs=0.1)
    assert psnr(core(warp(frames[0], moved.flow)), core(frames[1])) >= 30.0
    assert moved.explained > 0.9


def test_borders_the_previous_frame_did_not_show_are_unreliable():
    frames = [to_tensor(frame) for frame in pan(2, size=(160, 120), step=(4, 2))]
    reliable = motion(frames[0], frames[1]).reliable
    assert reliable[..., :, -4:].max() == 0  # came from beyond the right edge
    assert reliable[..., -2:, :].max() == 0  # ... and the bottom
    assert float(core(reliable).mean()) > 0.95


def test_zoom_flows_outwards_from_the_centre():
    frames = [to_tensor(frame) for frame in zoom(2, size=(160, 120), rate=1.05)]
    moved = motion(frames[0], frames[1])
    # Zooming in, a pixel right of the centre came from nearer the centre: flow points in.
    assert float(moved.flow[0, 0, 40:80, 120:150].median()) < -1.0
    assert float(moved.flow[0, 0, 40:80, 10:40].median()) > 1.0
    assert psnr(core(warp(frames[0], moved.flow)), core(frames[1])) >= 28.0


def test_a_scene_cut_explains_little():
    frames = [to_tensor(frame) for frame in cut(4, at=2, size=(160, 120))]
    assert motion(frames[0], frames[1]).explained > 0.9
    assert motion(frames[1], frames[2]).explained < 0.2


def test_reliability_marks_disagreeing_flows_and_motion_boundaries():
    height, width = 8, 16
    backward = torch.zeros(1, 2, height, width)
    forward = torch.zeros(1, 2, height, width)
    backward[:, 0, :, 8:] = 3.0  # the right half came from 3 px to the right ...
    forward[:, 0, :, 11:] = -3.0  # ... and the forward flow leads back, except:
    forward[:, 0, 0:2, 11:] = 5.0  # rows 0-1 disagree (an occlusion)
    reliable = reliability(backward, forward)
    assert reliable[0, 0, 4, 2] == 1  # still, agreeing
    assert reliable[0, 0, 4, 10] == 1  # moving, agreeing
    assert reliable[0, 0, 0, 10] == 0  # moving, disagreeing
    assert reliable[0, 0, 4, 7] == 0  # the motion boundary (u jumps by 3 px)
    assert reliable[0, 0, 4, 13:].max() == 0  # came from outside the frame


def test_without_opencv_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    image = torch.rand(1, 3, 8, 8)
    with pytest.raises(PainterlyError, match=r"painterly\[video\]"):
        optical_flow(image, image)
