"""Clips in and out: a video file (through ffmpeg, from the ``[video]`` extra), an
animated GIF, or a folder of frames; each frame a PIL image, 8-bit RGB.

Everything about a clip that could refuse it (not a video, no frames, frames over the
pixel limit, frames of different sizes) is checked from its header or its files' headers
before any frame is painted; outputs are written atomically.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from .errors import PainterlyError, first_line
from .images import IMAGE_SUFFIXES, load_image, to_rgb
from .outputs import atomic_write, check_output_dir, check_output_path
from .untrusted import regular_file, shown

#: A folder of frames plays at this rate unless told otherwise.
FOLDER_FPS = 24.0
#: Files a clip may be written as; any other name is a folder of frames.
CLIP_SUFFIXES = (".mp4", ".gif")
#: A frame written into a folder, numbered from 1.
FRAME_NAME = "frame_{:05d}.png"


@dataclass(frozen=True)
class Clip:
    """A clip's facts, read before any frame is decoded."""

    path: Path
    kind: str  # "video", "gif" or "folder"
    size: tuple[int, int]  # every frame's (width, height)
    fps: float
    frames: int
    audio: bool  # has a sound track (kept in an MP4 output)
    files: tuple[Path, ...] = ()  # a folder's frames, in order


def open_clip(path: str | os.PathLike[str], max_pixels: int) -> Clip:
    """The clip at ``path``: a folder of images (sorted by name), a GIF, or a video file
    ffmpeg reads. PainterlyError naming it if it is none of them, has no frames, or has
    frames over ``max_pixels`` or of different sizes."""
    path = Path(path)
    if path.is_dir():
        return _open_folder(path, max_pixels)
    regular_file(path, "video")
    if path.suffix.lower() == ".gif":
        return _open_gif(path, max_pixels)
    return _open_video(path, max_pixels)


