"""Print-size pictures: one tiled run, its time per stage and iteration, peak memory, and
the seam statistic of each tiled stage's picture.

    python benchmarks/print_size.py --size 4096 --max-memory 8 [--quality draft] [--tile N]
    python benchmarks/print_size.py --seams PICTURE.png TILE

Paints examples/content/tubingen.jpg (1024x768, upscaled) in the style of starry_night.jpg
as the command line does (its allocator settings included), and writes
benchmarks/results/print_<size>_<tag>.{md,json,png}. The seam statistic of a picture
painted on tiles: the mean absolute difference between neighbouring pixels across each
border between the tiles' cores, over the same for the lines 16-64 px to either side on
the same phase of the network's 16 px grid (the paintings have a 2 px rhythm of their
own); averaged over the borders, 1.0 means they are as smooth as the picture around
them. The same ratio at every other line of the grid shows the spread the content gives.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import speed
import torch
from PIL import Image
from speed import machine  # benchmarks/speed.py, beside this script

from painterly import TransferSettings, stylize
from painterly.allocator import allocate_for, keep_freed_memory
from painterly.devices import resolve_device
from painterly.events import Plan, Progress
from painterly.images import fit_long_side, save_image
from painterly.metrics import measure
from painterly.tiles import tile_grid

CONTENT = ROOT / "examples" / "content" / "tubingen.jpg"
STYLE = ROOT / "examples" / "style" / "starry_night.jpg"
RESULTS = ROOT / "benchmarks" / "results"


def _steps(picture: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Mean |difference| between neighbouring columns (x-1 to x, at index x-1) and rows."""
    pixels = np.asarray(picture, dtype=np.float64)
    return (np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2)),
            np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2)))


def _local_ratios(step: np.ndarray, lines: list[int]) -> list[float]:
    """Each line's step over the mean step of the lines 16, 32, 48 and 64 px to either
    side: the same phase of the pools' 16 px grid (the picture has a 2 px rhythm of its
    own), and nearby, so that the content is alike."""
    ratios = []
    for line in lines:
        near = [line + k for k in (-64, -48, -32, -16, 16, 32, 48, 64) if 0 <= line + k < len(step)]
        ratios.append(float(step[line] / step[near].mean()))
    return ratios


def seam_ratio(picture: Image.Image, tile: int) -> dict[str, float]:
    """The seam statistic: the mean, over the borders between the tiles' cores, of each
    border line's neighbour difference relative to nearby lines of the same phase; and
    the same ratio at every other line on the 16 px grid, whose spread shows what the
    picture's own content gives (a seam would stand out of it)."""
    step_x, step_y = _steps(picture)
    height, width = len(step_y) + 1, len(step_x) + 1
    cores = [t.core for t in tile_grid(height, width, tile, "conv5_1")]
    borders = [sorted({c[2] - 1 for c in cores if c[2] > 0}), sorted({c[0] - 1 for c in cores if c[0] > 0})]
    at_borders, elsewhere = [], []
    for step, lines in zip((step_x, step_y), borders):
        at_borders += _local_ratios(step, lines)
        grid = [x for x in range(15, len(step), 16) if x not in lines]
        elsewhere += _local_ratios(step, grid)
    return {"borders": round(float(np.mean(at_borders)), 4),
            "elsewhere_mean": round(float(np.mean(elsewhere)), 4),
            "elsewhere_p5_p95": [round(float(v), 4) for v in np.percentile(elsewhere, [5, 95])]}


def stage_peak() -> float | None:
    """The process's peak RSS (GB) since the last call, which resets it (Linux's
    VmHWM and clear_refs); None where /proc does not offer them."""
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except (OSError, StopIteration):
        return None
    return round(peak / 1024**2, 2)


def distances_at(picture: Image.Image, size: int = 1024) -> dict[str, float]:
    """The quality benchmark's distances of ``picture`` shrunk to ``size`` px, with the
    photo and the painting at that size: a print compared with a smaller painting."""
    shrunk = fit_long_side(picture, size) if max(picture.size) > size else picture
    distances = measure(shrunk, CONTENT, STYLE, style_size=size)
    return {"content": round(distances.content, 4), "style": round(distances.style, 5)}


