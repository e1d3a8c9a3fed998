"""Settings written as text: a command line's options, a manifest's CSV cells. One reader
per field type; the settings dataclasses then check the values themselves."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .errors import SettingsError


def name_list(text: str) -> tuple[str, ...]:
    """``a,b,c`` -> ("a", "b", "c"); no empty items."""
    items = tuple(item.strip() for item in text.split(","))
    if not text.strip() or any(not item for item in items):
        raise ValueError(f"expected a comma-separated list, got {text!r}")
    return items


def number_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in name_list(text))
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def scales(text: str) -> tuple[int, ...] | None:
    """``auto`` (None), ``none`` (no scales) or comma-separated sizes."""
    if text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(int(item) for item in name_list(text))
    except ValueError:
        raise ValueError(
            f"expected auto, none or comma-separated sizes in px, got {text!r}") from None


def _number(kind: type) -> Callable[[str], object]:
    def read(text: str) -> object:
        try:
            return kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise ValueError(f"expected {noun}, got {text!r}") from None

    read.__name__ = kind.__name__  # argparse names the type in its messages
    return read


def _text(text: str) -> str:
    return text


#: How each annotation of a settings dataclass is read from text.
READERS: dict[str, Callable[[str], object]] = {
    "int": _number(int),
    "int | None": _number(int),
    "float": _number(float),
    "float | None": _number(float),
    "str": _text,
    "str | None": _text,
    "tuple[str, ...]": name_list,
    "tuple[str, ...] | None": name_list,
    "tuple[float, ...] | None": number_list,
    "tuple[int, ...] | None": scales,
}
NUMERIC = ("int", "int | None", "float", "float | None")


def settings_field(settings_class: type, name: str) -> dataclasses.Field:
    """The field ``name`` of ``settings_class``; SettingsError if it has none."""
    for field in dataclasses.fields(settings_class):
        if field.name == name:
            return field
    raise SettingsError(name, "is not a setting")


def read_setting(settings_class: type, name: str, value: object) -> object:
    """A setting's value from text (read by its field's type) or from JSON (lists become
    the tuples the fields hold); SettingsError naming the field if it cannot be read."""
    field = settings_field(settings_class, name)
    kind = str(field.type)
    if isinstance(value, str) and kind not in ("str", "str | None"):
        try:
            return READERS[kind](value) if kind in READERS else value
        except ValueError as error:
            raise SettingsError(name, str(error)) from None
    return tuple(value) if isinstance(value, list) else value