def _open_folder(path: Path, max_pixels: int) -> Clip:
    files = tuple(sorted(f for f in path.iterdir()
                         if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")))
    if not files:
        raise PainterlyError(f"{shown(path)}: a folder with no frames (no image files in it)")
    size = _header_size(files[0], max_pixels)
    for file in files[1:]:  # headers only: a frame of the wrong size is found before work
        _same_size(_header_size(file, max_pixels), size, file)
    return Clip(path, "folder", size, FOLDER_FPS, len(files), False, files)


def _header_size(file: Path, max_pixels: int) -> tuple[int, int]:
    regular_file(file, "image file")
    try:
        with Image.open(file) as image:
            size = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise PainterlyError(f"{shown(file)}: not a readable image ({first_line(error)})") \
            from None
    _check_pixels(size, max_pixels, file)
    return size


def _open_gif(path: Path, max_pixels: int) -> Clip:
    try:
        with Image.open(path) as gif:
            _check_pixels(gif.size, max_pixels, path)
            durations = [frame.info.get("duration", 100) or 100
                         for frame in ImageSequence.Iterator(gif)]
            size = gif.size
    except (UnidentifiedImageError, OSError) as error:
        raise PainterlyError(f"{shown(path)}: not a readable GIF ({first_line(error)})") \
            from None
    fps = 1000 * len(durations) / sum(durations)
    return Clip(path, "gif", size, fps, len(durations), False)


def _open_video(path: Path, max_pixels: int) -> Clip:
    ffmpeg = _imageio_ffmpeg()
    try:
        reader = ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        frames, _seconds = ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError, StopIteration, ValueError) as error:
        raise PainterlyError(f"{shown(path)}: not a video ffmpeg can read "
                             f"({first_line(error)})") from None
    size, fps = tuple(meta.get("size") or (0, 0)), meta.get("fps") or 0
    if not (size[0] > 0 and size[1] > 0 and fps > 0):
        raise PainterlyError(f"{shown(path)}: not a video (no picture stream)")
    _check_pixels(size, max_pixels, path)
    if frames == 0:
        raise PainterlyError(f"{shown(path)}: the video has no frames")
    return Clip(path, "video", size, float(fps), frames, bool(meta.get("audio_codec")))


def _imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ModuleNotFoundError:
        raise PainterlyError("video files need ffmpeg: pip install 'painterly[video]' (or "
                             "give a GIF or a folder of frames)") from None
    return imageio_ffmpeg


def _check_pixels(size: Sequence[int], max_pixels: int, path: Path) -> None:
    if size[0] * size[1] > max_pixels:
        raise PainterlyError(
            f"{shown(path)}: frames of {size[0]}x{size[1]} = {size[0] * size[1]:,} px, over "
            f"the limit of {max_pixels:,}", setting="max_input_pixels")


def _same_size(size: tuple[int, int], first: tuple[int, int], where: object) -> None:
    if size != first:
        raise PainterlyError(
            f"{shown(where)}: a frame of {size[0]}x{size[1]} px in a clip whose first frame "
            f"is {first[0]}x{first[1]}; every frame must have the same size")


def read_frames(clip: Clip, max_pixels: int) -> Iterator[Image.Image]:
    """The clip's frames in order, 8-bit RGB, each checked against the first's size."""
    if clip.kind == "folder":
        for file in clip.files:
            frame = load_image(file, max_pixels)
            _same_size(frame.size, clip.size, file)
            yield frame
    elif clip.kind == "gif":
        with Image.open(clip.path) as gif:
            for index, frame in enumerate(ImageSequence.Iterator(gif)):
                _same_size(frame.size, clip.size, f"{clip.path} frame {index + 1}")
                yield to_rgb(frame.copy())
    else:
        yield from _video_frames(clip)


def _video_frames(clip: Clip) -> Iterator[Image.Image]:
    reader = _imageio_ffmpeg().read_frames(str(clip.path))
    try:
        size = tuple(next(reader)["size"])
        _same_size(size, clip.size, clip.path)  # the file changed since it was opened
        for index, data in enumerate(reader):
            try:
                yield Image.frombytes("RGB", clip.size, data)
            except ValueError:
                raise PainterlyError(f"{shown(clip.path)}: frame {index + 1} is cut short "
                                     "(a damaged video)") from None
    except (OSError, RuntimeError) as error:
        raise PainterlyError(f"{shown(clip.path)}: cannot be decoded ({first_line(error)})") \
            from None
    finally:
        reader.close()


def check_clip_output(path: str | os.PathLike[str]) -> Path:
    """``path`` if a clip can be written there: a .mp4 or .gif file, or a folder of
    frames (a name without a suffix, created if missing, holding no other files)."""
    out = Path(path)
    if out.suffix.lower() in CLIP_SUFFIXES:
        if out.suffix.lower() == ".mp4":
            _imageio_ffmpeg()
        return check_output_path(out, CLIP_SUFFIXES)
    if out.suffix and not out.is_dir():
        raise PainterlyError(f"{shown(out)}: unsupported output type {out.suffix!r}; use "
                             f"{', '.join(CLIP_SUFFIXES)} or a folder name")
    if out.exists() and not out.is_dir():
        raise PainterlyError(f"{shown(out)}: exists and is not a folder")
    check_output_dir(out.parent if not out.exists() else out, out)
    if out.exists():
        others = [f for f in out.iterdir() if not _is_frame_name(f.name)]
        if others:
            raise PainterlyError(f"{shown(out)}: a folder holding other files ("
                                 f"{shown(others[0].name)}); give an empty or new folder")
    return out


def _is_frame_name(name: str) -> bool:
    return name.startswith("frame_") and name.endswith(".png") and name[6:-4].isdigit()


def write_clip(files: Sequence[Path], out: Path, fps: float,
               audio_from: Path | None = None) -> Path:
    """The PNG frames ``files`` as the clip ``out`` at ``fps`` (an MP4 with the sound
    track of ``audio_from``, a GIF, or a folder), written whole or not at all."""
    suffix = out.suffix.lower()
    if suffix == ".gif":
        return _write_gif(files, out, fps)
    if suffix == ".mp4":
        return _write_mp4(files, out, fps, audio_from)
    return _write_folder(files, out)


def _frames_of(files: Iterable[Path]) -> Iterator[Image.Image]:
    for file in files:
        with Image.open(file) as frame:
            yield to_rgb(frame)


def _write_gif(files: Sequence[Path], out: Path, fps: float) -> Path:
    frames = _frames_of(files)
    first = next(frames)
    return atomic_write(out, lambda handle: first.save(
        handle, format="GIF", save_all=True, append_images=frames,
        duration=round(1000 / fps), loop=0))


def _write_mp4(files: Sequence[Path], out: Path, fps: float, audio_from: Path | None) -> Path:
    import numpy as np

    ffmpeg = _imageio_ffmpeg()
    with Image.open(files[0]) as first:
        size = first.size
    handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp.mp4", dir=out.parent)
    os.close(handle)
    try:
        writer = ffmpeg.write_frames(
            temp, size, fps=fps, quality=8, macro_block_size=2, ffmpeg_log_level="error",
            audio_path=str(audio_from) if audio_from else None,
            audio_codec="aac" if audio_from else None,
            # The sound cut at the last frame; never a frame cut for a shorter sound.
            output_params=["-t", f"{len(files) / fps:.6f}"] if audio_from else [])
        writer.send(None)
        for frame in _frames_of(files):
            writer.send(np.ascontiguousarray(np.asarray(frame)))
        writer.close()
        os.chmod(temp, 0o644)
        os.replace(temp, out)
    finally:
        Path(temp).unlink(missing_ok=True)
    return out


def _write_folder(files: Sequence[Path], out: Path) -> Path:
    """The frames copied into a fresh folder beside ``out``, which then takes its place
    (frames an earlier run left there go with it)."""
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for index, file in enumerate(files, start=1):
            shutil.copyfile(file, temp / FRAME_NAME.format(index))
        if out.exists():
            shutil.rmtree(out)
        os.replace(temp, out)
    finally:
        if temp.exists():
            shutil.rmtree(temp)
    return out
