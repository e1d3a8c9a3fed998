"""Stability of ``painterly video``: a pan across a photo, painted frame by frame on its
own and carried from frame to frame (issue 18).

    python benchmarks/video.py [--frames 24] [--size 256] [--paintings starry_night,the_scream]
                               [--temporal-weights 3] [--tag _epyc_avx2]
                               [--alone-from results/video_256_epyc_avx2.json]

The clip is a window of the output's size sliding STEP px a frame across tubingen.jpg, so
the true motion is known: frame k+1 at p shows frame k at p + STEP. For each painting,
the clip is painted independently (--temporal-weight 0: every frame afresh) and with
each temporal weight. Per frame: the time, the content and style distances
(painterly.metrics.measure, against the frame and the painting), and the temporal error:
the mean absolute difference between the painted frame and the previous painted frame
moved by the true motion, over the pixels both show. --alone-from takes the independent
frames' figures from an earlier run of the same clip instead of painting them again (its
times are then another run's: compare the carried frames with their own first frame).
Writes benchmarks/results/
video<tag>.json and .md, and a GIF per painting: independent beside carried. Run nothing
else heavy beside it: the times are wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import itertools

from speed import keep_memory_as_the_cli
from speed import machine as device_name  # benchmarks/speed.py, beside this script

from painterly import TransferSettings, __version__
from painterly.devices import resolve_device
from painterly.frames import open_clip, write_clip
from painterly.images import load_image, to_tensor
from painterly.metrics import measure
from painterly.video import FrameStore, VideoSettings, paint_video

RESULTS = ROOT / "benchmarks" / "results"
PHOTO = ROOT / "examples" / "content" / "tubingen.jpg"
STEP = (4, 1)  # px a frame, at the output's size


def pan(frames: int, size: int) -> list[Image.Image]:
    width, height = size, size * 3 // 4
    photo = load_image(PHOTO)
    scale = (width + STEP[0] * frames + 20) / photo.width
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)),
                         Image.Resampling.LANCZOS)
    return [photo.crop((10 + k * STEP[0], 10 + k * STEP[1],
                        10 + k * STEP[0] + width, 10 + k * STEP[1] + height))
            for k in range(frames)]


def temporal_error(frames: list[Path]) -> list[float]:
    """Per frame after the first: mean |frame - previous moved by STEP| where both show."""
    dx, dy = STEP
    images = [to_tensor(Image.open(path)) for path in frames]
    return [float((b[..., :-dy, :-dx] - a[..., dy:, dx:]).abs().mean())
            for a, b in itertools.pairwise(images)]


def paint_clip(clip_dir: Path, painting: Path, settings: TransferSettings,
               video: VideoSettings, work: Path) -> tuple[list[Path], list[float]]:
    """The painted frames and each frame's seconds."""
    clip = open_clip(clip_dir, settings.max_input_pixels)
    store = FrameStore(work, f"{painting.stem}-{video.temporal_weight}")
    starts: dict[int, float] = {}

    def follow(progress) -> None:
        starts.setdefault(progress.frame, time.perf_counter())

    frames = paint_video(clip, [load_image(painting)], settings, video, store, follow)
    ended = time.perf_counter()
    marks = [starts[k] for k in range(1, frames + 1)] + [ended]
    return store.files(frames), [b - a for a, b in itertools.pairwise(marks)]


def run_one(clip_dir: Path, sources: list[Path], painting: Path, settings: TransferSettings,
            weight: float, work: Path) -> dict:
    files, seconds = paint_clip(clip_dir, painting, settings,
                                VideoSettings(temporal_weight=weight), work)
    distances = [measure(f, s, painting) for f, s in zip(files, sources)]
    return {
        "painting": painting.stem, "temporal_weight": weight, "seconds": seconds,
        "content": [d.content for d in distances], "style": [d.style for d in distances],
        "temporal_error": temporal_error(files), "frames": [str(f) for f in files],
    }