def _seams(seam: dict | None) -> str:
    if seam is None:
        return "-"
    low, high = seam["elsewhere_p5_p95"]
    return f"{seam['borders']:.3f} ({low:.2f}-{high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--max-memory", type=float)
    parser.add_argument("--tile", type=int)
    parser.add_argument("--quality", default="normal")
    parser.add_argument("--precision", default="auto",
                        help="winograd on a CPU with bf16: what one without bf16 runs")
    parser.add_argument("--iterations", type=int,
                        help="this many iterations at every stage (a memory check)")
    parser.add_argument("--scales", type=lambda text: tuple(int(n) for n in text.split(",")),
                        metavar="N,N", help="the stages before --size (default: halving)")
    parser.add_argument("--tag", default="")
    parser.add_argument("--keep", type=lambda text: {int(n) for n in text.split(",")},
                        default=set(), metavar="N,N",
                        help="also save the final stage's picture after these iterations "
                             "(the time it takes is left out of the stages' times)")
    parser.add_argument("--seams", nargs=2, metavar=("PNG", "TILE"),
                        help="only print the seam statistic of a picture painted on tiles")
    args = parser.parse_args()
    if args.seams:
        with Image.open(args.seams[0]) as picture:
            print(json.dumps(seam_ratio(picture.convert("RGB"), int(args.seams[1]))))
        return
    keep_freed_memory()  # as the command line does, until the plan says tiles
    speed.ALLOCATOR = "the CLI's"
    settings = TransferSettings(size=args.size, max_memory=args.max_memory, tile=args.tile,
                                quality=args.quality, iterations=args.iterations,
                                precision=args.precision, scales=args.scales)
    plans: list[Plan] = []
    marks: list[tuple[int, int, float]] = []  # (stage size, iteration, seconds)
    stage_pictures: dict[int, Image.Image] = {}
    peaks: dict[int, float | None] = {}  # each stage's peak RSS, GB
    saving = [0.0]  # seconds spent saving the --keep pictures, left out of the times

    def on_plan(plan: Plan) -> None:
        plans.append(plan)
        allocate_for(plan)
        print(plan, file=sys.stderr)

    def follow(progress: Progress) -> None:
        marks.append((progress.size, progress.iteration, time.perf_counter() - saving[0]))
        stage = next(s for s in plans[0].stages if max(s.width, s.height) == progress.size)
        done_here = sum(1 for size, _i, _t in marks if size == progress.size)
        if done_here == stage.iterations:
            peaks[progress.size] = stage_peak()
        if progress.size == args.size and done_here in args.keep:
            started = time.perf_counter()
            save_image(progress.picture(),
                       RESULTS / f"print_{args.size}_{args.tag}_final_{done_here}.png")
            saving[0] += time.perf_counter() - started
        if stage.tile is not None and done_here == stage.iterations:
            stage_pictures[progress.size] = progress.picture()
            save_image(stage_pictures[progress.size],
                       RESULTS / f"print_{args.size}_{args.tag}_stage_{progress.size}.png")
        print(f"{progress.size} px it {progress.iteration}/{progress.iterations} "
              f"{progress.elapsed:.0f} s content {progress.content:.3f} style "
              f"{progress.style:.4f}", file=sys.stderr, flush=True)

    began = time.perf_counter()
    picture = stylize(CONTENT, STYLE, settings, callback=follow, on_plan=on_plan)
    total = time.perf_counter() - began - saving[0]
    # stage_peak() resets the kernel's peak, ru_maxrss too: the run's is its stages' largest.
    measured = [peak for peak in peaks.values() if peak is not None]
    peak = (max(measured) * 1024**3 if measured
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
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
                     "replay": stage.replay,
                     "iterations": stage.iterations, "seconds": round(seconds, 1),
                     "per_iteration": round(per, 2), "megapixels": stage.width * stage.height / 1e6,
                     "peak_rss_gb": peaks.get(size), "seam_ratio": seam})
    name = f"print_{args.size}{'_' + args.tag if args.tag else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    save_image(picture, RESULTS / f"{name}.png")
    device = resolve_device("auto")
    gpu_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    result = {"machine": machine(device), "settings": repr(settings),
              "seconds": round(total, 1), "peak_rss_gb": round(peak / 1024**3, 2),
              "peak_gpu_gb": None if gpu_peak is None else round(gpu_peak / 1024**3, 2),
              "estimate_gb": round(plan.memory / 1024**3, 2),
              "estimate_seconds": None if plan.seconds is None else round(plan.seconds),
              "split": plan.stages[-1].split.value, "keeps_memory": plan.keeps_memory,
              "replay": plan.stages[-1].replay,
              "stages": rows,
              "distances_at_1024": distances_at(picture)}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    gpu = "" if gpu_peak is None else f", peak GPU memory {result['peak_gpu_gb']} GB"
    said = "" if plan.seconds is None else f"; the plan said {result['estimate_seconds']} s"
    lines = [(f"# {args.size} px, quality {args.quality}: {result['seconds']} s, peak RSS "
             f"{result['peak_rss_gb']} GB{gpu} (estimate {result['estimate_gb']} GB{said})"), "",
             f"{result['machine']}", "",
             (f"The plan: deep layers {result['split']}, freed memory "
              f"{'kept' if plan.keeps_memory else 'given back in large blocks'}, the "
              f"tiles' second pass {'replayed' if result['replay'] else 'run again'}."), "",
             (f"Shrunk to 1024 px: content {result['distances_at_1024']['content']}, style "
             f"{result['distances_at_1024']['style']} (the painting at 1024 px)."), "",
             "| stage | tile | iterations | seconds | s / iteration | s / iteration / Mpx | peak RSS (GB) | seams: borders (other grid lines, 5-95%) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        tile = f"{row['tile']}{' replayed' if row['replay'] else ''}" if row["tile"] else "-"
        lines.append(f"| {row['size']} | {tile} | {row['iterations']} | "
                     f"{row['seconds']} | {row['per_iteration']} | "
                     f"{row['per_iteration'] / row['megapixels']:.2f} | "
                     f"{row['peak_rss_gb'] or '-'} | {_seams(row['seam_ratio'])} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
