"""``painterly video``: a clip painted frame by frame, held steady from frame to frame;
resumable by running the same command again."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from typing_extensions import Self

from ..events import Interrupted, StopRequested
from ..frames import Clip, check_clip_output, open_clip, write_clip
from ..images import load_image
from ..outputs import check_not_an_input
from ..settings import TransferSettings
from ..untrusted import shown
from ..video import FrameProgress, FrameStore, VideoSettings, paint_video, run_key
from .options import add_settings_options, given_settings
from .progress import WORK_UNITS
from .signals import STOP


def register(commands: argparse._SubParsersAction) -> None:
    video = commands.add_parser(
        "video",
        help="paint a video (or a GIF, or a folder of frames) in the style of STYLE",
        description="Paint every frame of CLIP in the style of STYLE, each frame carried "
        "from the last by the motion between them and held to it (Ruder et al. 2016), so "
        "that strokes stay put instead of flickering. Painted frames are kept in "
        "OUT.frames as they are finished: if the run stops, the same command continues at "
        "the next frame.",
    )
    video.add_argument("clip", metavar="CLIP",
                       help="a video file (.mp4, .mov, .webm, ...), an animated GIF, or a "
                       "folder of frames (images, in name order)")
    video.add_argument("style", metavar="STYLE", nargs="+",
                       help="the painting, or several to mix (see --style-blend)")
    video.add_argument(
        "-o", "--output", metavar="OUT",
        help="the painted clip: .mp4 (with CLIP's sound), .gif, or a folder for PNG frames "
        "(default: CLIP_STYLE beside here, as CLIP is)")
    video.add_argument("--keep-frames", action="store_true",
                       help="keep the folder of painted frames (OUT.frames) after the clip "
                       "is written")
    video.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    add_settings_options(video, VideoSettings, title="video")
    add_settings_options(video, TransferSettings)
    video.set_defaults(run=_video)


def _video(args: argparse.Namespace) -> int:
    settings = TransferSettings(**given_settings(TransferSettings, args))
    video = VideoSettings(**given_settings(VideoSettings, args))
    clip = open_clip(args.clip, settings.max_input_pixels)
    output = check_clip_output(args.output or _default_output(clip, args.style))
    check_not_an_input(output, [args.clip, *args.style])
    paintings = [load_image(path, settings.max_input_pixels) for path in args.style]
    store = FrameStore(Path(f"{output}.frames"), run_key(clip, args.style, settings, video))
    began = time.perf_counter()
    with _FramesBar(args.quiet) as bar:
        def follow(progress: FrameProgress) -> None:
            bar.update(progress)
            if progress.progress is not None:
                STOP.check(progress.progress)

        try:
            frames = paint_video(clip, paintings, settings, video, store, follow, args.style)
        except (Interrupted, StopRequested):
            bar.close()
            done = store.done()
            print(f"painterly: stopped; {done} painted frame{'s' * (done != 1)} kept in "
                  f"{shown(store.directory)}; run the same command again to continue",
                  file=sys.stderr)
            return STOP.exit_status()
    audio = clip.path if clip.audio and output.suffix.lower() == ".mp4" else None
    fps = video.fps or clip.fps
    write_clip(store.files(frames), output, fps, audio)
    if not args.keep_frames:
        store.remove()
    print(f"painterly: wrote {shown(output)} ({frames} frames at {fps:g} fps"
          f"{', with sound' if audio else ''}) in {time.perf_counter() - began:.1f} s",
          file=sys.stderr)
    print(output)
    return 0


def _default_output(clip: Clip, styles: list[str]) -> str:
    name = "_".join(Path(name).stem for name in [clip.path.name, *styles])
    return {"video": f"{name}.mp4", "gif": f"{name}.gif"}.get(clip.kind, name)


class _FramesBar:
    """A tqdm bar on stderr over the clip's frames, with the time left."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None

    def __enter__(self) -> Self:
        return self

    def update(self, progress: FrameProgress) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=WORK_UNITS, file=sys.stderr, dynamic_ncols=True,
                            bar_format="{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}"
                            "{postfix}]")
        postfix = f"frame {progress.frame}/{progress.frames} "
        postfix += "afresh" if progress.fresh else "carried"
        step = progress.progress
        if step is not None:
            postfix += f" it {step.iteration}/{step.iterations} style={step.style:.4f}"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(round(progress.fraction * WORK_UNITS) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()

