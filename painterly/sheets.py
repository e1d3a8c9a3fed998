"""Contact sheets: pictures in a labelled table, as the report lays out its results."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

Cell = tuple[Image.Image, str]  # a picture and the caption under it

_PAD = 6
_INK = (20, 20, 20)
_PAPER = (255, 255, 255)


def contact_sheet(
    cells: dict[tuple[int, int], Cell],
    row_labels: list[str],
    column_labels: list[str],
    title: str | None = None,
) -> Image.Image:
    """Lay ``cells`` ((row, column) -> (picture, caption)) out in a table.

    Every cell gets the size of the largest picture (smaller ones are centred), a
    caption under it; rows are labelled on the left and columns on top. Empty cells stay
    blank.
    """
    width = max(image.width for image, _ in cells.values())
    height = max(image.height for image, _ in cells.values())
    font = ImageFont.load_default(size=max(11, min(width, height) // 14))
    # Captions get a smaller font where that lets them fit under their picture.
    caption_font = font
    while caption_font.size > 8 and any(
        _text_size(caption_font, caption)[0] > width for _, caption in cells.values()
    ):
        caption_font = ImageFont.load_default(size=caption_font.size - 1)
    line = _text_size(font, "Ag")[1] + _PAD
    label_width = max((_text_size(font, text)[0] for text in row_labels), default=0) + 2 * _PAD
    rows, columns = len(row_labels), len(column_labels)
    top = (line if title else 0) + line
    cell_height = height + line + _PAD
    sheet = Image.new(
        "RGB",
        (label_width + columns * (width + _PAD) + _PAD, top + rows * cell_height + _PAD),
        _PAPER,
    )
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((_PAD, _PAD // 2), title, fill=_INK, font=font)
    for column, text in enumerate(column_labels):
        x = label_width + column * (width + _PAD)
        draw.text((x + _PAD, top - line), _fit(font, text, width), fill=_INK, font=font)
    for row, text in enumerate(row_labels):
        y = top + row * cell_height
        draw.text((_PAD, y + height // 2), text, fill=_INK, font=font)
    for (row, column), (image, caption) in cells.items():
        x = label_width + column * (width + _PAD)
        y = top + row * cell_height
        sheet.paste(image, (x + (width - image.width) // 2, y + (height - image.height) // 2))
        draw.text(
            (x, y + height + 2), _fit(caption_font, caption, width), fill=_INK, font=caption_font
        )
    return sheet


def _text_size(font: ImageFont.ImageFont, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def _fit(font: ImageFont.ImageFont, text: str, width: int) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` px."""
    while text and _text_size(font, text)[0] > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text
