"""Images in and out: files and PIL images <-> (1, 3, H, W) float RGB tensors in [0, 1].

Whatever a file holds (grayscale, alpha, palette, 16-bit, CMYK, EXIF rotation), it comes
out as plain 8-bit RGB the right way up. Outputs are written atomically.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import PainterlyError
from .outputs import atomic_write, check_output_path
from .untrusted import regular_file

ImageSource = str | os.PathLike[str] | Image.Image

#: Output formats by file extension, and the options Pillow writes them with.
OUTPUT_FORMATS = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
}


#: File names taken as images where a folder is read (a batch's photos, a clip's frames).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")

#: Inputs with more pixels are refused before decoding (a decompression bomb claims
#: billions in a few bytes). 50 MP is a large camera's photo.
MAX_INPUT_PIXELS = 50_000_000


def load_image(source: ImageSource, max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Open a path (or take a PIL image) and return it as 8-bit RGB, EXIF-rotated.

    Raises :class:`PainterlyError` naming the file if it is missing, a directory, not a
    readable image, or over ``max_pixels`` (checked from the header, before decoding).
    """
    if isinstance(source, Image.Image):
        _check_pixels(source, max_pixels, "the image")
        return to_rgb(source)
    path = regular_file(source, "image file")
    return _decode(path, str(path), max_pixels)


def decode_image(data: bytes, name: str, max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """:func:`load_image` for a file's bytes (shipped to another process or machine);
    ``name`` is the file as messages show it."""
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(file: Path | io.BytesIO, name: str, max_pixels: int) -> Image.Image:
    try:
        # Pillow warns about damaged metadata it then skips; the picture decides.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(file) as image:
                _check_pixels(image, max_pixels, name)
                image.load()
                return to_rgb(image)
    except UnidentifiedImageError:
        raise PainterlyError(f"{name}: not an image file Pillow can read") from None
    except Image.DecompressionBombError:
        # Pillow refuses, at opening, what claims over twice its MAX_IMAGE_PIXELS.
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise PainterlyError(
            f"{name}: over {limit:.0f} megapixels, Pillow's limit for any image "
            "(a decompression bomb?)"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        # Truncated or corrupt data surfaces as any of these from Pillow's decoders.
        raise PainterlyError(f"{name}: unreadable image ({error})") from None


def _check_pixels(image: Image.Image, max_pixels: int, name: str) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise PainterlyError(
            f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels, over the "
            f"limit of {max_pixels / 1e6:g}",
            setting="max_input_pixels",
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as 8-bit RGB, rotated per its EXIF orientation.

    Transparent pixels are composited onto white; 16-bit and 32-bit integer images are
    scaled to 8 bits rather than clipped.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def fitted_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is ``long_side``."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_long_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the longer side is ``size`` px, keeping the aspect ratio."""
    new_size = fitted_size(image.size, size)
    if new_size == image.size:
        return image
    return image.resize(new_size, Image.Resampling.LANCZOS)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB image -> (1, 3, H, W) float32 tensor in [0, 1]."""
    array = np.asarray(to_rgb(image), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) float tensor in [0, 1] (clipped) -> PIL RGB image, rounded to 8 bits."""
    if tensor.dim() != 4 or tensor.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1, 3, H, W) tensor, got {tuple(tensor.shape)}")
    array = tensor.detach()[0].permute(1, 2, 0).float().clamp(0, 1).mul(255).round()
    return Image.fromarray(array.to(torch.uint8).cpu().numpy(), "RGB")


def check_image_path(path: str | os.PathLike[str]) -> Path:
    """Fail early, before any work, if ``path`` cannot be written as a PNG or JPEG."""
    return check_output_path(path, OUTPUT_FORMATS)


def save_image(
    image: Image.Image, path: str | os.PathLike[str], recipe: str | None = None
) -> Path:
    """Write ``image`` as PNG or JPEG (by extension) to ``path``, atomically.

    ``recipe`` (text) goes into a PNG iTXt chunk named ``painterly`` or the JPEG comment.
    """
    out = check_image_path(path)
    data = encode_image(image, out.suffix, recipe)
    return atomic_write(out, lambda handle: handle.write(data))


def encode_image(image: Image.Image, suffix: str, recipe: str | None = None) -> bytes:
    """``image`` as the bytes of a PNG or JPEG file (``suffix``: its extension), with
    ``recipe`` (text) in a PNG iTXt chunk named ``painterly`` or the JPEG comment."""
    image_format, options = OUTPUT_FORMATS[suffix.lower()]
    options = dict(options)
    if recipe is not None and image_format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("painterly", recipe, zip=True)
        options["pnginfo"] = info
    elif recipe is not None:
        options["comment"] = recipe.encode("utf-8")
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()
