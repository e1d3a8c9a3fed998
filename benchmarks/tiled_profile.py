"""Where a tiled evaluation's time goes: PyTorch's operator profile of one evaluation
(value and gradient) of the default objective, after warm-up evaluations in the same
process (the first ones pay the fresh pages of every block, which a run pays once), per
megapixel of the picture, untiled or on tiles the way a replayed plan runs them (deep
layers on tiles of their own, pass 2 from records). Compare a print size's table with a
1024 px one's, from the same machine.

    python benchmarks/tiled_profile.py --size 1024
    python benchmarks/tiled_profile.py --size 4096 --tile 1056 [--warm 3] [--tag TAG]

Writes results/tiled_profile_{size}[_{tile}]{TAG}.md. Freed memory is kept, as the
command line keeps it. Time not in any operator is Python's and numba's loops (the
replay's bits).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, help="tiles of this side, replayed (default: whole)")
    parser.add_argument("--warm", type=int, default=3, help="evaluations before the profiled one")
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    import speed
    import torch
    from tiled_cost import default_objective
    from torch.profiler import ProfilerActivity, profile

    from painterly.allocator import keep_freed_memory
    from painterly.tiles import Split
    from painterly.tiling import TiledObjective

    keep_freed_memory()
    speed.ALLOCATOR = "the CLI's"
    objective, photo = default_objective(args.size, args.tile)
    evaluate = (objective if args.tile is None
                else TiledObjective(objective, args.tile, Split.TILED, replay=True))
    megapixels = photo.shape[-1] * photo.shape[-2] / 1e6
    pixels = photo.clone().requires_grad_(True)

    def once() -> tuple[float, float]:
        """Seconds a megapixel, and GB of fresh pages touched, of one evaluation."""
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        began = time.perf_counter()
        evaluate(pixels).total.backward()
        pixels.grad = None
        touched = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) * 4096 / 1e9
        return (time.perf_counter() - began) / megapixels, touched

    warm = [once() for _ in range(args.warm)]
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        seconds, touched = once()
    events = sorted(profiled.key_averages(), key=lambda event: -event.self_cpu_time_total)
    in_ops = sum(event.self_cpu_time_total for event in events) / 1e6 / megapixels
    how = "whole" if args.tile is None else f"on tiles of {args.tile} px, replayed"
    lines = [f"# One evaluation at {args.size} px, {how}: {seconds:.3f} s a megapixel", "",
             (f"painterly on {speed.machine(torch.device('cpu'))}; the default objective, "
              "Tübingen and Starry Night."),
             "Warm-up evaluations (s a megapixel, GB of fresh pages): "
             + ", ".join(f"{s:.3f} ({t:.2f})" for s, t in warm)
             + f"; the profiled one touched {touched:.2f} GB of fresh pages.", "",
             "| operator | s a megapixel | calls |", "|---|---|---|"]
    lines += [f"| {event.key} | {event.self_cpu_time_total / 1e6 / megapixels:.3f} | "
              f"{event.count} |" for event in events[: args.rows]]
    lines.append(f"| (in no operator: Python, numba's loops) | {seconds - in_ops:.3f} | |")
    name = f"tiled_profile_{args.size}{'_' + str(args.tile) if args.tile else ''}{args.tag}.md"
    (ROOT / "benchmarks" / "results" / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
