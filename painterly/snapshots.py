"""Watching a painting emerge: numbered snapshots and an animation of them."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from .errors import PainterlyError
from .events import Progress
from .images import save_image
from .outputs import atomic_write, check_output_path, make_output_dir

ANIMATION_SUFFIXES = (".gif", ".mp4")


def check_animation_path(path: str | os.PathLike[str]) -> Path:
    return check_output_path(path, ANIMATION_SUFFIXES)


class Snapshots:
    """A progress callback that keeps the picture every ``every`` iterations (and the
    last), writing each to ``directory`` as snapshot_NNNNN.png when one is given."""

    def __init__(
        self,
        every: int,
        directory: str | os.PathLike[str] | None = None,
        keep_frames: bool = False,
    ) -> None:
        self.every = every
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            make_output_dir(self.directory)
        self.keep_frames = keep_frames
        self.frames: list[Image.Image] = []

    def __call__(self, progress: Progress) -> None:
        last = progress.iteration == progress.iterations
        if progress.picture is not None and (progress.iteration % self.every == 0 or last):
            picture = progress.picture()
            if self.directory is not None:
                save_image(picture, self.directory / f"snapshot_{progress.iteration:05d}.png")
            if self.keep_frames:
                self.frames.append(picture)

    def animate(self, path: str | os.PathLike[str], seconds_per_frame: float = 0.12) -> Path:
        """Write the kept frames, all at the last frame's size, as a GIF or an MP4."""
        out = check_animation_path(path)
        if not self.frames:
            raise PainterlyError(f"{out}: no frames to animate")
        size = self.frames[-1].size
        frames = [frame.resize(size, Image.Resampling.BICUBIC) for frame in self.frames]
        frames += [frames[-1]] * 8  # linger on the finished picture
        if out.suffix.lower() == ".gif":
            buffer = io.BytesIO()
            frames[0].save(
                buffer, format="GIF", save_all=True, append_images=frames[1:],
                duration=round(seconds_per_frame * 1000), loop=0,
            )
            return atomic_write(out, lambda handle: handle.write(buffer.getvalue()))
        return _write_mp4(out, frames, seconds_per_frame)


def _write_mp4(out: Path, frames: list[Image.Image], seconds_per_frame: float) -> Path:
    try:
        import imageio.v3 as iio
        import numpy as np
    except ModuleNotFoundError:
        raise PainterlyError(
            f"{out}: writing MP4 needs imageio and imageio-ffmpeg: "
            "pip install 'painterly[video]' (or use a .gif)"
        ) from None
    # H.264 wants even sides.
    width, height = (frames[0].width // 2) * 2, (frames[0].height // 2) * 2
    stack = np.stack([np.asarray(f.crop((0, 0, width, height))) for f in frames])
    temp = out.with_name(f".{out.name}.tmp.mp4")
    try:
        iio.imwrite(
            temp, stack, fps=1.0 / seconds_per_frame, codec="libx264", macro_block_size=2
        )
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return out
