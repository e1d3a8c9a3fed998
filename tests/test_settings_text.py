"""Settings read from text (options, manifest cells): each field type's reader."""

from __future__ import annotations

import pytest

from painterly.errors import SettingsError
from painterly.settings import TransferSettings
from painterly.settings_text import name_list, number_list, read_setting, scales


def test_lists_and_scales():
    assert name_list(" conv1_1, conv2_1 ") == ("conv1_1", "conv2_1")
    assert number_list("1,0.5") == (1.0, 0.5)
    assert scales("auto") is None
    assert scales("none") == ()
    assert scales("128,256") == (128, 256)
    for bad, reader in (("a,,b", name_list), ("1,x", number_list), ("12.5", scales)):
        with pytest.raises(ValueError):
            reader(bad)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("size", "256", 256),
    ("style_weight", "2.5", 2.5),
    ("style_layers", "conv1_1,relu2_1", ("conv1_1", "relu2_1")),
    ("scales", "none", ()),
    ("init", "noise", "noise"),
    ("style_blend", [1, 2], (1, 2)),  # JSON: lists become the tuples fields hold
    ("size", 300, 300),
])
def test_read_setting_by_the_fields_type(name, value, expected):
    assert read_setting(TransferSettings, name, value) == expected


def test_read_setting_names_the_field():
    with pytest.raises(SettingsError, match="size: expected a whole number, got '12px'"):
        read_setting(TransferSettings, "size", "12px")
    with pytest.raises(SettingsError, match="colour: is not a setting"):
        read_setting(TransferSettings, "colour", "red")
