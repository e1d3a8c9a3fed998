"""Where each stage starts (painterly.starts)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from painterly.starts import upsample_with_detail


def test_upsampling_a_downsampled_photo_with_its_detail_gives_the_photo_back():
    photo = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    small = F.interpolate(photo, size=(24, 32), mode="area")
    assert torch.allclose(upsample_with_detail(small, photo), photo, atol=1e-6)
    # A flat grey start keeps only the photo's fine detail on top of it, in [0, 1].
    grey = torch.full((1, 3, 24, 32), 0.5)
    start = upsample_with_detail(grey, photo)
    assert start.shape == photo.shape and 0 <= float(start.min()) and float(start.max()) <= 1
    detail = photo - F.interpolate(small, size=(48, 64), mode="bicubic", align_corners=False)
    assert torch.allclose(start, (0.5 + detail).clamp(0, 1), atol=1e-6)
