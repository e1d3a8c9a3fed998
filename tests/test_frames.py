"""Clips in and out (painterly/frames.py): video files, GIFs and folders of frames."""

from __future__ import annotations

import numpy as np
import pytest
from clips import pan, save_folder, save_gif, save_mp4
from PIL import Image

from painterly.errors import PainterlyError
from painterly.frames import check_clip_output, open_clip, read_frames, write_clip

LIMIT = 10_000_000


def test_a_folder_of_frames_in_name_order(tmp_path):
    frames = pan(4)
    clip = open_clip(save_folder(frames, tmp_path / "clip"), LIMIT)
    assert (clip.kind, clip.size, clip.frames, clip.fps, clip.audio) == (
        "folder", (96, 72), 4, 24.0, False)
    for got, want in zip(read_frames(clip, LIMIT), frames, strict=True):
        assert np.array_equal(np.asarray(got), np.asarray(want))


def test_a_gif_with_its_frame_rate(tmp_path):
    frames = pan(3)
    clip = open_clip(save_gif(frames, tmp_path / "clip.gif", milliseconds=50), LIMIT)
    assert (clip.kind, clip.size, clip.frames, clip.fps) == ("gif", (96, 72), 3, 20.0)
    decoded = list(read_frames(clip, LIMIT))
    assert len(decoded) == 3 and all(frame.mode == "RGB" for frame in decoded)
    # GIF's palette is lossy, but the frames are these
    assert np.abs(np.asarray(decoded[2], float) - np.asarray(frames[2], float)).mean() < 8


def test_a_video_file_with_frame_rate_and_sound(tmp_path):
    frames = pan(6)
    clip = open_clip(save_mp4(frames, tmp_path / "clip.mp4", fps=12, sound=True), LIMIT)
    assert (clip.kind, clip.size, clip.frames, clip.fps, clip.audio) == (
        "video", (96, 72), 6, 12.0, True)
    decoded = list(read_frames(clip, LIMIT))
    assert len(decoded) == 6
    assert np.abs(np.asarray(decoded[3], float) - np.asarray(frames[3], float)).mean() < 6
    silent = open_clip(save_mp4(frames, tmp_path / "silent.mp4"), LIMIT)
    assert not silent.audio


@pytest.mark.parametrize("content", [b"", b"not a video at all\n", b"\x00\x00\x00\x18ftypmp42"])
def test_not_a_video_is_one_line(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(PainterlyError, match="clip.mp4: not a video") as error:
        open_clip(path, LIMIT)
    assert "\n" not in str(error.value)


def test_sound_without_pictures_is_not_a_video(tmp_path):
    import subprocess

    import imageio_ffmpeg

    path = tmp_path / "sound.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440", "-t", "0.5", "-c:a", "aac", str(path)], check=True)
    with pytest.raises(PainterlyError, match="sound.mp4: not a video"):
        open_clip(path, LIMIT)


def test_an_empty_folder_has_no_frames(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no frames here")
    with pytest.raises(PainterlyError, match="no frames"):
        open_clip(tmp_path / "empty", LIMIT)


def test_frames_over_the_pixel_limit_are_refused_before_decoding(tmp_path):
    frames = pan(3)
    for path in (save_folder(frames, tmp_path / "clip"), save_gif(frames, tmp_path / "c.gif"),
                 save_mp4(frames, tmp_path / "c.mp4")):
        with pytest.raises(PainterlyError, match="over the limit of 1,000") as error:
            open_clip(path, 1000)
        assert error.value.setting == "max_input_pixels"


def test_a_frame_of_another_size_is_refused_before_work(tmp_path):
    folder = save_folder(pan(3), tmp_path / "clip")
    Image.new("RGB", (50, 50)).save(folder / "0002.png")
    with pytest.raises(PainterlyError, match="0002.png: a frame of 50x50 px .* first frame is "
                       "96x72; every frame must have the same size"):
        open_clip(folder, LIMIT)


def test_a_damaged_frame_in_a_folder_names_it(tmp_path):
    folder = save_folder(pan(3), tmp_path / "clip")
    (folder / "0001.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(PainterlyError, match="0001.png: not a readable image"):
        open_clip(folder, LIMIT)


@pytest.mark.parametrize("suffix", [".gif", ".mp4", ""])
def test_write_clip_whole_and_read_back(tmp_path, suffix):
    frames = pan(5)
    files = [tmp_path / f"f{index}.png" for index in range(5)]
    for frame, file in zip(frames, files):
        frame.save(file)
    out = check_clip_output(tmp_path / f"painted{suffix}")
    write_clip(files, out, fps=10.0)
    clip = open_clip(out, LIMIT)
    assert clip.frames == 5 and clip.size == (96, 72)
    assert clip.fps == pytest.approx(10.0 if suffix else 24.0)
    assert not list(tmp_path.glob(".painted*"))  # no temporary file or folder left


def test_an_mp4_keeps_the_sound_track_it_is_given(tmp_path):
    frames = pan(6)
    source = save_mp4(frames, tmp_path / "clip.mp4", sound=True)
    files = [tmp_path / f"f{index}.png" for index in range(6)]
    for frame, file in zip(frames, files):
        frame.save(file)
    out = write_clip(files, tmp_path / "painted.mp4", fps=12.0, audio_from=source)
    assert open_clip(out, LIMIT).audio


def test_a_folder_output_replaces_only_frames(tmp_path):
    out = tmp_path / "frames_out"
    out.mkdir()
    (out / "frame_00001.png").write_bytes(b"old")
    assert check_clip_output(out) == out  # an earlier run's frames: replaced
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(PainterlyError, match="other files"):
        check_clip_output(out)


@pytest.mark.parametrize("name,message", [("clip.avi", "unsupported output type"),
                                          ("missing/clip.mp4", "does not exist")])
def test_bad_outputs_are_refused_before_work(tmp_path, name, message):
    with pytest.raises(PainterlyError, match=message):
        check_clip_output(tmp_path / name)
