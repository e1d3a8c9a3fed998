"""The command line, called as a function and once as ``python -m painterly``."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from painterly import __version__
from painterly.cli import main

FAST = ["--size", "64", "--iterations", "5"]




def test_transfer_writes_png_of_requested_size(tmp_path, inputs, capsys):
    out = tmp_path / "out.png"
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (64, 48)
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "5/5" in captured.err  # the progress bar reached the end
    assert "wrote" in captured.err


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_bf16_instructions_gets_a_note(tmp_path, inputs, capsys,
                                                            monkeypatch, native):
    monkeypatch.setattr("painterly.devices.cpu_has_native_bf16", lambda: native)
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), "-o", str(out), "-q", "--size", "32",
            "--iterations", "1", "--scales", "none", "--device", "cpu", "--precision", "bf16"]
    assert main(argv) == 0 and out.exists()
    assert ("no bf16 instructions" in capsys.readouterr().err) is not native


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
    (["--max-memory", "0.5"], "no size fits"),
    (["--max-memory", "-1"], "--max-memory"),
    (["--max-input-pixels", "0"], "--max-input-pixels"),
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


def test_reconstruct_writes_picture_and_plot(tmp_path, inputs):
    out, plot = tmp_path / "r.png", tmp_path / "curves.png"
    argv = ["reconstruct", "content", str(inputs[0]), "--layer", "relu2_1", "--size", "48",
            "--iterations", "5", "-o", str(out), "--plot", str(plot), "-q"]
    assert main(argv) == 0
    assert Image.open(out).size == (48, 36)
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width > 400


def test_reconstruct_style_up_to(tmp_path, inputs):
    out = tmp_path / "s.png"
    argv = ["reconstruct", "style", str(inputs[1]), "--layer", "conv2_1", "--up-to",
            "--size", "40", "--iterations", "3", "-o", str(out), "-q"]
    assert main(argv) == 0 and out.exists()


def test_grid_writes_sheet_tiles_and_csv(tmp_path, inputs, capsys):
    sheet = tmp_path / "table.png"
    argv = ["grid", "style", str(inputs[1]), "--layers", "conv1_1,relu3_2,block5_conv4",
            "--size", "32", "--iterations", "2", "-o", str(sheet)]
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "table_tiles").iterdir()) == [
        "conv1_1.png", "conv3_2.png", "conv5_4.png",
    ]
    lines = (tmp_path / "table.csv").read_text().splitlines()
    assert lines[0] == "layer,loss,iterations,optimizer,seconds" and len(lines) == 4
    assert Image.open(sheet).width > 4 * 32
    assert "conv5_4" in capsys.readouterr().err  # one progress bar per layer


def test_sweep_2x2_writes_images_sheet_csv_json_plot(tmp_path, inputs):
    out = tmp_path / "sweep"
    argv = ["sweep", *map(str, inputs), "-o", str(out), "--size", "32,40", "--style-weight",
            "1,10", "--iterations", "2", "--scales", "none", "--plot", str(out / "plot.png"),
            "-q"]
    assert main(argv) == 0
    pictures = sorted(p.name for p in out.glob("0*.png"))
    assert len(pictures) == 4 and pictures[0] == "001_size-32_style_weight-1.png"
    assert (out / "sheet.png").exists() and (out / "plot.png").exists()
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 5 and "content_distance" in rows[0] and "seconds" in rows[0]
    import json

    records = json.loads((out / "results.json").read_text())
    assert [r["varied_size"] for r in records] == ["32", "32", "40", "40"]


def test_sweep_list_valued_options_use_semicolons(tmp_path, inputs):
    out = tmp_path / "sweep"
    argv = ["sweep", *map(str, inputs), "-o", str(out), "--size", "32", "--iterations", "1",
            "--style-layers", "conv1_1,conv2_1;conv3_1", "-q"]
    assert main(argv) == 0
    assert len(list(out.glob("0*.png"))) == 2


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


def test_several_paintings_and_colour_modes(tmp_path, inputs):
    out = tmp_path / "blend.png"
    argv = ["transfer", str(inputs[0]), str(inputs[1]), str(inputs[0]), "--style-blend",
            "0.7,0.3", "--preserve-color", "luminance", "--style-scale", "0.5", "-o", str(out),
            *FAST, "-q"]
    assert main(argv) == 0
    assert Image.open(out).size == (64, 48)


def test_snapshots_and_animation_from_the_cli(tmp_path, inputs):
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), "-o", str(out), *FAST, "--snapshots",
            str(tmp_path / "snaps"), "--save-every", "2", "--animate", str(tmp_path / "a.gif"),
            "-q"]
    assert main(argv) == 0
    assert len(list((tmp_path / "snaps").glob("snapshot_*.png"))) == 3  # 2, 4 and the last, 5
    assert Image.open(tmp_path / "a.gif").n_frames >= 3


ARTIST_BAD = [
    (["--style-blend", "0.5,0.3,0.2"], "--style-blend: got 3 weights for 1 paintings"),
    (["--style-blend", "1,-1"], "--style-blend"),
    (["--style-scale", "-2"], "--style-scale"),
    (["--style-size", "3"], "--style-size"),
    (["--preserve-color", "sepia"], "--preserve-color"),
    (["--animate", "x.avi"], "unsupported output type"),
    (["--save-every", "0"], "--save-every"),
]


@pytest.mark.parametrize(("extra", "message"), ARTIST_BAD)
def test_bad_artist_options(tmp_path, inputs, capsys, extra, message):
    out = tmp_path / "out.png"
    code = main(["transfer", *map(str, inputs), "-o", str(out), *FAST, *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_transfer_needs_inputs_or_a_recipe(capsys):
    assert main(["transfer"]) == 2
    assert "give CONTENT and at least one STYLE" in capsys.readouterr().err


def test_sweep_can_vary_the_blend(tmp_path, inputs):
    out = tmp_path / "blends"
    argv = ["sweep", str(inputs[0]), str(inputs[1]), str(inputs[0]), "-o", str(out),
            "--style-blend", "1,0;0.5,0.5", "--size", "32", "--iterations", "1", "-q"]
    assert main(argv) == 0
    names = sorted(p.name for p in out.glob("0*.png"))
    assert names == ["001_style_blend-1-0.png", "002_style_blend-0.5-0.5.png"]


def _wait_for(pattern, directory, process, seconds=120.0):
    """Wait until a file matching ``pattern`` appears in ``directory``."""
    import time

    deadline = time.monotonic() + seconds
    while not list(directory.glob(pattern)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {pattern} appeared"
        time.sleep(0.01)


def _painterly(*argv):
    return subprocess.Popen([sys.executable, "-m", "painterly", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_picture_so_far_and_resume_finishes_the_same(
    tmp_path, inputs, capsys, signum, status
):
    # Stopped at whatever iteration the signal lands on, resumed: the same picture as
    # one run straight through (CPU arithmetic is deterministic).
    settings = ["--size", "128", "--scales", "64", "--iterations", "40", "-q"]
    straight = tmp_path / "straight.png"
    assert main(["transfer", *map(str, inputs), "-o", str(straight), *settings]) == 0
    out, checkpoint = tmp_path / "out.png", tmp_path / "run.ckpt"
    process = _painterly("transfer", *inputs, "-o", out, *settings, "--checkpoint", checkpoint,
                         "--checkpoint-every", "5")
    _wait_for(checkpoint.name, tmp_path, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == status, err
    assert "stopped at iteration" in err and "painterly resume" in err
    assert "Traceback" not in err
    with Image.open(out) as partial:  # the picture so far, at the size asked for
        assert partial.size == (128, 96)
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written file
    capsys.readouterr()
    resumed = tmp_path / "resumed.png"
    assert main(["resume", str(checkpoint), "-o", str(resumed), "-q"]) == 0
    with Image.open(resumed) as a, Image.open(straight) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_signal_handler_stops_after_the_iteration_then_at_once():
    from painterly.cli.signals import StopOnSignal, Terminated
    from painterly.events import StopRequested

    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt):  # nothing to save yet: stop at once
        stop.handle(signal.SIGINT, None)
    stop.check(None)  # an iteration finished
    stop.handle(signal.SIGTERM, None)  # first signal: only noted
    with pytest.raises(StopRequested):
        stop.check(None)  # ... and acted on after the iteration
    with pytest.raises(Terminated):  # a second signal: at once
        stop.handle(signal.SIGTERM, None)


def test_interrupt_before_the_first_iteration_writes_nothing(tmp_path, inputs, capsys,
                                                              monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("painterly.cli.paint.stylize", interrupted)
    out = tmp_path / "out.png"
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 130
    assert "interrupted; no file is left half-written" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "not a painterly checkpoint"),
        (lambda p: p.write_text("hello"), "not a painterly checkpoint"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_resume_from_a_bad_checkpoint(tmp_path, capsys, make, message):
    path = tmp_path / "run.ckpt"
    make(path)
    assert main(["resume", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_diverging_run_says_why_and_writes_nothing(tmp_path, inputs, capsys):
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), "-o", str(out), "--size", "64", "--iterations", "30",
            "--style-weight", "1e38", "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "kept blowing up" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_interrupted_grid_keeps_the_finished_tiles(tmp_path, inputs):
    sheet = tmp_path / "sheet.png"
    process = _painterly("grid", "content", inputs[0], "-o", sheet, "--layers",
                         "conv1_1,conv2_1,conv3_1", "--size", "64", "--iterations", "400", "-q")
    _wait_for("sheet_tiles/conv1_1.png", tmp_path, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "stopped in conv2_1" in err and "Traceback" not in err
    tiles = sorted(p.name for p in (tmp_path / "sheet_tiles").iterdir())
    assert tiles == ["conv1_1.png", "conv2_1_partial.png"]
    assert not sheet.exists()


def test_interrupted_sweep_keeps_the_finished_pictures(tmp_path, inputs):
    out = tmp_path / "sweep"
    process = _painterly("sweep", *inputs, "-o", out, "--style-weight", "1,10,100", "--size",
                         "64", "--iterations", "400", "-q")
    _wait_for("sweep/001_*.png", tmp_path, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "pictures finished are in" in err and "Traceback" not in err
    assert [p.name for p in out.glob("*.png")] == ["001_style_weight-1.png"]
