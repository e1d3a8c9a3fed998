"""Options made from the settings (painterly/cli/options.py): every option reaches the
settings the API receives, and a bad value is one line naming the option."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from PIL import Image

from painterly.cli import main
from painterly.recipes import read_recipe, settings_from_recipe
from painterly.settings import ReconstructSettings, RunSettings, TransferSettings

FAST = ["--size", "64", "--iterations", "5"]


# Every setting with a value other than its default: (field, as typed, as the API gets it).
# A real file: the recipe records each mask's SHA-256.
MASK = str(Path(__file__).resolve().parent.parent / "docs" / "images" / "tubingen_sky_mask.png")
TRANSFER_OPTIONS = [
    ("size", "40", 40), ("quality", "draft", "draft"), ("iterations", "2", 2),
    ("optimizer", "adam", "adam"),
    ("step", "0.05", 0.05), ("seed", "4", 4), ("pooling", "avg", "avg"),
    ("device", "cpu", "cpu"), ("precision", "fp32", "fp32"),
    ("max_input_pixels", "1000000", 1000000), ("max_memory", "3.5", 3.5),
    ("content_layer", "block3_conv1", "conv3_1"),
    ("style_layers", "relu1_1,conv2_1", ("conv1_1", "conv2_1")),
    ("style_layer_weights", "1,2", (1.0, 2.0)), ("content_weight", "0.5", 0.5),
    ("style_weight", "30", 30.0), ("tv_weight", "1e-3", 1e-3), ("style_blend", "2", (2.0,)),
    ("style_scale", "1.5", 1.5), ("style_size", "300", 300),
    ("preserve_color", "luminance", "luminance"), ("scales", "20,30", (20, 30)),
    ("init", "noise", "noise"),
    ("tile", "256", 256), ("style_loss", "w2", "w2"), ("masks", MASK, (MASK,)),
]


def _argv(options, weights):
    argv = []
    for name, text, _value in [*options, ("weights", str(weights), None)]:
        argv += ["--" + name.replace("_", "-"), text]
    return argv


@pytest.fixture()
def weights_file():
    from painterly.weights import bundled_weights_path

    return bundled_weights_path()  # a real file: the recipe records its SHA-256


def test_settings_options_reach_the_api(tmp_path, inputs, monkeypatch, weights_file):
    received = []

    def stylize(content, style, settings, callback=None, resume=None, on_plan=None,
                time_plan=True):
        received.append((content, style, settings))
        return Image.new("RGB", (40, 30), (10, 20, 30))

    monkeypatch.setattr("painterly.cli.paint.stylize", stylize)
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), "-o", str(out), "-q",
            *_argv(TRANSFER_OPTIONS, weights_file)]
    assert main(argv) == 0
    expected = TransferSettings(weights=str(weights_file),
                                **{name: value for name, _text, value in TRANSFER_OPTIONS})
    # Every field is covered, each with a value that is not its default.
    assert {f.name for f in fields(TransferSettings)} == {*dict((o[0], 0) for o in
                                                              TRANSFER_OPTIONS), "weights"}
    assert all(getattr(expected, f.name) != f.default for f in fields(TransferSettings))
    [(content, styles, settings)] = received
    assert (content, styles) == (str(inputs[0]), [str(inputs[1])])
    assert settings == expected
    # ... and the picture's recipe records them.
    recorded = settings_from_recipe(read_recipe(out), TransferSettings, out)
    assert recorded == expected


def test_reconstruct_options_reach_the_api(tmp_path, inputs, monkeypatch, weights_file):
    received = []

    def reconstruct(image, settings, callback=None):
        received.append((image, settings))
        return Image.new("RGB", (40, 30))

    monkeypatch.setattr("painterly.cli.experiments.reconstruct", reconstruct)
    shared = [o for o in TRANSFER_OPTIONS if o[0] in {f.name for f in fields(RunSettings)}]
    out = tmp_path / "out.png"
    argv = ["reconstruct", "style", str(inputs[1]), "--layer", "relu3_2", "--up-to", "-o",
            str(out), "-q", *_argv(shared, weights_file)]
    assert main(argv) == 0
    [(image, settings)] = received
    assert image == str(inputs[1])
    assert settings == ReconstructSettings(
        target="style", layer="conv3_2", up_to=True, weights=str(weights_file),
        **{name: value for name, _text, value in shared},
    )
    assert settings.precision == "fp32"  # reconstructions choose it too


def test_sweep_options_become_axes_and_a_base(tmp_path, inputs, monkeypatch):
    received = []

    def sweep(content, style, base, axes, callback=None, backend=None, should_stop=None):
        received.append((base, axes, backend))
        raise KeyboardInterrupt  # enough: the plan is what this test reads

    monkeypatch.setattr("painterly.cli.experiments.sweep", sweep)
    argv = ["sweep", *map(str, inputs), "-o", str(tmp_path / "d"), "-q", "--size", "32,48",
            "--style-layers", "conv1_1,conv2_1;conv3_1", "--style-weight", "3", "--jobs", "2"]
    assert main(argv) == 130
    [(base, axes, backend)] = received
    assert axes == {"size": [32, 48], "style_layers": [("conv1_1", "conv2_1"), ("conv3_1",)]}
    assert base == TransferSettings(style_weight=3.0) and backend.jobs == 2


BAD = [
    (["--content-weight", "abc"], "--content-weight"),
    (["--style-weight", "-1"], "--style-weight"),
    (["--size", "0"], "--size"),
    (["--iterations", "-5"], "--iterations"),
    (["--iterations", "ten"], "--iterations"),
    (["--content-layer", "conv7_1"], "unknown layer 'conv7_1'"),
    (["--style-layers", "conv1_1,,conv2_1"], "--style-layers"),
    (["--style-layer-weights", "1,2"], "--style-layer-weights"),
    (["--optimizer", "newton"], "--optimizer"),
    (["--scales", "big"], "--scales"),
    (["--weights", "/no/such/weights.pth"], "weights.pth: weights file not found"),
    (["--init", "/no/such/start.png"], "start.png: no such file"),
    (["--max-memory", "0.5"], "no size fits"),
    (["--max-memory", "-1"], "--max-memory"),
    (["--max-input-pixels", "0"], "--max-input-pixels"),
    (["--seed", "99999999999999999999999", "--init", "noise"], "--seed: must be at most"),
    (["--step", "inf"], "--step"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[b[0][0] + "=" + b[0][1] for b in BAD])
def test_bad_options_one_line_exit_2_no_output(tmp_path, inputs, capsys, extra, message):
    out = tmp_path / "out.png"
    code = main(["transfer", *map(str, inputs), "-o", str(out), *FAST, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not out.exists()


EXPERIMENT_BAD = [
    (["reconstruct", "content", "IMG", "--layer", "conv6_1"], "unknown layer 'conv6_1'"),
    (["reconstruct", "content", "IMG", "--size", "64,128"], "takes one value"),
    (["transfer", "IMG", "IMG", "--content-weight", "1,2"], "takes one value"),
    (["grid", "content", "IMG", "-o", "OUT", "--layers", "conv1_1,nope"], "unknown layer"),
    (["grid", "content", "IMG", "-o", "OUT", "--layers", ""], "comma-separated list"),
    (["sweep", "IMG", "IMG", "-o", "DIR", "--size", ""], "expected a list of values"),
    (["sweep", "IMG", "IMG", "-o", "DIR", "--size", "64,,128"], "expected a list of values"),
    (["sweep", "IMG", "IMG", "-o", "DIR", "--size", "64"], "nothing to sweep"),
    (["sweep", "IMG", "IMG", "-o", "DIR", "--size", "64,8"], "--size"),
    (["sweep", "IMG", "IMG", "-o", "DIR", "--size", "64,128", "--jobs", "0"], "--jobs"),
    (["transfer", "IMG", "IMG", "--plot", "curves.txt"], "unsupported output type"),
]


@pytest.mark.parametrize(("argv", "message"), EXPERIMENT_BAD)
def test_bad_experiment_options(tmp_path, inputs, capsys, argv, message):
    substitute = {"IMG": str(inputs[0]), "OUT": str(tmp_path / "o.png"),
                  "DIR": str(tmp_path / "d")}
    code = main([substitute.get(a, a) for a in argv] + ["--iterations", "1", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.glob("o.png")) == [] and not (tmp_path / "d").exists()


ARTIST_BAD = [
    (["--style-blend", "0.5,0.3,0.2"], "--style-blend: got 3 weights for 1 paintings"),
    (["--style-blend", "1,-1"], "--style-blend"),
    (["--style-scale", "-2"], "--style-scale"),
    (["--style-size", "3"], "--style-size"),
    (["--preserve-color", "sepia"], "--preserve-color"),
    (["--animate", "x.avi"], "unsupported output type"),
    (["--save-every", "0"], "--save-every"),
    (["--snapshots", "SELF"], "exists and is not a directory"),
]


@pytest.mark.parametrize(("extra", "message"), ARTIST_BAD)
def test_bad_artist_options(tmp_path, inputs, capsys, extra, message):
    out = tmp_path / "out.png"
    extra = [str(inputs[0]) if a == "SELF" else a for a in extra]  # a file, not a directory
    code = main(["transfer", *map(str, inputs), "-o", str(out), *FAST, *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()

