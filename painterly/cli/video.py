"""``painterly video``: a clip painted frame by frame, held steady from frame to frame;
resumable by running the same command again."""

from __future__ import annotations

import argparse
import sys
import time

from ..events import Interrupted, StopRequested
from ..settings import TransferSettings
from ..untrusted import shown
from ..video import (
    FrameProgress,
    VideoSettings,
    default_output,
    frames_done,
    frames_folder,
    stylize_video,
)
from .options import add_settings_options, given_settings
from .progress import ProgressBar
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
        "(default: CLIP_STYLE here, as CLIP is)")
    video.add_argument("--keep-frames", action="store_true",
                       help="keep the folder of painted frames (OUT.frames) after the clip "
                       "is written")
    video.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    add_settings_options(video, VideoSettings, title="video")
    add_settings_options(video, TransferSettings, skip=("masks",))  # masks do not move
    video.set_defaults(run=_video)


def _video(args: argparse.Namespace) -> int:
    settings = TransferSettings(**given_settings(TransferSettings, args))
    video = VideoSettings(**given_settings(VideoSettings, args))
    output = args.output or default_output(args.clip, args.style)
    began = time.perf_counter()
    with ProgressBar(enabled=not args.quiet) as bar:
        def follow(progress: FrameProgress) -> None:
            _show(bar, progress)
            if progress.progress is not None:
                STOP.check(progress.progress)

        try:
            result = stylize_video(args.clip, args.style, output, settings, video, follow,
                                   args.keep_frames)
        except (Interrupted, StopRequested):
            bar.close()
            folder = frames_folder(output)
            done = frames_done(folder)
            print(f"painterly: stopped; {done} painted frame{'s' * (done != 1)} kept in "
                  f"{shown(folder)}; run the same command again to continue",
                  file=sys.stderr)
            return STOP.exit_status()
    print(f"painterly: wrote {shown(result.output)} ({result.frames} frames at "
          f"{result.fps:g} fps{', with sound' if result.sound else ''}) in "
          f"{time.perf_counter() - began:.1f} s", file=sys.stderr)
    print(result.output)
    return 0


def _show(bar: ProgressBar, progress: FrameProgress) -> None:
    """The bar over the clip's frames: which frame, how it is painted, its iteration."""
    postfix = f"frame {progress.frame}/{progress.frames} "
    postfix += "afresh" if progress.fresh else "carried"
    step = progress.progress
    if step is not None:
        postfix += f" it {step.iteration}/{step.iterations} style={step.style:.4f}"
    bar.show(progress.fraction, postfix)
