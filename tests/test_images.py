"""Files of every common kind come in as upright 8-bit RGB; outputs are written atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.images import (
    check_image_path,
    fit_long_side,
    load_image,
    save_image,
    to_pil,
    to_tensor,
)


def _gradient(width: int = 40, height: int = 30) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float64)
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None]
    array = np.stack([x + 0 * y, y + 0 * x, 255 - x + 0 * y], axis=-1).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def test_tensor_round_trip_is_exact():
    image = _gradient()
    tensor = to_tensor(image)
    assert tensor.shape == (1, 3, 30, 40) and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
    assert np.array_equal(np.asarray(to_pil(tensor)), np.asarray(image))


def test_to_pil_clips_out_of_range_values():
    tensor = torch.tensor([-0.5, 0.5, 1.5]).view(1, 3, 1, 1)
    assert to_pil(tensor).getpixel((0, 0)) == (0, 128, 255)


def test_fit_long_side_keeps_aspect():
    assert fit_long_side(_gradient(400, 300), 64).size == (64, 48)
    assert fit_long_side(_gradient(300, 400), 64).size == (48, 64)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "1"])
def test_modes_become_rgb(tmp_path, mode):
    path = tmp_path / f"image_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
    _gradient().convert(mode).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (40, 30)


def test_transparent_pixels_become_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(path)
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    array = np.full((6, 6), 32768, dtype=np.uint16)  # mid gray at 16 bits
    Image.fromarray(array).save(path)
    value = load_image(path).getpixel((0, 0))
    assert value[0] == value[1] == value[2] and 126 <= value[0] <= 129


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    _gradient(40, 30).save(path, exif=exif)
    assert load_image(path).size == (30, 40)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("hello"), "not an image file"),
        (lambda p: p.write_bytes(b""), "not an image file"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["missing", "text", "empty", "directory"],
)
def test_bad_inputs_name_the_file(tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(PainterlyError, match=f"photo.jpg: {message}"):
        load_image(path)


def test_truncated_png_is_refused(tmp_path):
    good = tmp_path / "good.png"
    _gradient(200, 200).save(good)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(PainterlyError, match="cut.png"):
        load_image(bad)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    out = save_image(_gradient(), tmp_path / "out.png")
    assert out.exists() and sorted(os.listdir(tmp_path)) == ["out.png"]
    assert Image.open(out).size == (40, 30)


def test_failed_save_leaves_nothing(tmp_path):
    class Broken(Image.Image):
        def save(self, *args, **kwargs):
            raise OSError("disk full")

    broken = _gradient()
    broken.__class__ = Broken
    with pytest.raises(OSError):
        save_image(broken, tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing/out.png", "does not exist"), ("out.gif", "unsupported output type")],
)
def test_output_path_checked_early(tmp_path, name, message):
    with pytest.raises(PainterlyError, match=message):
        check_image_path(tmp_path / name)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PainterlyError, match="not writable"):
            check_image_path(tmp_path / "out.png")
    finally:
        tmp_path.chmod(0o700)
