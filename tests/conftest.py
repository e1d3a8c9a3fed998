"""Shared fixtures: small real photographs and paintings from examples/."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def content_path() -> Path:
    return EXAMPLES / "content" / "tubingen.jpg"


@pytest.fixture(scope="session")
def style_path() -> Path:
    return EXAMPLES / "style" / "starry_night.jpg"


@pytest.fixture(scope="session")
def small_content(content_path: Path) -> Image.Image:
    with Image.open(content_path) as image:
        return image.convert("RGB").resize((64, 48), Image.Resampling.LANCZOS)


@pytest.fixture(scope="session")
def small_style(style_path: Path) -> Image.Image:
    with Image.open(style_path) as image:
        return image.convert("RGB").resize((64, 40), Image.Resampling.LANCZOS)


@pytest.fixture()
def inputs(tmp_path, small_content, small_style) -> tuple[Path, Path]:
    """The small photo and painting saved as files."""
    content, style = tmp_path / "photo.png", tmp_path / "painting.png"
    small_content.save(content)
    small_style.save(style)
    return content, style