def side_by_side(alone: list[Path], held: list[Path], out: Path, fps: float) -> None:
    """A GIF: the independent frames left, the carried ones right."""
    with tempfile.TemporaryDirectory() as temp:
        pairs = []
        for index, (a, b) in enumerate(zip(alone, held)):
            left, right = Image.open(a), Image.open(b)
            both = Image.new("RGB", (left.width * 2 + 4, left.height), "white")
            both.paste(left, (0, 0))
            both.paste(right, (left.width + 4, 0))
            pairs.append(Path(temp) / f"{index:04d}.png")
            both.save(pairs[-1])
        write_clip(pairs, out, fps)


def summary(rows: list[dict]) -> list[str]:
    lines = [("| painting | temporal weight | temporal error | vs independent | content "
             "(max ratio) | style (max ratio) | first frame s | carried frame s (median) | "
             "carried / first |"), "|---|---|---|---|---|---|---|---|---|"]
    alone = {row["painting"]: row for row in rows if row["temporal_weight"] == 0}
    for row in rows:
        base = alone[row["painting"]]
        error = statistics.mean(row["temporal_error"])
        content = max(a / b for a, b in zip(row["content"], base["content"]))
        style = max(a / b for a, b in zip(row["style"], base["style"]))
        first, rest = row["seconds"][0], statistics.median(row["seconds"][1:])
        lines.append(
            f"| {row['painting']} | {row['temporal_weight']:g} | {error:.4f} | "
            f"{error / statistics.mean(base['temporal_error']):.2f}x | "
            f"{statistics.mean(row['content']):.3f} ({content:.2f}x) | "
            f"{statistics.mean(row['style']):.4f} ({style:.2f}x) | {first:.1f} | {rest:.1f} "
            f"| {rest / first:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--paintings", default="starry_night,the_scream")
    parser.add_argument("--temporal-weights", default="3")
    parser.add_argument("--tag", default="")
    parser.add_argument("--alone-from", type=Path,
                        help="an earlier run's JSON whose independent rows to reuse")
    args = parser.parse_args()
    keep_memory_as_the_cli()
    settings = TransferSettings(size=args.size)
    weights = [0.0] + [float(w) for w in args.temporal_weights.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        clip_dir = Path(temp) / "clip"
        clip_dir.mkdir()
        sources = []
        for index, frame in enumerate(pan(args.frames, args.size)):
            sources.append(clip_dir / f"{index:04d}.png")
            frame.save(sources[-1])
        for name in args.paintings.split(","):
            painting = ROOT / "examples" / "style" / f"{name}.jpg"
            reused = _alone_from(args, name)
            rows.extend(reused)
            for weight in weights[len(reused):]:
                work = Path(temp) / f"{name}_{weight:g}"
                rows.append(run_one(clip_dir, sources, painting, settings, weight, work))
                print(summary(rows)[-1], flush=True)
            if not reused:
                gif = RESULTS / f"video{args.tag}_{name}.gif"
                side_by_side([Path(f) for f in rows[-len(weights)]["frames"]],
                             [Path(f) for f in rows[-1]["frames"]], gif, fps=12)
            report(rows, args)  # after each painting: a long run keeps what it measured


def _alone_from(args: argparse.Namespace, painting: str) -> list[dict]:
    """The independent row of ``painting`` from the run ``args.alone_from`` (none: [])."""
    if args.alone_from is None:
        return []
    earlier = json.loads(args.alone_from.read_text())
    if (earlier["size"], earlier["frames"], list(earlier["step"])) != (
            args.size, args.frames, list(STEP)):
        raise SystemExit(f"{args.alone_from}: another clip (size, frames or step differ)")
    return [{**row, "frames": []} for row in earlier["rows"]
            if row["painting"] == painting and row["temporal_weight"] == 0][:1]


def report(rows: list[dict], args: argparse.Namespace) -> None:
    machine = device_name(resolve_device("auto"))
    saved = [{k: v for k, v in row.items() if k != "frames"} for row in rows]
    (RESULTS / f"video{args.tag}.json").write_text(json.dumps(
        {"version": __version__, "machine": machine, "size": args.size,
         "frames": args.frames, "step": STEP, "rows": saved}, indent=1) + "\n")
    lines = [f"# painterly video: a {args.frames}-frame pan at {args.size} px", "",
             (f"{machine}; painterly {__version__}; defaults otherwise (--quality normal); "
             f"the pan moves {STEP[0]} px right and {STEP[1]} down a frame."), "",
             *summary(rows)]
    (RESULTS / f"video{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
