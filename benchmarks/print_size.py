"""Print-size pictures: one tiled run, its time per stage and iteration, peak memory, and
the seam statistic of each tiled stage's picture.

    python benchmarks/print_size.py --size 4096 --max-memory 8 [--quality draft] [--tile N]

Paints examples/content/tubingen.jpg (1024x768, upscaled) in the style of starry_night.jpg
as the command line does (its allocator settings included), and writes
benchmarks/results/print_<size>_<tag>.{md,json,png}. The seam statistic of a picture
painted on tiles of side T: the mean absolute difference between neighbouring pixels
across the tiles' borders (the columns and rows at multiples of T), over the same mean
everywhere else; 1.0 means the borders are as smooth as the rest of the picture.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import speed
from speed import machine  # benchmarks/speed.py, beside this script

from painterly import TransferSettings, stylize
from painterly.allocator import keep_freed_memory, return_large_blocks
from painterly.devices import resolve_device
from painterly.events import Plan, Progress
from painterly.images import fit_long_side, save_image
from painterly.metrics import measure

CONTENT = ROOT / "examples" / "content" / "tubingen.jpg"
STYLE = ROOT / "examples" / "style" / "starry_night.jpg"
RESULTS = ROOT / "benchmarks" / "results"


def seam_ratio(picture: Image.Image, tile: int) -> float:
    """Mean |neighbour difference| across tile borders over the mean elsewhere."""
    pixels = np.asarray(picture, dtype=np.float64)
    steps = (np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2)),  # column x-1 to x
             np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2)))  # row y-1 to y
    borders, rest = [], []
    for step in steps:
        border = np.zeros(step.shape, dtype=bool)
        border[tile - 1::tile] = True  # the step from pixel k*tile - 1 to k*tile
        borders.append(step[border])
        rest.append(step[~border])
    return float(np.concatenate(borders).mean() / np.concatenate(rest).mean())


def distances_at(picture: Image.Image, size: int = 1024) -> dict[str, float]:
    """The quality benchmark's distances of ``picture`` shrunk to ``size`` px, with the
    photo and the painting at that size: a print compared with a smaller painting."""
    shrunk = fit_long_side(picture, size) if max(picture.size) > size else picture
    distances = measure(shrunk, CONTENT, STYLE, style_size=size)
    return {"content": round(distances.content, 4), "style": round(distances.style, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--max-memory", type=float)
    parser.add_argument("--tile", type=int)
    parser.add_argument("--quality", default="normal")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    keep_freed_memory()  # as the command line does, until the plan says tiles
    speed.ALLOCATOR = "the CLI's"
    settings = TransferSettings(size=args.size, max_memory=args.max_memory, tile=args.tile,
                                quality=args.quality)
    plans: list[Plan] = []
    marks: list[tuple[int, int, float]] = []  # (stage size, iteration, seconds)
    stage_pictures: dict[int, Image.Image] = {}

    def on_plan(plan: Plan) -> None:
        plans.append(plan)
        if any(stage.tile is not None for stage in plan.stages):
            return_large_blocks()
        print(plan, file=sys.stderr)

    def follow(progress: Progress) -> None:
        marks.append((progress.size, progress.iteration, time.perf_counter()))
        stage = next(s for s in plans[0].stages if max(s.width, s.height) == progress.size)
        done_here = sum(1 for size, _i, _t in marks if size == progress.size)
        if stage.tile is not None and done_here == stage.iterations:
            stage_pictures[progress.size] = progress.picture()
        print(f"{progress.size} px it {progress.iteration}/{progress.iterations} "
              f"{progress.elapsed:.0f} s content {progress.content:.3f} style "
              f"{progress.style:.4f}", file=sys.stderr, flush=True)

    began = time.perf_counter()
    picture = stylize(CONTENT, STYLE, settings, callback=follow, on_plan=on_plan)
    total = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    plan = plans[0]
    rows = []
    previous = began
    for stage in plan.stages:
        size = max(stage.width, stage.height)
        times = [t for s, _i, t in marks if s == size]
        seconds = times[-1] - previous
        previous = times[-1]
        # The first iteration of a stage also builds its targets: per-iteration time is
        # taken over the others.
        per = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else seconds
        seam = seam_ratio(stage_pictures[size], stage.tile) if size in stage_pictures else None
        rows.append({"size": f"{stage.width}x{stage.height}", "tile": stage.tile,
                     "iterations": stage.iterations, "seconds": round(seconds, 1),
                     "per_iteration": round(per, 2), "megapixels": stage.width * stage.height / 1e6,
                     "seam_ratio": None if seam is None else round(seam, 4)})
    name = f"print_{args.size}{'_' + args.tag if args.tag else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    save_image(picture, RESULTS / f"{name}.png")
    result = {"machine": machine(resolve_device("auto")), "settings": repr(settings),
              "seconds": round(total, 1), "peak_rss_gb": round(peak / 1024**3, 2),
              "estimate_gb": round(plan.memory / 1024**3, 2), "stages": rows,
              "distances_at_1024": distances_at(picture)}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [(f"# {args.size} px, quality {args.quality}: {result['seconds']} s, peak RSS "
             f"{result['peak_rss_gb']} GB (estimate {result['estimate_gb']} GB)"), "",
             f"{result['machine']}", "",
             (f"Shrunk to 1024 px: content {result['distances_at_1024']['content']}, style "
             f"{result['distances_at_1024']['style']} (the painting at 1024 px)."), "",
             "| stage | tile | iterations | seconds | s / iteration | s / iteration / Mpx | seam ratio |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['size']} | {row['tile'] or '-'} | {row['iterations']} | "
                     f"{row['seconds']} | {row['per_iteration']} | "
                     f"{row['per_iteration'] / row['megapixels']:.2f} | "
                     f"{row['seam_ratio'] if row['seam_ratio'] is not None else '-'} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
