"""``painterly video`` (painterly/cli/video.py): clips in and out, sound kept, a stopped
run continued by the same command, and one line for bad input."""

from __future__ import annotations

import signal

import pytest
from clips import pan, save_folder, save_gif, save_mp4
from PIL import Image
from processes import painterly_process, wait_for

from painterly.cli import main
from painterly.frames import open_clip

FAST = ["--size", "32", "--iterations", "3", "--scales", "none", "--frame-iterations", "2"]


def test_an_mp4_is_painted_with_its_frame_rate_and_sound(tmp_path, style_path, capsys,
                                                         monkeypatch):
    clip = save_mp4(pan(3), tmp_path / "walk.mp4", fps=12, sound=True)
    monkeypatch.chdir(tmp_path)
    assert main(["video", str(clip), str(style_path), *FAST]) == 0
    out = tmp_path / "walk_starry_night.mp4"  # the default name, beside here
    painted = open_clip(out, 10**7)
    assert (painted.frames, painted.fps, painted.audio) == (3, 12.0, True)
    assert painted.size == (32, 24)
    captured = capsys.readouterr()
    assert captured.out.strip() == "walk_starry_night.mp4"
    assert "frame 3/3" in captured.err and "with sound" in captured.err
    assert not (tmp_path / "walk_starry_night.mp4.frames").exists()  # done: removed


def test_a_gif_becomes_a_folder_of_frames_and_frames_can_be_kept(tmp_path, style_path):
    clip = save_gif(pan(3), tmp_path / "walk.gif")
    out = tmp_path / "painted"
    assert main(["video", str(clip), str(style_path), "-o", str(out), "-q", "--keep-frames",
                 "--frames", "2", *FAST]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["frame_00001.png",
                                                           "frame_00002.png"]
    with Image.open(out / "frame_00002.png") as frame:
        assert frame.size == (32, 24)
    assert (tmp_path / "painted.frames" / "frame_00002.png").exists()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("make,extra,message", [
    (lambda d: (d / "clip.mp4").write_bytes(b"nope") and d / "clip.mp4", [],
     "clip.mp4: not a video"),
    (lambda d: (d / "empty").mkdir() or d / "empty", [], "no frames"),
    (lambda d: save_folder(pan(2), d / "clip"), ["--max-input-pixels", "100"],
     "over the limit of 100"),
    (lambda d: save_folder(pan(2), d / "clip"), ["-o", "out.avi"],
     "unsupported output type '.avi'"),
    (lambda d: save_folder(pan(2), d / "clip"), ["--temporal-weight", "-1"],
     "--temporal-weight: must be a number from 0"),
    (lambda d: save_folder(pan(2), d / "clip"), ["--masks", "m.png"], "unrecognized arguments"),
    (lambda d: d / "missing.mp4", [], "missing.mp4: no such file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, style_path, capsys, monkeypatch, make,
                                          extra, message):
    monkeypatch.chdir(tmp_path)
    clip = make(tmp_path)
    assert main(["video", str(clip), str(style_path), *FAST, *extra]) == 2
    assert message in one_error_line(capsys)
    assert not list(tmp_path.glob("*.frames"))


def test_frames_of_different_sizes_are_refused_before_work(tmp_path, style_path, capsys):
    folder = save_folder(pan(3), tmp_path / "clip")
    Image.new("RGB", (40, 40)).save(folder / "0002.png")
    assert main(["video", str(folder), str(style_path), "-o", str(tmp_path / "o.gif"),
                 *FAST]) == 2
    assert "every frame must have the same size" in one_error_line(capsys)
    assert not (tmp_path / "o.gif.frames").exists()


def test_ctrl_c_keeps_the_painted_frames_and_the_same_command_goes_on(tmp_path, style_path):
    clip = save_folder(pan(4), tmp_path / "clip")
    out = tmp_path / "painted.gif"
    argv = ["video", clip, style_path, "-o", out, "--size", "32", "--scales", "none",
            "--iterations", "40", "--frame-iterations", "40", "-q"]
    process = painterly_process(*argv)
    wait_for("frame_00001.png", tmp_path / "painted.gif.frames", process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command again to continue" in err and "Traceback" not in err
    kept = sorted((tmp_path / "painted.gif.frames").glob("frame_*.png"))
    assert 1 <= len(kept) < 4 and not out.exists()
    process = painterly_process(*argv)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert open_clip(out, 10**7).frames == 4
