"""``painterly reconstruct``, ``grid`` and ``sweep`` (painterly/cli/experiments.py)."""

from __future__ import annotations

import csv
import json
import signal

import numpy as np
from PIL import Image
from processes import painterly_process, wait_for

from painterly.cli import main
from painterly.recipes import read_recipe


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
    assert main(argv) == 0
    with Image.open(out) as picture:
        assert picture.size == (40, 25)
        assert np.asarray(picture).std() > 10  # a texture, not a flat image
    settings = read_recipe(out)["settings"]
    assert (settings["target"], settings["layer"], settings["up_to"]) == ("style", "conv2_1", True)


def test_grid_writes_sheet_tiles_and_csv(tmp_path, inputs, capsys):
    sheet = tmp_path / "table.png"
    argv = ["grid", "style", str(inputs[1]), "--layers", "conv1_1,relu3_2,block5_conv4",
            "--size", "32", "--iterations", "2", "-o", str(sheet)]
    assert main(argv) == 0
    tiles = sorted((tmp_path / "table_tiles").iterdir())
    assert [p.name for p in tiles] == ["conv1_1.png", "conv3_2.png", "conv5_4.png"]
    for tile in tiles:
        with Image.open(tile) as picture:
            assert picture.size == (32, 20)
        assert read_recipe(tile)["settings"]["layer"] == tile.stem
    with (tmp_path / "table.csv").open() as table:
        rows = list(csv.DictReader(table))
    assert [row["layer"] for row in rows] == ["conv1_1", "conv3_2", "conv5_4"]
    assert all(float(row["loss"]) > 0 and row["iterations"] == "2" for row in rows)
    with Image.open(sheet) as picture:
        assert picture.width > 4 * 32
    assert read_recipe(sheet)["layers"] == ["conv1_1", "conv3_2", "conv5_4"]
    assert "conv5_4" in capsys.readouterr().err  # one progress bar per layer


def test_sweep_2x2_writes_images_sheet_csv_json_plot(tmp_path, inputs):
    out = tmp_path / "sweep"
    argv = ["sweep", *map(str, inputs), "-o", str(out), "--size", "32,40", "--style-weight",
            "1,10", "--iterations", "2", "--scales", "none", "--plot", str(out / "plot.png"),
            "-q"]
    assert main(argv) == 0
    pictures = sorted(out.glob("0*.png"))
    assert [p.name for p in pictures] == [
        "001_size-32_style_weight-1.png", "002_size-32_style_weight-10.png",
        "003_size-40_style_weight-1.png", "004_size-40_style_weight-10.png",
    ]
    for picture, (size, weight) in zip(pictures, [(32, 1), (32, 10), (40, 1), (40, 10)]):
        with Image.open(picture) as image:
            assert max(image.size) == size
        recorded = read_recipe(picture)["settings"]
        assert (recorded["size"], recorded["style_weight"]) == (size, weight)
    with Image.open(out / "sheet.png") as sheet, Image.open(out / "plot.png") as plot:
        assert sheet.width > 2 * 40 and sheet.height > 2 * 30 and plot.width > 400
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 5 and "content_distance" in rows[0] and "seconds" in rows[0]
    records = json.loads((out / "results.json").read_text())
    assert [r["varied_size"] for r in records] == ["32", "32", "40", "40"]
    assert [r["style_weight"] for r in records] == [1.0, 10.0, 1.0, 10.0]
    assert all(r["content_distance"] >= 0 and r["style_distance"] > 0 for r in records)


def test_sweep_list_valued_options_use_semicolons(tmp_path, inputs):
    out = tmp_path / "sweep"
    argv = ["sweep", *map(str, inputs), "-o", str(out), "--size", "32", "--iterations", "1",
            "--style-layers", "conv1_1,conv2_1;conv3_1", "-q"]
    assert main(argv) == 0
    pictures = sorted(out.glob("0*.png"))
    assert [read_recipe(p)["settings"]["style_layers"] for p in pictures] == [
        ["conv1_1", "conv2_1"], ["conv3_1"],
    ]


def test_sweep_can_vary_the_blend(tmp_path, inputs):
    out = tmp_path / "blends"
    argv = ["sweep", str(inputs[0]), str(inputs[1]), str(inputs[0]), "-o", str(out),
            "--style-blend", "1,0;0.5,0.5", "--size", "32", "--iterations", "1", "-q"]
    assert main(argv) == 0
    pictures = sorted(out.glob("0*.png"))
    assert [p.name for p in pictures] == ["001_style_blend-1-0.png",
                                          "002_style_blend-0.5-0.5.png"]
    assert [read_recipe(p)["settings"]["style_blend"] for p in pictures] == [[1, 0],
                                                                             [0.5, 0.5]]


def test_interrupted_grid_keeps_the_finished_tiles(tmp_path, inputs):
    sheet = tmp_path / "sheet.png"
    process = painterly_process("grid", "content", inputs[0], "-o", sheet, "--layers",
                                "conv1_1,conv2_1,conv3_1", "--size", "64", "--iterations", "400",
                                "-q")
    wait_for("sheet_tiles/conv1_1.png", tmp_path, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "stopped in conv2_1" in err and "Traceback" not in err
    tiles = sorted(p.name for p in (tmp_path / "sheet_tiles").iterdir())
    assert tiles == ["conv1_1.png", "conv2_1_partial.png"]
    assert not sheet.exists()


def test_interrupted_sweep_keeps_the_finished_pictures(tmp_path, inputs):
    out = tmp_path / "sweep"
    process = painterly_process("sweep", *inputs, "-o", out, "--style-weight", "1,10,100", "--size",
                                "64", "--iterations", "400", "-q")
    wait_for("sweep/001_*.png", tmp_path, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "pictures finished are in" in err and "Traceback" not in err
    assert [p.name for p in out.glob("*.png")] == ["001_style_weight-1.png"]



def test_a_failing_disk_under_a_grid_is_one_line(tmp_path, inputs, capsys, monkeypatch):
    import errno

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "t.png"))

    monkeypatch.setattr("painterly.experiments.files.save_image", full_disk)
    argv = ["grid", "content", str(inputs[0]), "--layers", "conv1_1", "--size", "32",
            "--iterations", "1", "-o", str(tmp_path / "sheet.png"), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "t.png: No space left on device" in err and len(err.strip().splitlines()) == 1
