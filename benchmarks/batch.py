"""Many pictures: what a batch saves over single runs, and what a cluster adds.

    .venv/bin/python benchmarks/batch.py [--size 256] [--quality normal] [--name epyc_avx2]
        [--overhead-only]

Eight jobs (four photos x two paintings, default settings at --size), each way, timed
as a user runs it (the whole command, process start included), one after another on
an otherwise idle machine:

1. the sum of eight single ``painterly transfer`` runs;
2. ``painterly batch`` on this machine, one job at a time with all the cores;
3. ``painterly batch --cluster ray`` on a Ray cluster already running here: one node of
   2 CPUs, 2 CPUs a job (the same work as 2);
4. scale: 1 node of 1 CPU against 2 nodes of 1 CPU each (the report names the nodes).

The floor is the compute no batch can avoid: each job's iterations times a bare VGG19
forward + backward of a picture of its stage's size (benchmarks/speed.py), measured in
the same run. Results: benchmarks/results/batch_NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import RESULTS, ROOT, floor_seconds, machine  # noqa: E402

from painterly.settings import TransferSettings  # noqa: E402

BIN = Path(sys.executable).parent
PHOTOS = [ROOT / "examples" / "content" / name
          for name in ("tubingen.jpg", "golden_gate.jpg", "hoovertowernight.jpg")]
PAINTINGS = [ROOT / "examples" / "style" / name for name in ("starry_night.jpg", "the_scream.jpg")]


def _photos(work: Path) -> list[Path]:
    """Four photos: the three bundled ones and Tübingen mirrored (a different picture)."""
    from PIL import ImageOps

    from painterly.images import load_image

    mirrored = work / "tubingen_mirrored.png"
    ImageOps.mirror(load_image(PHOTOS[0])).save(mirrored)
    return [*PHOTOS, mirrored]


def _timed(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run([str(BIN / "painterly"), *map(str, argv)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


class Cluster:
    """A Ray cluster on loopback: a head and ``len(cpus) - 1`` workers."""

    def __init__(self, cpus: list[int], temp: Path) -> None:
        self.address = "127.0.0.1:6399"
        ray = str(BIN / "ray")
        common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
        subprocess.run([ray, "start", "--head", "--port", "6399", "--num-cpus", str(cpus[0]),
                        "--temp-dir", str(temp), "--include-dashboard", "false", *common],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for count in cpus[1:]:
            subprocess.run([ray, "start", "--address", self.address, "--num-cpus", str(count),
                            *common], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        time.sleep(3)  # the nodes register

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], check=False,
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def _batch(work: Path, label: str, photos: list[Path], extra: list[str]) -> dict:
    out = work / label
    seconds = _timed(["batch", "--content", *photos, "--style", *PAINTINGS, "-o", out,
                      "--size", ARGS.size, "--quality", ARGS.quality, "-q", *extra])
    with open(out / "report.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert all(row["status"] == "painted" for row in rows), rows
    nodes = sorted({row["worker"].split(":")[0] for row in rows})
    job_seconds = sorted(float(row["seconds"]) for row in rows)
    return {"label": label, "seconds": round(seconds, 1), "workers": nodes,
            "median_job_seconds": job_seconds[len(job_seconds) // 2],
            "jobs_per_worker": {n: sum(r["worker"].startswith(n) for r in rows) for n in nodes}}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="batchbench"))
    photos = _photos(work)
    settings = TransferSettings(size=ARGS.size, quality=ARGS.quality)
    cpu = torch.device("cpu")
    floor = 8 * sum(stage.iterations * floor_seconds(stage.size, "fp32", cpu)
                    for stage in settings.stages())
    singles = sum(_timed(["transfer", photo, painting, "-o", work / f"single_{i}_{j}.png",
                          "--size", ARGS.size, "--quality", ARGS.quality, "-q"])
                  for i, photo in enumerate(photos) for j, painting in enumerate(PAINTINGS))
    rows = [{"label": "8 single transfer runs", "seconds": round(singles, 1)}]
    rows.append(_batch(work, "batch, local, 1 job at a time", photos, []))
    if not ARGS.overhead_only:
        _on_ray(work, photos, rows)
    _write(rows, floor, singles)
    shutil.rmtree(work, ignore_errors=True)


def _on_ray(work: Path, photos: list[Path], rows: list[dict]) -> None:
    with Cluster([2], work / "ray1"):
        rows.append(_batch(work, "batch, Ray, 1 node of 2 CPUs, 2 a job", photos,
                           ["--cluster", "ray", "--address", "127.0.0.1:6399",
                            "--cpus-per-job", "2"]))
    for nodes in (1, 2):
        with Cluster([1] * nodes, work / f"rayscale{nodes}"):
            rows.append(_batch(work, f"scale: Ray, {nodes} node(s) of 1 CPU", photos,
                               ["--cluster", "ray", "--address", "127.0.0.1:6399",
                                "--cpus-per-job", "1"]))


def _write(rows: list[dict], floor: float, singles: float) -> None:
    lines = [
        f"# Batch overhead and scale, 8 jobs at {ARGS.size} px (--quality {ARGS.quality})",
        "",
        (f"Machine: {machine(torch.device('cpu'))}. The floor: 8 jobs x each stage's "
         f"iterations x a bare VGG19 forward + backward at that size = {floor:.1f} s."),
        "",
        "| how | seconds | / floor | singles / this | workers (jobs each) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        workers = ", ".join(f"{w} ({n})" for w, n in row.get("jobs_per_worker", {}).items())
        lines.append(f"| {row['label']} | {row['seconds']:.1f} | {row['seconds'] / floor:.2f} "
                     f"| {singles / row['seconds']:.2f} | {workers} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"batch_{ARGS.name}.md").write_text(text)
    (RESULTS / f"batch_{ARGS.name}.json").write_text(
        json.dumps({"machine": machine(torch.device("cpu")), "size": ARGS.size,
                    "floor_seconds": round(floor, 2), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--name", default="local")
    parser.add_argument("--quality", default="normal", choices=("draft", "normal", "fine"))
    parser.add_argument("--overhead-only", action="store_true",
                        help="only the single runs and the local batch")
    ARGS = parser.parse_args()
    main()
