"""The command line, called as a function and once as ``python -m painterly``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from painterly import __version__
from painterly.cli import main

FAST = ["--size", "64", "--iterations", "5"]


@pytest.fixture()
def inputs(tmp_path, small_content, small_style):
    content, style = tmp_path / "photo.png", tmp_path / "painting.png"
    small_content.save(content)
    small_style.save(style)
    return content, style


def test_transfer_writes_png_of_requested_size(tmp_path, inputs, capsys):
    out = tmp_path / "out.png"
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (64, 48)
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "5/5" in captured.err  # the progress bar reached the end
    assert "wrote" in captured.err


def test_jpeg_output_and_default_name(tmp_path, inputs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["transfer", *map(str, inputs), "-q", *FAST]) == 0
    assert (tmp_path / "photo_painting.png").exists()
    assert main(["transfer", *map(str, inputs), "-q", "-o", "x.jpg", *FAST]) == 0
    with Image.open(tmp_path / "x.jpg") as image:
        assert image.format == "JPEG"


def test_settings_options_reach_the_api(tmp_path, inputs):
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), "-o", str(out), "-q", "--size", "40",
            "--iterations", "2", "--content-layer", "block3_conv1", "--style-layers",
            "relu1_1,conv2_1", "--style-layer-weights", "1,2", "--optimizer", "adam",
            "--step", "0.05", "--init", "noise", "--seed", "4", "--pooling", "avg",
            "--scales", "none", "--tv-weight", "1e-3", "--device", "cpu"]
    assert main(argv) == 0
    with Image.open(out) as image:
        assert image.size == (40, 30)


def test_version_and_layers(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"painterly {__version__}"
    assert main(["layers"]) == 0
    listing = capsys.readouterr().out
    assert "conv4_2   block4_conv2   relu4_2" in listing
    assert len(listing.strip().splitlines()) == 17


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "painterly", "layers"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "conv5_4" in result.stdout


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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("<html></html>"), "not an image file"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_bad_input_files(tmp_path, inputs, capsys, make, message):
    bad = tmp_path / "bad photo.jpg"
    make(bad)
    out = tmp_path / "out.png"
    assert main(["transfer", str(bad), str(inputs[1]), "-o", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"bad photo.jpg: {message}" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unwritable_output(tmp_path, inputs, capsys):
    out = tmp_path / "missing" / "out.png"
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "transfer" in capsys.readouterr().err
