"""What tiles cost: one evaluation (value and gradient) of the default objective at a
print size, untiled and on tiles, with freed memory kept by the process or large blocks
given back to the kernel as a tiled run does (painterly.allocator). Each row runs in a
process of its own (the allocator's setting is the whole process's), alternated.

    python benchmarks/tiled_cost.py [--size 2048] [--tile 1312] [--rounds 2] [--tag TAG]
    python benchmarks/tiled_cost.py --run 7 [--size 2048] [--tile 656] [--tag TAG]

Writes results/tiled_cost{TAG}.md. With ``--run N``: one stage of N iterations on tiles,
painted by ``stylize`` from the photo, under each allocator policy in turn (large blocks
given back; freed memory kept; kept and trimmed after each iteration), its time and the
process's peak RSS: results/tiled_run{TAG}.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads (and for its runs)

if TYPE_CHECKING:
    import torch

    from painterly.objective import Objective

MODES = ("untiled, memory kept", "tiled, memory kept", "tiled, large blocks given back",
         "tiled and split, large blocks given back",
         "tiled and split with deep tiles, large blocks given back")
RUN_MODES = ("large blocks given back", "memory kept", "memory kept, trimmed each iteration")


def default_objective(size: int, tile: int | None) -> tuple[Objective, torch.Tensor]:
    """The default objective on the CPU, as a run on this CPU sets it up (bf16 or not),
    for Tübingen at ``size`` px and Starry Night, its targets on tiles of ``tile`` px
    (None: whole); and the photo, (1, 3, H, W)."""
    import torch

    from painterly.arithmetic import resolved
    from painterly.devices import resolve_precision, uses_winograd
    from painterly.images import fit_long_side, load_image, to_tensor
    from painterly.objective import build_objective
    from painterly.settings import TransferSettings
    from painterly.vgg import load_extractor

    settings, cpu = TransferSettings(), torch.device("cpu")
    precision = resolved(settings.precision, cpu)
    dtype = resolve_precision(precision, cpu)
    photo = to_tensor(fit_long_side(load_image(ROOT / "examples/content/tubingen.jpg"), size))
    painting = to_tensor(load_image(ROOT / "examples/style/starry_night.jpg"))
    extractor = load_extractor(None, settings.pooling, cpu, uses_winograd(precision, cpu))
    return build_objective(extractor, photo, [painting], (1.0,), settings, dtype=dtype,
                           tile=tile), photo


def evaluate(size: int, tile: int, mode: str, repeats: int) -> list[str]:
    """Seconds of ``repeats`` evaluations in this process, set up as ``mode`` says; a
    tiled one's as 'total:statistics pass:back-propagating pass'."""
    from painterly.allocator import keep_freed_memory, return_large_blocks
    from painterly.tiles import Split
    from painterly.tiling import TiledObjective

    keep_freed_memory()
    if "given back" in mode:
        return_large_blocks()
    objective, photo = default_objective(size, tile)
    passes: dict[str, float] = {}

    class Timed(TiledObjective):
        """Times each pass over the tiles."""

        def _statistics(self, *args):
            began = time.perf_counter()
            result = super()._statistics(*args)
            passes["statistics"] = time.perf_counter() - began
            return result

        def _parts(self, *args):
            began = time.perf_counter()
            result = super()._parts(*args)
            passes["parts"] = time.perf_counter() - began
            return result

    split = (Split.TILED if "deep tiles" in mode else Split.WHOLE if "split" in mode
             else Split.NONE)
    evaluate_once = objective if mode.startswith("untiled") else Timed(objective, tile, split)
    seconds = []
    for _ in range(repeats):
        pixels = photo.clone().requires_grad_(True)
        began = time.perf_counter()
        evaluate_once(pixels).total.backward()
        total = time.perf_counter() - began
        seconds.append(":".join(f"{value:.2f}" for value in (total, *passes.values())))
    return seconds


