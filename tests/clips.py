"""Test clips made from the bundled photos, so that the true motion is known."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "content"


def photo(name: str = "tubingen.jpg", width: int = 400) -> Image.Image:
    with Image.open(EXAMPLES / name) as image:
        image = image.convert("RGB")
        return image.resize((width, round(width * image.height / image.width)),
                            Image.Resampling.LANCZOS)


def pan(frames: int, size: tuple[int, int] = (96, 72), step: tuple[int, int] = (3, 1),
        name: str = "tubingen.jpg") -> list[Image.Image]:
    """A window of ``size`` sliding ``step`` px (x, y) a frame across a photo: frame k+1
    at p shows what frame k showed at p + step."""
    source = photo(name)
    return [source.crop((10 + k * step[0], 10 + k * step[1],
                         10 + k * step[0] + size[0], 10 + k * step[1] + size[1]))
            for k in range(frames)]


def zoom(frames: int, size: tuple[int, int] = (96, 72), rate: float = 1.03) -> list[Image.Image]:
    """A zoom into the photo's centre, ``rate`` times closer each frame."""
    source = photo()
    cx, cy = source.width / 2, source.height / 2
    clip = []
    for k in range(frames):
        half_w, half_h = size[0] * 0.6 / rate**k, size[1] * 0.6 / rate**k
        box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        clip.append(source.resize(size, Image.Resampling.BICUBIC, box=box))
    return clip


def cut(frames: int, at: int, size: tuple[int, int] = (96, 72)) -> list[Image.Image]:
    """A pan across one photo, then from frame ``at`` (from 0) a pan across another."""
    return pan(at, size) + pan(frames - at, size, name="golden_gate.jpg")


def save_folder(frames: list[Image.Image], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        frame.save(folder / f"{index:04d}.png")
    return folder


def save_gif(frames: list[Image.Image], path: Path, milliseconds: int = 80) -> Path:
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=milliseconds,
                   loop=0)
    return path


def save_mp4(frames: list[Image.Image], path: Path, fps: float = 12,
             sound: bool = False) -> Path:
    """An H.264 MP4 (with a 440 Hz tone as its sound track when ``sound``)."""
    import subprocess

    import imageio_ffmpeg
    import numpy as np

    silent = path.with_name(f"silent_{path.name}") if sound else path
    writer = imageio_ffmpeg.write_frames(str(silent), frames[0].size, fps=fps,
                                         macro_block_size=1, ffmpeg_log_level="error")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(np.asarray(frame)))
    writer.close()
    if sound:
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent),
                        "-f", "lavfi", "-i", "sine=frequency=440", "-c:v", "copy",
                        "-c:a", "aac", "-shortest", str(path)], check=True)
    return path
