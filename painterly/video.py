"""Painting a clip frame by frame, each frame held to the last (Ruder, Dosovitskiy and
Brox, GCPR 2016): ``stylize_video`` (a clip's file in, a clip's file out) over
``paint_video`` (frames into a :class:`FrameStore`).

The first frame, and the first after a scene cut, is painted like a picture. Every other
frame starts from the previous painted frame carried to it by the optical flow and is
held to it, where the flow is reliable, by a temporal loss (:mod:`painterly.temporal`):
one stage at the full size and a few iterations, since most of the painting is done.
Painted frames wait in a folder (:class:`FrameStore`) as they are finished, so a stopped
run continues at the next frame, with the same result as a run that was never stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .checks import check_whole, is_number
from .errors import PainterlyError, SettingsError
from .events import Progress
from .flow import motion, warp
from .frames import FRAME_NAME, Clip, check_clip_output, open_clip, read_frames, write_clip
from .images import fit_long_side, load_image, save_image, to_tensor
from .outputs import atomic_write, check_not_an_input, make_output_dir
from .recipes import sha256_of
from .settings import TransferSettings
from .starts import upsample_with_detail
from .temporal import PreviousFrame
from .transfer import Inputs, paint
from .untrusted import regular_file, shown

#: Iterations for a frame carried from the last, by quality: a third of each preset's
#: full-size count when the video benchmark measured them (session 10; the presets
#: since gave the full size fewer, which a carried frame, starting near its end, does
#: not need).
CARRIED_ITERATIONS = {"draft": 5, "normal": 20, "fine": 33}
#: The key file of a folder of painted frames: which run they belong to.
KEY_FILE = "painterly-video.json"


@dataclass(frozen=True)
class VideoSettings:
    """What a video adds to a transfer's settings; the CLI's options are built from
    these fields."""

    # 3: on a 24-frame pan at 256 px, a fifth of the flicker of frames painted alone,
    # their content distance within 3% and style within 9% (10, before uncovered pixels
    # were filled: a sixth, 6% and 13%; benchmarks/README.md, "Video").
    temporal_weight: float = field(
        default=3.0,
        metadata={"help": "weight of the temporal loss: how firmly each frame holds to the "
                  "last one carried to it by the motion (0: each frame on its own)"},
    )
    frame_iterations: int | None = field(
        default=None,
        metadata={"help": "iterations for each frame carried from the last (default: 20; "
                  "5 with --quality draft, 33 with fine)"},
    )
    cut_below: float = field(
        default=0.5,
        metadata={"help": "a scene cut, painted afresh, where the motion from the last "
                  "frame explains less than this share of the frame (0: never)"},
    )
    frames: int | None = field(
        default=None, metadata={"help": "paint only the first FRAMES frames (default: all)"}
    )
    fps: float | None = field(
        default=None,
        metadata={"help": "frame rate of the output (default: the clip's own; a folder of "
                  "frames: 24)"},
    )

    def __post_init__(self) -> None:
        for name, low, high in (("temporal_weight", 0, 1e9), ("cut_below", 0, 1),
                                ("fps", 1e-3, 1000)):
            value = getattr(self, name)
            if value is None and name == "fps":
                continue
            if not (is_number(value) and math.isfinite(value) and low <= value <= high):
                raise SettingsError(name, f"must be a number from {low:g} to {high:g}, "
                                    f"got {value!r}")
        for name in ("frame_iterations", "frames"):
            if getattr(self, name) is not None:
                check_whole(name, getattr(self, name), 1)

    def carried_iterations(self, quality: str) -> int:
        """Iterations for a frame carried from the last one."""
        if self.frame_iterations is not None:
            return self.frame_iterations
        return CARRIED_ITERATIONS[quality]


@dataclass(frozen=True)
class FrameProgress:
    """Where a video's painting is: frame ``frame`` of ``frames`` (from 1), painted afresh
    or carried from the last, and that frame's own :class:`Progress` (None before its
    first iteration)."""

    frame: int
    frames: int
    fresh: bool
    progress: Progress | None
    elapsed: float

    @property
    def fraction(self) -> float:
        """Share of the frames done (the frame under way by its own share)."""
        within = self.progress.fraction if self.progress is not None else 0.0
        return min(1.0, (self.frame - 1 + within) / self.frames)


class FrameStore:
    """The folder where a video's painted frames wait, frame_00001.png on, with the key
    of the run that painted them: the same run finds them and goes on; another is
    refused rather than mixing its frames with theirs."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = make_output_dir(directory)
        key_file = self.directory / KEY_FILE
        if key_file.exists():
            if _stored_key(key_file) != key:
                raise PainterlyError(
                    f"{shown(self.directory)}: holds the frames of another run (other inputs "
                    "or settings); remove it to start again, or choose another output")
        else:
            atomic_write(key_file, lambda handle: handle.write(json.dumps({"key": key}).encode()))

    def path(self, index: int) -> Path:
        return self.directory / FRAME_NAME.format(index)

    def done(self) -> int:
        """How many frames, from the first, are already painted."""
        return frames_done(self.directory)

    def load(self, index: int, size: tuple[int, int]) -> torch.Tensor:
        """A painted frame, which must be ``size`` (it is read from a file: untrusted)."""
        frame = load_image(self.path(index), size[0] * size[1])
        if frame.size != size:
            raise PainterlyError(f"{shown(self.path(index))}: {frame.size[0]}x{frame.size[1]} "
                                 f"px, not the {size[0]}x{size[1]} this run paints")
        return to_tensor(frame)

    def save(self, index: int, picture: Image.Image) -> None:
        save_image(picture, self.path(index))

    def files(self, frames: int) -> list[Path]:
        return [self.path(index) for index in range(1, frames + 1)]

    def remove(self) -> None:
        shutil.rmtree(self.directory)


