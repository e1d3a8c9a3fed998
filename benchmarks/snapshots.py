"""Cost of watching: a transfer with and without snapshots and animation frames.

    python benchmarks/snapshots.py [--size 256] [--iterations 40]

Runs the same transfer (one scale) plain, with a snapshot PNG every 10 iterations, and
with one every iteration plus animation frames (the worst case), alternating the
variants over two rounds; prints each variant's best time and its ratio to the plain
run, and writes benchmarks/results/snapshots.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import torch

from painterly import TransferSettings, __version__, stylize
from painterly.snapshots import Snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    settings = TransferSettings(size=args.size, iterations=args.iterations, scales=())
    content = ROOT / "examples" / "content" / "tubingen.jpg"
    style = ROOT / "examples" / "style" / "starry_night.jpg"
    stylize(content, style, TransferSettings(size=64, iterations=2))  # warm-up

    def plain(_dir: Path):
        return None

    variants = {
        "plain": plain,
        "snapshot every 10": lambda d: Snapshots(10, d / "s10"),
        "every 1 + frames": lambda d: Snapshots(1, d / "s1", keep_frames=True),
    }
    best = {name: float("inf") for name in variants}
    for _round in range(2):
        for name, make in variants.items():
            with tempfile.TemporaryDirectory() as directory:
                callback = make(Path(directory))
                began = time.perf_counter()
                stylize(content, style, settings, callback=callback)
                if isinstance(callback, Snapshots) and callback.keep_frames:
                    callback.animate(Path(directory) / "a.gif")
                best[name] = min(best[name], time.perf_counter() - began)
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads"
    lines = [
        f"painterly {__version__} on {machine}: {args.size} px, {args.iterations} iterations, "
        "best of 2 rounds",
        "",
        "| variant | seconds | ratio to plain |",
        "|---|---|---|",
    ]
    for name, seconds in best.items():
        lines.append(f"| {name} | {seconds:.2f} | {seconds / best['plain']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results" / "snapshots.md"
    out.write_text(text)


if __name__ == "__main__":
    main()
