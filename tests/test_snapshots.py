from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from painterly import TransferSettings, stylize
from painterly.errors import PainterlyError
from painterly.snapshots import Snapshots


def test_snapshots_every_n_and_the_last(tmp_path, small_content, small_style):
    snapshots = Snapshots(every=4, directory=tmp_path / "snaps", keep_frames=True)
    stylize(small_content, small_style, TransferSettings(size=48, iterations=10, scales=(32,)),
            callback=snapshots)
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    # 20 iterations over two scales: 4, 8, ..., 20, and the last of all (20).
    assert names == [f"snapshot_{i:05d}.png" for i in (4, 8, 12, 16, 20)]
    assert Image.open(tmp_path / "snaps" / names[0]).size == (32, 24)  # the coarse scale
    assert Image.open(tmp_path / "snaps" / names[-1]).size == (48, 36)
    out = snapshots.animate(tmp_path / "growth.gif")
    with Image.open(out) as gif:
        assert gif.size == (48, 36) and gif.n_frames >= 5


def test_animation_needs_frames_and_a_known_type(tmp_path):
    snapshots = Snapshots(every=1, keep_frames=True)
    with pytest.raises(PainterlyError, match="no frames"):
        snapshots.animate(tmp_path / "a.gif")
    with pytest.raises(PainterlyError, match="unsupported output type"):
        snapshots.animate(tmp_path / "a.avi")


def test_mp4_animation(tmp_path, small_content, small_style):
    iio = pytest.importorskip("imageio.v3")  # the [video] extra; the test extra has it
    snapshots = Snapshots(every=2, keep_frames=True)
    stylize(small_content, small_style, TransferSettings(size=48, iterations=6),
            callback=snapshots)
    out = snapshots.animate(tmp_path / "growth.mp4")
    frames = iio.imread(out)
    assert frames.shape[1:] == (36, 48, 3) and frames.shape[0] >= 3


def test_luminance_mode_snapshots_are_in_the_photos_colours(small_content, small_style):
    # The optimiser works on a gray luminance image there; what a user watches must be
    # the picture as it will come out, with the photo's chroma.
    snapshots = Snapshots(every=5, keep_frames=True)
    final = stylize(small_content, small_style,
                    TransferSettings(size=48, iterations=5, scales=(), preserve_color="luminance"),
                    callback=snapshots)
    last = np.asarray(snapshots.frames[-1], dtype=float)
    assert np.abs(last[..., 0] - last[..., 2]).mean() > 5  # not gray
    assert np.array_equal(np.asarray(snapshots.frames[-1]), np.asarray(final))