def frames_done(directory: Path) -> int:
    """How many painted frames, from the first, the folder ``directory`` holds."""
    count = 0
    while (directory / FRAME_NAME.format(count + 1)).is_file():
        count += 1
    return count


def _stored_key(key_file: Path) -> object:
    try:
        return json.loads(regular_file(key_file, "key file", 10_000).read_text()).get("key")
    except (ValueError, AttributeError, OSError):
        return None  # damaged: not this run's


def run_key(clip: Clip, paintings: Sequence[str | Path], settings: TransferSettings,
            video: VideoSettings) -> str:
    """What decides every painted frame: the clip's, paintings' and weights' bytes and
    the settings (not how many frames are wanted, nor the output's frame rate)."""
    files = clip.files or (clip.path,)
    painting = dataclasses.replace(video, frames=None, fps=None)
    described = {
        "clip": [sha256_of(file) for file in files],
        "paintings": [sha256_of(path) for path in paintings],
        "settings": dataclasses.asdict(settings),
        "weights": sha256_of(settings.weights) if settings.weights else "bundled",
        "video": dataclasses.asdict(painting),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class VideoResult:
    """What :func:`stylize_video` wrote: the clip, its frames and rate, and whether it
    has the source's sound."""

    output: Path
    frames: int
    fps: float
    sound: bool


def frames_folder(output: str | os.PathLike[str]) -> Path:
    """Where the painted frames of the clip ``output`` wait: ``OUTPUT.frames``."""
    return Path(f"{output}.frames")


def default_output(clip: str | os.PathLike[str], styles: Sequence[str | os.PathLike[str]]) -> Path:
    """CLIP_STYLE here, as CLIP is: an MP4 for a video, a GIF for a GIF, a folder for one."""
    clip = Path(clip)
    name = "_".join(Path(name).stem for name in [clip.name, *styles])
    if clip.is_dir():
        return Path(name)
    return Path(name + (".gif" if clip.suffix.lower() == ".gif" else ".mp4"))


def stylize_video(
    clip: str | os.PathLike[str],
    style: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    settings: TransferSettings | None = None,
    video: VideoSettings | None = None,
    callback: Callable[[FrameProgress], None] | None = None,
    keep_frames: bool = False,
) -> VideoResult:
    """Paint the clip at ``clip`` (a video file, a GIF or a folder of frames) in the style
    of the paintings ``style`` and write it to ``output`` (.mp4 with the clip's sound,
    .gif, or a folder of PNG frames), whole or not at all.

    Everything is checked before the first frame is painted. Painted frames wait in
    :func:`frames_folder` (removed at the end unless ``keep_frames``): a run stopped by
    ``callback`` (:class:`painterly.events.StopRequested`, raised again or as
    :class:`painterly.events.Interrupted`) or killed continues there when called again
    with the same inputs and settings.
    """
    settings = settings or TransferSettings()
    video = video or VideoSettings()
    source = open_clip(clip, settings.max_input_pixels)
    out = check_clip_output(output)
    check_not_an_input(out, [clip, *style])
    paintings = [load_image(path, settings.max_input_pixels) for path in style]
    store = FrameStore(frames_folder(out), run_key(source, style, settings, video))
    names = [str(path) for path in style]
    frames = paint_video(source, paintings, settings, video, store, callback, names)
    sound = source.audio and out.suffix.lower() == ".mp4"
    fps = video.fps or source.fps
    write_clip(store.files(frames), out, fps, source.path if sound else None)
    if not keep_frames:
        store.remove()
    return VideoResult(out, frames, fps, sound)


def paint_video(
    clip: Clip,
    paintings: Sequence[Image.Image],
    settings: TransferSettings,
    video: VideoSettings,
    store: FrameStore,
    callback: Callable[[FrameProgress], None] | None = None,
    painting_names: Sequence[str] | None = None,
) -> int:
    """Paint the clip's frames (the first ``video.frames``) into ``store``, after those
    it already holds; returns how many frames the painted clip has. ``callback``
    gets a :class:`FrameProgress` at every iteration and may stop the run
    (:class:`painterly.events.StopRequested`): the frames finished stay in the store."""
    if settings.masks is not None:
        raise PainterlyError("masks are for pictures; a video's frames move under them",
                             setting="masks")
    frames = min(clip.frames, video.frames or clip.frames)
    carried_settings = dataclasses.replace(
        settings, scales=(), iterations=video.carried_iterations(settings.quality))
    done = store.done()
    # --init's picture, decoded once: the start of every fresh painting.
    init = settings.init_file()
    start = None if init is None else load_image(init, settings.max_input_pixels)
    began = time.perf_counter()
    previous: tuple[torch.Tensor, torch.Tensor] | None = None  # source, painted
    seen = 0  # a video may decode to fewer frames than its header counts
    for index, frame in enumerate(read_frames(clip, settings.max_input_pixels), start=1):
        if index > frames:
            break
        seen = index
        source = to_tensor(fit_long_side(frame, settings.size))
        if index <= done:  # painted by an earlier run: only the last one is needed
            if index == done:
                previous = source, store.load(index, (source.shape[-1], source.shape[-2]))
            continue
        carried = _carried(previous, source, video)
        if carried is not None:
            carried = fill_uncovered(carried, frame, paintings, settings, source, start)

        def report(progress: Progress | None, index: int = index,
                   fresh: bool = carried is None) -> None:
            if callback is not None:
                callback(FrameProgress(index, frames, fresh, progress,
                                       time.perf_counter() - began))

        report(None)
        inputs = Inputs(frame, paintings, f"{shown(clip.path)} frame {index}", painting_names,
                        start=start, previous=carried)
        picture = paint(inputs, settings if carried is None else carried_settings, report)
        store.save(index, picture)
        previous = source, to_tensor(picture)  # as saved: a resumed run sees the same
    if seen == 0:
        raise PainterlyError(f"{shown(clip.path)}: no frame could be decoded")
    return seen


def _carried(previous: tuple[torch.Tensor, torch.Tensor] | None, source: torch.Tensor,
             video: VideoSettings) -> PreviousFrame | None:
    """The previous painted frame carried to this one, or None to paint it afresh: the
    first frame, a scene cut, or every frame when the temporal weight is 0."""
    if previous is None or video.temporal_weight == 0:
        return None
    previous_source, painted = previous
    moved = motion(previous_source, source)
    if moved.explained < video.cut_below:
        return None
    return PreviousFrame(warp(painted, moved.flow, "bicubic").clamp(0, 1), moved.reliable, video.temporal_weight)


#: Iterations of the quick painting, at half the frame's size, that fills what the motion
#: uncovered. Carried from the smeared edge of the last frame instead, such pixels were
#: painted in one frame's iterations and then held: a pan's trailing edge stayed paler
#: and thinner-stroked than the rest (The Scream, benchmarks/README.md). It costs about
#: a sixth more time per carried frame.
FILL_ITERATIONS = 20


def fill_uncovered(carried: PreviousFrame, frame: Image.Image, paintings: Sequence[Image.Image],
                   settings: TransferSettings, source: torch.Tensor,
                   start: Image.Image | None = None) -> PreviousFrame:
    """``carried`` with the pixels its motion does not explain (reliable 0) taken from a
    quick fresh painting of ``frame`` at half size, upsampled with the photo's detail
    (``source``: the frame at the run's size, (1, 3, H, W)); unchanged where all is
    reliable. The start and, where held, the target of the frame's painting. ``start``:
    the decoded picture ``settings.init`` names, if it names one."""
    if float(carried.reliable.min()) >= 1:
        return carried
    quick = dataclasses.replace(settings, size=max(32, settings.size // 2), scales=(),
                                iterations=FILL_ITERATIONS)
    coarse = to_tensor(paint(Inputs(frame, paintings, start=start), quick))
    filled = upsample_with_detail(coarse, source)
    warped = carried.reliable * carried.warped + (1 - carried.reliable) * filled
    return dataclasses.replace(carried, warped=warped)
