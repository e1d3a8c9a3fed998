"""Fuzzing with hypothesis: random command lines through the CLI and random or damaged
bytes through the image loader end in success or a clean error, never an uncaught
exception."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from painterly import cli
from painterly.errors import PainterlyError
from painterly.images import load_image

BAD = Path(__file__).resolve().parent / "data" / "bad"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PHOTO = str(EXAMPLES / "content" / "tubingen.jpg")
PAINTING = str(EXAMPLES / "style" / "starry_night.jpg")

COMMANDS = ["transfer", "resume", "reconstruct", "grid", "sweep", "batch", "recipe", "layers",
            "bogus"]
def _all_options() -> list[str]:
    parser = cli.build_parser()
    names = set()
    for sub in parser._subparsers._group_actions[0].choices.values():  # argparse keeps them here
        for action in sub._actions:
            names.update(o for o in action.option_strings if o.startswith("-"))
    return sorted(names)


VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "64", "1e38", "nan", "inf", "-inf", "1,2", "a,,b",
                     "conv4_2", "relu9_9", "auto", "none", "cuda:7", "lbfgs", "bf16", "", " ",
                     ";", "64,32", "0.5", "max", "luminance", PHOTO, PAINTING,
                     str(BAD / "text.jpg"), str(BAD / "a_directory.jpg"), "/no/such/file.png",
                     "out.png", "out.txt", "sub/dir/out.png", "run.ckpt"]),
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def fast_core():
    """The CLI with the painting itself replaced by a stand-in that loads the inputs
    the real one would and returns a small picture: the fuzz is about the layers
    around it, and must not start real long runs."""
    from painterly import transfer
    from painterly.cli import paint as paint_command
    from painterly import batch
    from painterly.experiments import reconstruction

    def paint(inputs, settings, callback=None, resume=None, on_plan=None, time_plan=True):
        return Image.new("RGB", (settings.size % 97 + 16, 16), (120, 80, 40))

    def stylize(content, style, settings, callback=None, resume=None, on_plan=None,
                time_plan=True):
        return paint(transfer.load_inputs(content, style, settings.max_input_pixels), settings)

    patched = pytest.MonkeyPatch()
    patched.setattr(paint_command, "stylize", stylize)
    patched.setattr(reconstruction, "paint", paint)
    patched.setattr(batch, "paint", paint)  # batch and sweep jobs
    yield
    patched.undo()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_random_command_lines_end_cleanly(tmp_path_factory, fast_core, monkeypatch, data):
    monkeypatch.chdir(tmp_path_factory.mktemp("fuzz"))
    options = _all_options()
    argv = [data.draw(st.sampled_from(COMMANDS))]
    argv += data.draw(st.lists(st.sampled_from([PHOTO, PAINTING, "x.png", "content", "style"]),
                               max_size=3))
    for _ in range(data.draw(st.integers(0, 6))):
        argv.append(data.draw(st.sampled_from(options)))
        if data.draw(st.booleans()):
            argv.append(data.draw(VALUES))
    status = cli.main(argv)
    assert status in (0, 2), argv


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(1)
    picture = Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


VALID = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")}


@st.composite
def damaged(draw) -> bytes:
    """A valid file of some format with a few bytes changed, cut short, or both."""
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=256), damaged()))
def test_random_bytes_load_or_fail_cleanly(tmp_path_factory, payload):
    path = tmp_path_factory.mktemp("bytes") / "input.png"
    path.write_bytes(payload)
    try:
        image = load_image(path)
    except PainterlyError as error:
        assert str(path) in str(error) and "\n" not in str(error)
    else:
        assert image.mode == "RGB" and min(image.size) >= 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)


def _damage(draw, value):
    """``value`` (a recipe or checkpoint, nested dicts and lists) with one part replaced
    by random JSON, or removed."""
    if isinstance(value, (dict, list)) and value and draw(st.booleans()):
        keys = sorted(value) if isinstance(value, dict) else list(range(len(value)))
        key = draw(st.sampled_from(keys))
        copy = dict(value) if isinstance(value, dict) else list(value)
        if isinstance(copy, dict) and draw(st.integers(0, 4)) == 0:
            del copy[key]
        else:
            copy[key] = _damage(draw, value[key])
        return copy
    return draw(JSON)


@pytest.fixture(scope="module")
def good_recipe():
    from painterly import TransferSettings
    from painterly.recipes import make_recipe

    return make_recipe("transfer", TransferSettings(size=32), {"content": [PHOTO],
                                                               "style": [PAINTING]})


def _fails_cleanly(error: PainterlyError) -> None:
    assert "\n" not in str(error) and str(error)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_recipes_are_read_or_refused_cleanly(tmp_path_factory, good_recipe, data):
    import json

    from PIL import PngImagePlugin

    from painterly import TransferSettings
    from painterly.recipes import find_input, read_recipe, settings_from_recipe

    recipe = _damage(data.draw, good_recipe)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("painterly", json.dumps(recipe), zip=True)
    path = tmp_path_factory.mktemp("recipe") / "picture.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    try:
        read = read_recipe(path)
        settings_from_recipe(read, TransferSettings, path)
        for role, entries in read["inputs"].items():
            for entry in entries:
                find_input(entry, role, path)
    except PainterlyError as error:
        _fails_cleanly(error)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_checkpoints_are_read_or_refused_cleanly(tmp_path_factory, good_recipe,
                                                         fast_core, data):
    import torch

    state = {"format": "painterly-checkpoint-1", "recipe": good_recipe, "output": "out.png",
             "every": 20, "stage": 0, "done": 3, "image": torch.zeros(1, 3, 8, 8),
             "optimizer": {"iteration": 3, "step": 1.0, "optimizer": {"state": {}}}}
    folder = tmp_path_factory.mktemp("checkpoint")
    torch.save(_damage(data.draw, state), folder / "run.ckpt")
    # The whole of `resume` but the painting itself (see fast_core).
    status = cli.main(["resume", str(folder / "run.ckpt"), "-o", str(folder / "out.png"),
                       "-q"])
    assert status in (0, 2)