def run(size: int, tile: int, iterations: int, mode: str) -> tuple[float, float]:
    """Seconds and peak RSS (GB) of one tiled stage of ``iterations`` in this process."""
    import resource

    from painterly import TransferSettings, stylize
    from painterly.allocator import keep_freed_memory, release_freed_memory, return_large_blocks

    keep_freed_memory()
    if mode == RUN_MODES[0]:
        return_large_blocks()
    trim = mode == RUN_MODES[2]
    settings = TransferSettings(size=size, scales=(), iterations=iterations, tile=tile)
    began = time.perf_counter()
    stylize(ROOT / "examples/content/tubingen.jpg", ROOT / "examples/style/starry_night.jpg",
            settings, callback=lambda _progress: trim and release_freed_memory())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return time.perf_counter() - began, peak


def main_run(args: argparse.Namespace) -> None:
    """--run: each allocator policy's whole stage, in processes of their own."""
    import torch
    from speed import machine

    title = (f"painterly on {machine(torch.device('cpu'))}; one stage of {args.run} "
             f"iterations at {args.size} px from the photo, on tiles of {args.tile} px, "
             "painted by stylize, each in a process of its own")
    lines = [title, "",
             "| allocator | seconds | peak RSS (GB) |", "|---|---|---|"]
    for mode in RUN_MODES:
        out = subprocess.run([sys.executable, __file__, "--run", str(args.run), "--mode", mode,
                              "--size", str(args.size), "--tile", str(args.tile)],
                             capture_output=True, text=True, check=True)
        seconds, peak = (float(value) for value in out.stdout.split())
        lines.append(f"| {mode} | {seconds:.1f} | {peak:.2f} |")
        print(lines[-1], flush=True)
    (ROOT / "benchmarks" / "results" / f"tiled_run{args.tag}.md").write_text(
        "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=1312)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tag", default="")
    parser.add_argument("--run", type=int, metavar="N",
                        help="time and peak memory of a whole tiled stage of N iterations")
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # one row, in a child process
    args = parser.parse_args()
    if args.run and args.mode:
        seconds, peak = run(args.size, args.tile, args.run, args.mode)
        print(f"{seconds:.2f} {peak:.3f}")
        return
    if args.run:
        main_run(args)
        return
    if args.mode:
        print(" ".join(evaluate(args.size, args.tile, args.mode, args.repeats)))
        return
    import torch
    from speed import machine  # benchmarks/speed.py, beside this script

    from painterly.layers import deepest_layer
    from painterly.settings import TransferSettings
    from painterly.tiles import seen_pixels

    times: dict[str, list[list[float]]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--size",
                                  str(args.size), "--tile", str(args.tile), "--repeats",
                                  str(args.repeats)], capture_output=True, text=True, check=True)
            times[mode] += [[float(v) for v in s.split(":")] for s in out.stdout.split()]
    height, width = args.size * 3 // 4, args.size  # the photo's 4:3
    deepest = deepest_layer(TransferSettings().layers_needed())
    seen = seen_pixels(height, width, args.tile, deepest) / (height * width)
    title = (f"painterly on {machine(torch.device('cpu'))}; the default objective at "
             f"{args.size} px, tiles of {args.tile} px (the network sees {seen:.2f}x the "
             f"pixels), one evaluation (value and gradient); {args.rounds} rounds of "
             f"processes alternated, {args.repeats} evaluations each")
    header = ("| mode | seconds (each evaluation) | fastest | its statistics pass + "
              "back-propagating pass |")
    lines = [title, "", header, "|---|---|---|---|"]
    for mode, rows in times.items():
        fastest = min(rows)
        split = " + ".join(f"{v:.1f}" for v in fastest[1:]) or "-"
        lines.append(f"| {mode} | {', '.join(f'{r[0]:.1f}' for r in rows)} | "
                     f"{fastest[0]:.1f} | {split} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "results" / f"tiled_cost{args.tag}.md").write_text(text)


if __name__ == "__main__":
    main()
