"""Checks of one setting's value, shared by the settings dataclasses (a transfer's, a
video's, a batch's backend) and the checkpoint reader: each value is checked once,
where settings are made, and a recipe, a manifest or a checkpoint may hold anything."""

from __future__ import annotations

import math

from .errors import SettingsError


def is_number(value: object) -> bool:
    """An int or a float, not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: object, minimum: int) -> bool:
    """An int (not a bool) of at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_whole(name: str, value: object, minimum: int) -> None:
    if not is_whole(value, minimum):
        raise SettingsError(name, f"must be a whole number >= {minimum}, got {value!r}")


def check_weight(name: str, value: object) -> None:
    if not (is_number(value) and math.isfinite(value) and value >= 0):
        raise SettingsError(name, f"must be a finite number >= 0, got {value!r}")


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(name, f"unknown value {value!r}; use one of {', '.join(allowed)}")


def sequence(name: str, value: object) -> tuple:
    """``value`` as a tuple: a string alone, or a list or tuple (from a recipe, anything)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise SettingsError(name, f"expected a list, got {value!r}")
    return tuple(value)
