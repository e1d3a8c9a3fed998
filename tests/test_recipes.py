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


def _with_recipe(path, text: str, compress: bool = True):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("painterly", text, zip=compress)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def _good(inputs) -> dict:
    return make_recipe("transfer", TransferSettings(size=32, iterations=1),
                       {"content": [str(inputs[0])], "style": [str(inputs[1])]})


HOSTILE = [
    ("settings null", lambda r: {**r, "settings": None}, "recipe is damaged"),
    ("settings nested", lambda r: {**r, "settings": {"size": {"a": 1}}}, "recipe is damaged"),
    ("no inputs", lambda r: {k: v for k, v in r.items() if k != "inputs"}, "recipe is damaged"),
    ("inputs of numbers", lambda r: {**r, "inputs": {"content": [5]}}, "recipe is damaged"),
    ("no weights digest", lambda r: {**r, "weights": {"source": "x"}}, "recipe is damaged"),
    ("a bad size", lambda r: {**r, "settings": {**r["settings"], "size": "big"}}, "bad setting"),
    ("weights not a path", lambda r: {**r, "settings": {**r["settings"], "weights": 5}},
     "bad setting"),
    ("no content input", lambda r: {**r, "inputs": {"style": r["inputs"]["style"]}},
     "names no photo"),
]


@pytest.mark.parametrize(("case", "damage", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_recipes_end_in_one_line(tmp_path, inputs, capsys, case, damage, message):
    picture = _with_recipe(tmp_path / "handed.png", json.dumps(damage(_good(inputs))))
    out = tmp_path / "again.png"
    assert main(["transfer", "--recipe", str(picture), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "compress", "message"),
    [("[" * 100_000 + "]" * 100_000, True, "holds no painterly recipe"),
     ('{"settings": {}, "x": "' + "a" * 2_000_000 + '"}', False, "over 1000000 characters"),
     (" " * 30_000_000, True, "not a readable image")],  # 30 MB of text in a small file
    ids=["nested 100000 deep", "2 MB of text", "a decompression bomb"],
)
def test_oversized_or_deep_recipes_are_refused(tmp_path, capsys, text, compress, message):
    picture = _with_recipe(tmp_path / "handed.png", text, compress)
    assert picture.stat().st_size < 3_000_000
    assert main(["recipe", str(picture)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_paths_from_a_recipe_are_shown_escaped(tmp_path, inputs, capsys):
    recipe = _good(inputs)
    trick = "gone.png\npainterly: wrote /home/you/everything.png\x1b[2J"
    recipe["inputs"]["content"] = [{"path": trick, "absolute": trick, "sha256": "0" * 64}]
    picture = _with_recipe(tmp_path / "handed.png", json.dumps(recipe))
    assert main(["transfer", "--recipe", str(picture), "-q"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err
    assert "gone.png\\npainterly: wrote" in err


def test_recipe_refuses_other_weights_and_a_changed_start_image(tmp_path, inputs, capsys):
    recipe = _good(inputs)
    recipe["weights"]["sha256"] = "0" * 64  # made with other weights than these
    picture = _with_recipe(tmp_path / "other_weights.png", json.dumps(recipe))
    assert main(["transfer", "--recipe", str(picture), "-q"]) == 2
    assert "not the weights" in capsys.readouterr().err
    start = tmp_path / "start.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(start)
    first = tmp_path / "first.png"
    assert main(["transfer", *map(str, inputs), "--init", str(start), "--size", "32",
                 "--iterations", "1", "-o", str(first), "-q"]) == 0
    assert read_recipe(first)["inputs"]["init"][0]["path"] == str(start)
    Image.new("RGB", (16, 16), (0, 0, 255)).save(start)  # the start image is replaced
    capsys.readouterr()
    assert main(["transfer", "--recipe", str(first), "-o", str(tmp_path / "x.png"), "-q"]) == 2
    assert "start.png: changed since" in capsys.readouterr().err


def test_a_recipe_cannot_make_us_hash_a_pipe(tmp_path, inputs, capsys):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    recipe = _good(inputs)
    recipe["inputs"]["content"] = [{"path": str(fifo), "absolute": str(fifo),
                                    "sha256": "0" * 64}]
    picture = _with_recipe(tmp_path / "handed.png", json.dumps(recipe))
    assert main(["transfer", "--recipe", str(picture), "-q"]) == 2
    assert "pipe.png: is not a regular file" in capsys.readouterr().err
