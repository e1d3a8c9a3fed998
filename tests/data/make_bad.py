"""Make the hostile and odd inputs in bad/ (run from anywhere; the files are committed).

    python tests/data/make_bad.py
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent / "bad"
rng = np.random.default_rng(0)


def photo(width: int = 64, height: int = 48) -> Image.Image:
    """A small picture with some structure: gradients and noise."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 / width, y * 255 / height, (x + y) % 32 * 8], axis=-1)
    rgb = rgb + rng.normal(0, 12, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and header for a huge image, with a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def main() -> None:
    HERE.mkdir(exist_ok=True)
    picture = photo()
    jpeg, png = encoded(picture, "JPEG", quality=90), encoded(picture, "PNG")
    files = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "truncated.png": png[: len(png) // 3],
        "text.jpg": b"This is a text file, not a JPEG.\n" * 4,
        "page.html": b"<!doctype html><html><body><img src='x.jpg'></body></html>\n",
        "one_pixel.png": encoded(Image.new("RGB", (1, 1), (200, 80, 40)), "PNG"),
        "strip_1x10000.png": encoded(photo(1, 10000), "PNG"),
        "bomb_50000x50000.png": png_claiming(50000, 50000),
        "claims_10000x6000.png": png_claiming(10000, 6000),
        "cmyk.jpg": encoded(picture.convert("CMYK"), "JPEG", quality=90),
        "deep_16bit.png": encoded(
            Image.fromarray((np.asarray(picture.convert("L"), np.uint16) * 257)), "PNG"),
        "palette.png": encoded(picture.quantize(16), "PNG"),
        "gray_alpha.png": encoded(picture.convert("LA"), "PNG"),
        "animated.gif": encoded(picture, "GIF", save_all=True, duration=100,
                                append_images=[photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]),
        "named with spaces ünïcødé.png": png,
    }
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    files["exif_rotated.jpg"] = encoded(picture, "JPEG", quality=90, exif=exif.tobytes())
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    (HERE / "a_directory.jpg").mkdir(exist_ok=True)
    (HERE / "a_directory.jpg" / ".keep").write_text("a directory named like an image\n")


if __name__ == "__main__":
    main()
