"""Quality bar: painterly's defaults against neural-style's reference outputs.

Stylizes examples/content/tubingen.jpg with starry_night.jpg and the_scream.jpg at
512 px with the default settings, and prints, next to jcjohnson/neural-style's outputs
(benchmarks/reference/, made with its defaults: 1000 L-BFGS iterations), the wall time
and two distances by painterly's own VGG (painterly.metrics): content distance (conv4_2)
and style distance (mean over conv1_1..conv5_1 of Gram relative errors). Lower is
better on both; the bar is: neither above the reference's. Beside them, the
distribution and palette distances (metrics.distribution_distances), for issue 17.

    python benchmarks/quality.py [--device cuda] [--iterations N] [--style-weight W]

Writes benchmarks/results/quality.json and quality.md, and the pictures as
benchmarks/results/quality_<painting>.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speed import floor_seconds, keep_memory_as_the_cli
from speed import machine as describe_machine  # benchmarks/speed.py, beside this script

from painterly import TransferSettings, __version__, graphs, stylize
from painterly.devices import resolve_device
from painterly.images import save_image
from painterly.metrics import distribution_distances, measure

PAINTINGS = {"starry": "starry_night.jpg", "scream": "the_scream.jpg"}
CONTENT = ROOT / "examples" / "content" / "tubingen.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quality", choices=("draft", "normal", "fine"))
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--style-weight", type=float)
    parser.add_argument("--scales", help="auto, none, or comma-separated sizes")
    parser.add_argument("--precision", choices=("auto", "fp32", "winograd", "bf16"))
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=None,
                        help="paint the first pair once, untimed, before the timed runs "
                        "(default: on a GPU, whose first run loads CUDA's kernels)")
    parser.add_argument("--without-graphs", action="store_true",
                        help="on a GPU, launch the objective op by op (no CUDA graphs)")
    args = parser.parse_args()
    if args.without_graphs:
        graphs.MAX_PIXELS = 0
    keep_memory_as_the_cli()
    if args.scales is not None:
        args.scales = (
            () if args.scales == "none" else None if args.scales == "auto"
            else tuple(int(x) for x in args.scales.split(","))
        )
    defaults = TransferSettings()
    overrides = {
        k: v
        for k, v in vars(args).items()
        if k not in ("tag", "warm_up", "without_graphs") and v is not None and v != getattr(defaults, k)
    }
    settings = replace(TransferSettings(), **overrides)
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(settings.device)
    machine = describe_machine(device)  # with the CPU's bf16 instructions, or none

    floor = floor_seconds(512, "fp32", device)  # the fp32 floor: the unit of 'evals'
    warm_up = device.type == "cuda" if args.warm_up is None else args.warm_up
    cold = None
    if warm_up:
        began = time.perf_counter()
        stylize(CONTENT, ROOT / "examples" / "style" / PAINTINGS["starry"], settings)
        cold = time.perf_counter() - began
    rows = []
    for name, painting in PAINTINGS.items():
        style = ROOT / "examples" / "style" / painting
        reference_picture = ROOT / "benchmarks" / "reference" / f"tubingen_{name}.png"
        reference = measure(reference_picture, CONTENT, style)
        reference_spread = distribution_distances(reference_picture, style)
        curve = []
        began = time.perf_counter()
        picture = stylize(
            CONTENT,
            style,
            settings,
            callback=lambda p: curve.append((p.iteration, round(p.elapsed, 2), p.content, p.style)),
        )
        seconds = time.perf_counter() - began
        out = save_image(picture, results_dir / f"quality_{name}{args.tag}.png")
        ours = measure(out, CONTENT, style)
        spread = distribution_distances(out, style)
        rows.append(
            {
                "painting": painting,
                "seconds": round(seconds, 1),
                "content": ours.content,
                "style": ours.style,
                "reference_content": reference.content,
                "reference_style": reference.style,
                "distribution": spread.distribution,
                "reference_distribution": reference_spread.distribution,
                "palette": spread.palette,
                "reference_palette": reference_spread.palette,
                "meets_bar": ours.content <= reference.content and ours.style <= reference.style,
                "curve": curve[:: max(1, len(curve) // 20)] + curve[-1:],
            }
        )

    print(f"painterly {__version__} on {machine}")
    if cold is not None:
        print(f"warm-up: the first painting, untimed below, took {cold:.1f} s")
    print(
        f"floor: one VGG19 forward + backward to conv5_1 at 512x384 takes {floor:.3f} s; "
        "'evals' below is a run's time in such units"
    )
    header = (
        "| painting | time (s) | evals | content | ref content | style | ref style | bar met "
        "| distribution | ref distribution | palette | ref palette |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['painting']} | {row['seconds']} | {row['seconds'] / floor:.0f} | "
            f"{row['content']:.3f} | "
            f"{row['reference_content']:.3f} | {row['style']:.4f} | "
            f"{row['reference_style']:.4f} | {'yes' if row['meets_bar'] else 'NO'} | "
            f"{row['distribution']:.3f} | {row['reference_distribution']:.3f} | "
            f"{row['palette']:.1f} | {row['reference_palette']:.1f} |"
        )
    print("\n".join(lines))
    report = {
        "version": __version__,
        "machine": machine,
        "floor_seconds": floor,
        "warm_up_seconds": cold,
        "settings": {k: v for k, v in asdict(settings).items()},
        "rows": rows,
    }
    (results_dir / f"quality{args.tag}.json").write_text(json.dumps(report, indent=1) + "\n")
    (results_dir / f"quality{args.tag}.md").write_text(
        f"painterly {__version__} on {machine}, settings: defaults"
        f"{' with ' + str(overrides) if overrides else ''}; floor (VGG19 forward + "
        f"backward to conv5_1, 512x384): {floor:.3f} s"
        f"{f'; after a warm-up run of {cold:.1f} s' if cold is not None else ''}\n\n"
        + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
