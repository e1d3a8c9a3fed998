"""Schedules: a coarse-to-fine run with chosen stages, and the distances its picture has
after chosen numbers of the final stage's iterations, from one run per pair.

L-BFGS's iterates do not depend on how many iterations a stage will get, so the picture
after k of a stage's n iterations is the picture a schedule with k would end with: one
run gives the whole curve of a final stage (the time to save each picture is left out).

    python benchmarks/schedule.py 128:50,256:30,512:40 --keep 15,20,25,30 --tag NAME

Writes results/schedule_NAME.jsonl: one line per picture (pair, final-stage iterations,
seconds, the quality benchmark's distances) and one per pair with each stage's seconds;
the pictures go to --pictures (not committed: a run makes a dozen).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

from quality import CONTENT, PAINTINGS
from speed import keep_memory_as_the_cli, machine

import painterly.settings
from painterly import Progress, TransferSettings, stylize
from painterly.devices import resolve_device
from painterly.metrics import distribution_distances, measure
from painterly.schedule import Stage

RESULTS = ROOT / "benchmarks" / "results"


def stages_of(text: str) -> tuple[Stage, ...]:
    """'128:50,256:30,512:40' -> the stages (size, iterations), coarse to fine."""
    pairs = (part.split(":") for part in text.split(","))
    return tuple(Stage(int(size), int(count)) for size, count in pairs)


def paint_pair(name: str, stages: tuple[Stage, ...], keep: set[int], settings: TransferSettings,
               pictures: Path) -> list[dict]:
    """One run of the pair ``name``; its rows: each kept picture's distances, and then the
    stages' seconds."""
    style = ROOT / "examples" / "style" / PAINTINGS[name]
    before = sum(stage.iterations for stage in stages[:-1])
    marks: dict[int, list[float]] = {}  # stage size -> [first, last] progress time
    kept: dict[int, tuple[Path, float]] = {}
    saving = [0.0]

    def follow(progress: Progress) -> None:
        began = time.perf_counter()
        marks.setdefault(progress.size, [progress.elapsed, progress.elapsed])[1] = progress.elapsed
        count = progress.iteration - before
        if count in keep and progress.size == stages[-1].size:
            path = pictures / f"{name}_{count}.png"
            progress.picture().save(path)
            kept[count] = (path, progress.elapsed - saving[0])
        saving[0] += time.perf_counter() - began

    began = time.perf_counter()
    picture = stylize(CONTENT, style, settings, callback=follow)
    seconds = time.perf_counter() - began - saving[0]
    path = pictures / f"{name}_{stages[-1].iterations}.png"
    picture.save(path)
    kept[stages[-1].iterations] = (path, seconds)
    rows = []
    for count, (path, at) in sorted(kept.items()):
        distances, spread = measure(path, CONTENT, style), distribution_distances(path, style)
        rows.append({"pair": name, "final_iterations": count, "seconds": round(at, 1),
                     "content": round(distances.content, 3), "gram": round(distances.style, 4),
                     "distribution": round(spread.distribution, 3),
                     "palette": round(spread.palette, 1)})
    rows.append({"pair": name, "stage_seconds": {size: round(last - first, 1)
                                                 for size, (first, last) in marks.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("schedule", type=stages_of, help="size:iterations,... coarse to fine")
    parser.add_argument("--keep", type=lambda text: {int(n) for n in text.split(",")},
                        default=set(), metavar="N,N",
                        help="also measure the picture after these final-stage iterations")
    parser.add_argument("--pairs", default=",".join(PAINTINGS), help="comma-separated: starry,scream (default both)")
    parser.add_argument("--tag", required=True, help="names the result file")
    parser.add_argument("--pictures", type=Path, default=Path("/tmp/painterly_schedule"),
                        help="where the pictures go (a folder per tag)")
    args = parser.parse_args()
    keep_memory_as_the_cli()
    stages = args.schedule
    # The schedule replaces the --quality presets' (settings.stages() reads plan()).
    painterly.settings.plan = lambda sizes, quality, iterations=None: stages
    settings = replace(TransferSettings(), size=stages[-1].size,
                       scales=tuple(stage.size for stage in stages[:-1]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    pictures = args.pictures / args.tag
    pictures.mkdir(parents=True, exist_ok=True)
    lines = [{"machine": machine(resolve_device("auto")), "schedule": [
        (stage.size, stage.iterations) for stage in stages]}]
    for name in args.pairs.split(","):
        lines += paint_pair(name, stages, args.keep, settings, pictures)
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    (RESULTS / f"schedule_{args.tag}.jsonl").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
