"""``painterly transfer`` and ``resume`` (painterly/cli/paint.py): pictures, snapshots,
checkpoints, and what a signal or a mistake leaves behind."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from PIL import Image
from processes import painterly_process, wait_for

from painterly.cli import main
from painterly.recipes import read_recipe

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
    assert main(argv) == 0
    assert ("no bf16 instructions" in capsys.readouterr().err) is not native
    with Image.open(out) as picture:
        assert picture.size == (32, 24)
    assert read_recipe(out)["settings"]["precision"] == "bf16"


def test_the_first_auto_painting_on_a_machine_says_it_times_the_cpu(tmp_path, inputs, capsys,
                                                                    monkeypatch):
    from painterly import arithmetic

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(arithmetic, "candidates", lambda: ("fp32", "bf16"))
    monkeypatch.setattr(arithmetic, "measure", lambda names: {"fp32": 1.0, "bf16": 2.0})
    arithmetic._remembered.cache_clear()
    argv = ["transfer", *map(str, inputs), "--size", "32", "--iterations", "1",
            "--scales", "none", "--device", "cpu"]
    try:
        for run, note in ((1, True), (2, False)):
            assert main([*argv, "-o", str(tmp_path / f"{run}.png")]) == 0
            err = capsys.readouterr().err
            assert ("timing this CPU's arithmetics once" in err) is note
            assert "1 iterations in fp32;" in err  # the plan names what was chosen
    finally:
        arithmetic._remembered.cache_clear()


def test_jpeg_output_and_default_name(tmp_path, inputs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["transfer", *map(str, inputs), "-q", *FAST]) == 0
    with Image.open(tmp_path / "photo_painting.png") as image:
        assert image.format == "PNG" and image.size == (64, 48)
    assert main(["transfer", *map(str, inputs), "-q", "-o", "x.jpg", *FAST]) == 0
    with Image.open(tmp_path / "x.jpg") as image:
        assert image.format == "JPEG" and image.size == (64, 48)
    # The same run, so the same picture, up to JPEG's loss; the recipe in its comment.
    png = np.asarray(Image.open(tmp_path / "photo_painting.png"), dtype=float)
    assert np.abs(np.asarray(Image.open(tmp_path / "x.jpg"), dtype=float) - png).mean() < 8
    assert read_recipe(tmp_path / "x.jpg")["inputs"]["style"][0]["path"] == str(inputs[1])


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


def test_several_paintings_and_colour_modes(tmp_path, inputs):
    out = tmp_path / "blend.png"
    argv = ["transfer", str(inputs[0]), str(inputs[1]), str(inputs[0]), "--style-blend",
            "0.7,0.3", "--preserve-color", "luminance", "--style-scale", "0.5", "-o", str(out),
            *FAST, "-q"]
    assert main(argv) == 0
    with Image.open(out) as picture, Image.open(inputs[0]) as photo:
        assert picture.size == (64, 48)
        # luminance mode: the photo's own chroma (YIQ's I and Q), up to 8-bit rounding
        assert np.abs(_chroma(picture) - _chroma(photo)).mean() < 2.0
        assert np.abs(np.asarray(picture, float) - np.asarray(photo, float)).mean() > 3


def _chroma(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    return rgb @ np.array([[0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]).T


def test_snapshots_and_animation_from_the_cli(tmp_path, inputs):
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), "-o", str(out), *FAST, "--snapshots",
            str(tmp_path / "snaps"), "--save-every", "2", "--animate", str(tmp_path / "a.gif"),
            "-q"]
    assert main(argv) == 0
    snaps = sorted((tmp_path / "snaps").glob("snapshot_*.png"))  # 2, 4 and the last, 5
    assert [p.name for p in snaps] == [f"snapshot_{n:05d}.png" for n in (2, 4, 5)]
    with Image.open(snaps[-1]) as last, Image.open(out) as picture:
        assert np.array_equal(np.asarray(last), np.asarray(picture))  # the last is the result
    assert Image.open(tmp_path / "a.gif").n_frames >= 3


def test_transfer_needs_inputs_or_a_recipe(capsys):
    assert main(["transfer"]) == 2
    assert "give CONTENT and at least one STYLE" in capsys.readouterr().err


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
    process = painterly_process("transfer", *inputs, "-o", out, *settings, "--checkpoint",
                                checkpoint, "--checkpoint-every", "5")
    wait_for(checkpoint.name, tmp_path, process)
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



def _must_not_paint(*args, **kwargs):
    raise AssertionError("the run started; it should have been refused before")


def test_output_naming_the_photo_is_refused_and_the_photo_kept(tmp_path, inputs, capsys):
    before = inputs[0].read_bytes()
    assert main(["transfer", *map(str, inputs), "-o", str(inputs[0]), *FAST]) == 2
    assert "is one of this run's inputs" in capsys.readouterr().err
    assert inputs[0].read_bytes() == before


def test_a_name_too_long_to_write_is_refused_before_the_work(tmp_path, inputs, capsys,
                                                              monkeypatch):
    monkeypatch.setattr("painterly.cli.paint.stylize", _must_not_paint)
    out = tmp_path / ("x" * 246 + ".png")  # 250 characters: legal, but not its temporary
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert "too long to be written safely" in err and len(err.strip().splitlines()) == 1


def test_a_failed_final_write_keeps_the_picture(tmp_path, inputs, capsys, monkeypatch):
    import errno

    from painterly.cli import results

    real = results.save_image
    calls = []

    def full_disk(picture, path, recipe=None):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(picture, path, recipe)

    monkeypatch.setattr(results, "save_image", full_disk)
    out = tmp_path / "out.png"
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST, "-q"]) == 0
    err = capsys.readouterr().err
    assert "could not write" in err and "No space left on device" in err
    kept = calls[1]
    assert not out.exists() and f"the picture is kept in {kept}" in err
    with Image.open(kept) as picture:
        assert picture.size == (64, 48)
    assert read_recipe(kept)["command"] == "transfer"


@pytest.mark.parametrize(
    "argv",
    [["transfer", "PHOTO", "PAINTING", "--size", "30000", "--max-memory", "4"],
     ["transfer", "PHOTO", "PAINTING", "--style-size", "100000", "--max-memory", "4"],
     ["reconstruct", "content", "PHOTO", "--size", "20000", "--max-memory", "1"]],
    ids=["size", "style-size", "reconstruct"],
)
def test_memory_is_refused_before_any_picture_is_resized(tmp_path, inputs, capsys,
                                                          monkeypatch, argv):
    monkeypatch.setattr("painterly.transfer.fit_long_side", _must_not_paint)
    names = {"PHOTO": str(inputs[0]), "PAINTING": str(inputs[1])}
    argv = [names.get(a, a) for a in argv] + ["-o", str(tmp_path / "out.png"), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "this run needs about" in err and "fits" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("role", ["photo", "painting", "init"])
def test_a_pipe_as_an_input_is_refused_at_once(tmp_path, inputs, capsys, role):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    files = {"photo": [fifo, inputs[1]], "painting": [inputs[0], fifo]}.get(role, inputs)
    extra = ["--init", str(fifo)] if role == "init" else []
    assert main(["transfer", *map(str, files), *extra, "-o", str(tmp_path / "o.png"),
                 *FAST]) == 2
    err = capsys.readouterr().err
    assert "pipe.jpg: is not a regular file" in err and len(err.strip().splitlines()) == 1
