"""Every picture carries its recipe; a recipe makes the same picture again."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from painterly import TransferSettings, __version__
from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.images import save_image
from painterly.recipes import encode, make_recipe, read_recipe, settings_from_recipe


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_recipe_round_trip_through_png_and_jpeg(tmp_path, inputs, suffix):
    settings = TransferSettings(size=48, style_layers=("relu1_1", "conv2_1"), seed=7)
    recipe = make_recipe("transfer", settings, {"content": [inputs[0]], "style": [inputs[1]]})
    out = save_image(Image.new("RGB", (4, 4)), tmp_path / f"x{suffix}", encode(recipe))
    read = read_recipe(out)
    assert read["painterly"] == __version__ and read["command"] == "transfer"
    assert read["inputs"]["content"][0]["sha256"] == hashlib.sha256(
        inputs[0].read_bytes()).hexdigest()
    assert settings_from_recipe(read, TransferSettings, out) == settings
    assert read["weights"]["sha256"] and read["settings"]["seed"] == 7


def test_picture_without_recipe(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(PainterlyError, match="holds no painterly recipe"):
        read_recipe(path)


def test_cli_recipe_reproduces_the_picture_bit_for_bit(tmp_path, inputs, capsys):
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    argv = ["transfer", *map(str, inputs), "-o", str(first), "--size", "48",
            "--iterations", "6", "--init", "noise", "--seed", "5", "-q"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["recipe", str(first)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["seed"] == 5 and printed["settings"]["init"] == "noise"
    assert main(["transfer", "--recipe", str(first), "-o", str(second), "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))


def test_recipe_options_can_be_overridden(tmp_path, inputs):
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    assert main(["transfer", *map(str, inputs), "-o", str(first), "--size", "48",
                 "--iterations", "2", "-q"]) == 0
    assert main(["transfer", "--recipe", str(first), "--size", "32", "-o", str(second),
                 "-q"]) == 0
    assert max(Image.open(second).size) == 32
    assert read_recipe(second)["settings"]["size"] == 32


def test_changed_input_is_refused(tmp_path, inputs, capsys):
    first = tmp_path / "first.png"
    assert main(["transfer", *map(str, inputs), "-o", str(first), "--size", "32",
                 "--iterations", "1", "-q"]) == 0
    Image.new("RGB", (40, 30), (9, 9, 9)).save(inputs[1])  # the painting is replaced
    capsys.readouterr()
    assert main(["transfer", "--recipe", str(first), "-o", str(tmp_path / "x.png")]) == 2
    assert "changed since" in capsys.readouterr().err
