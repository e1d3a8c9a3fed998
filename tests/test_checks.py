"""Checks of one setting's value (painterly/checks.py)."""

from __future__ import annotations

import math

import pytest

from painterly.checks import check_choice, check_weight, check_whole, is_number, is_whole, sequence
from painterly.errors import SettingsError


def test_a_bool_is_neither_a_number_nor_a_count():
    assert is_number(3) and is_number(0.5) and not is_number(True) and not is_number("3")
    assert is_whole(2, 1) and not is_whole(0, 1) and not is_whole(True, 0)
    assert not is_whole(2.0, 1)


@pytest.mark.parametrize(("check", "args", "message"), [
    (check_whole, ("size", "big", 16), "size: must be a whole number >= 16, got 'big'"),
    (check_whole, ("jobs", 0, 1), "jobs: must be a whole number >= 1, got 0"),
    (check_weight, ("style_weight", math.nan), "style_weight: must be a finite number >= 0"),
    (check_weight, ("style_weight", -1), "style_weight: must be a finite number >= 0"),
    (check_choice, ("pooling", "min", ("max", "avg")), "unknown value 'min'; use one of max, avg"),
    (sequence, ("scales", 128), "scales: expected a list, got 128"),
])
def test_a_bad_value_names_its_setting(check, args, message):
    with pytest.raises(SettingsError, match=message):
        check(*args)


def test_good_values_pass():
    check_whole("size", 16, 16)
    check_weight("tv_weight", 0)
    check_choice("pooling", "avg", ("max", "avg"))
    assert sequence("layers", "conv1_1") == ("conv1_1",)
    assert sequence("scales", [128, 256]) == (128, 256)
