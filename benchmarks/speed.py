"""Speed against the floor of the hardware, peak memory, and the race against pastiche.

    python benchmarks/speed.py step      # per-iteration time vs a bare VGG19 fwd+bwd
    python benchmarks/speed.py memory    # peak RSS of 1024 px and 2048 px transfers
    python benchmarks/speed.py pastiche  # painterly's defaults vs pastiche's 300 steps
    python benchmarks/speed.py profile   # where an iteration's time goes, op by op

Each prints a table and writes benchmarks/results/speed_<what>.md. Ratios are taken
within one run; the machine is named in each file. Like the command line, they let the
process keep the memory it frees (painterly.allocator.keep_freed_memory);
``--allocator default`` measures glibc's defaults instead.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import torch
from PIL import Image

from painterly import Progress, TransferSettings, __version__, graphs, matching, stylize  # noqa: E402
from painterly.allocator import keep_freed_memory  # noqa: E402
from painterly.arithmetic import resolved  # noqa: E402
from painterly.devices import (
    cpu_has_native_bf16,
    resolve_device,
    resolve_precision,
    uses_winograd,
)  # noqa: E402
from painterly.images import fit_long_side, load_image, save_image, to_tensor  # noqa: E402
from painterly.metrics import measure  # noqa: E402
from painterly.objective import extract  # noqa: E402
from painterly.vgg import load_extractor  # noqa: E402

CONTENT = ROOT / "examples" / "content" / "tubingen.jpg"
STYLE = ROOT / "examples" / "style" / "starry_night.jpg"
RESULTS = ROOT / "benchmarks" / "results"


ALLOCATOR = "glibc defaults"  # or, once main() has set it up, the CLI's


def keep_memory_as_the_cli() -> None:
    """Keep freed memory for reuse, as the command line does, and say so in machine()."""
    global ALLOCATOR
    if keep_freed_memory():
        ALLOCATOR = "freed memory kept (as the CLI)"


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    bf16 = "native bf16" if cpu_has_native_bf16() else "no bf16 instructions"
    return (f"{cpu_name()} ({platform.machine()}, {bf16}; auto arithmetic: "
            f"{resolved('auto', device)}), {torch.get_num_threads()} threads, "
            f"malloc: {ALLOCATOR}")


def cpu_name() -> str:
    """The CPU's model name, as Linux reports it (machines here differ: AMD, Intel)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "CPU"


def write(name: str, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"speed_{name}.md").write_text(text)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def floor_pass(size: int, precision: str, device: torch.device,
               winograd: bool = False) -> Callable[[], float]:
    """A timer of the floor: one bare VGG19 forward + backward through conv5_1 (the
    deepest layer the default losses need), in the same precision as the transfer, by
    direct convolutions unless ``winograd``."""
    extractor = load_extractor(None, "max", device, winograd)
    shape = to_tensor(fit_long_side(load_image(CONTENT), size)).shape
    image = torch.rand(shape, device=device, requires_grad=True)
    dtype = resolve_precision(precision, device)

    def seconds() -> float:
        image.grad = None
        began = time.perf_counter()
        extract(extractor, image, ["conv5_1"], dtype)["conv5_1"].sum().backward()
        _sync(device)
        return time.perf_counter() - began

    return seconds


def floor_seconds(size: int, precision: str, device: torch.device, repeats: int = 5) -> float:
    """Median of ``repeats`` floor passes, past one to warm up."""
    seconds = floor_pass(size, precision, device)
    return _median([seconds() for _ in range(repeats + 1)][1:])


def paired_seconds(settings: TransferSettings, floor: Callable[[], float],
                   warm_up: int = 3) -> list[tuple[float, float]]:
    """(floor, iteration) pairs from one run: at each progress report a floor pass is
    timed, then the time to the next report is painterly's iteration. A slow spell of
    the machine (seconds long here) falls on both halves of a pair alike."""
    pairs: list[tuple[float, float]] = []
    floor_time, iteration_began = 0.0, None

    def on_progress(progress: Progress) -> None:
        nonlocal floor_time, iteration_began
        now = time.perf_counter()
        if iteration_began is not None:
            pairs.append((floor_time, now - iteration_began))
        floor_time = floor()
        iteration_began = time.perf_counter()

    stylize(CONTENT, STYLE, settings, callback=on_progress)
    return pairs[warm_up:]


def step(args: argparse.Namespace) -> None:
    """Each painterly iteration paired with a floor pass timed just before it; the
    ratio is the median of the pairs' ratios."""
    device = resolve_device(args.device)
    limit = graphs.MAX_PIXELS
    lines = [
        f"painterly {__version__} on {machine(device)}; {args.size} px, one scale, L-BFGS; "
        "medians over the iterations past the first four, each paired with a floor pass "
        "timed just before it",
        "",
        "| precision | pairs | floor: VGG19 fwd+bwd to conv5_1 (s) | painterly iteration (s) "
        "| ratio | middle half of the pairs' ratios |",
        "|---|---|---|---|---|---|",
    ]
    for precision, loss in ((p, s) for s in args.style_losses for p in args.precisions):
        settings = TransferSettings(size=args.size, iterations=args.iterations, scales=(),
                                    precision=precision, device=args.device, style_loss=loss)
        # The floor is the direct convolutions' (winograd's is fp32 too); a last row
        # pairs winograd with a floor pass that also runs Winograd's convolutions.
        name = precision if args.style_losses == ["gram"] else f"{precision}, {loss}"
        # (label, floor by Winograd's convolutions too, CUDA graphs, compiled matching)
        rows = [(name, False, True, True)] + ([(f"{name}, against its own floor", True, True,
                                                True)] if precision == "winograd" else [])
        if device.type == "cuda" and args.without_graphs:
            rows.append((f"{name}, without CUDA graphs", False, False, True))
        if device.type == "cpu" and loss == "swd" and matching.available():
            rows.append((f"{name}, matching by tensor operations (without numba)", False, True,
                         False))
        for label, own_floor, replay, compiled in rows:
            floor_precision = "fp32" if precision == "winograd" else precision
            floor = floor_pass(args.size, floor_precision, device, own_floor)
            graphs.MAX_PIXELS = limit if replay else 0  # (painterly.graphs)
            numba, matching.numba = matching.numba, matching.numba if compiled else None
            lines.append(_pairs_row(label, paired_seconds(settings, floor)))
            matching.numba = numba
        graphs.MAX_PIXELS = limit
    write(f"step_{device.type}{args.tag}", lines)


def profile(args: argparse.Namespace) -> None:
    """torch.profiler over one scale's iterations: the ops that take the time, and on a
    GPU the kernel launches and host-device waits per iteration (a small picture on a
    fast GPU is bound by the host, not by the arithmetic)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    device = resolve_device(args.device)
    settings = TransferSettings(size=args.size, iterations=args.iterations, scales=(),
                                precision=args.precisions[-1], device=args.device)
    stylize(CONTENT, STYLE, replace(settings, iterations=3))  # warm: kernels loaded
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] * (device.type == "cuda"))
    began = time.perf_counter()
    with torch_profile(activities=activities) as prof:
        stylize(CONTENT, STYLE, settings)
    seconds = time.perf_counter() - began
    events = prof.key_averages()
    per = args.iterations
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    waits = sum(e.count for e in events if "Synchronize" in e.key or "Memcpy" in e.key)
    launches = sum(e.count for e in events if "LaunchKernel" in e.key)
    lines = [f"painterly {__version__} on {machine(device)}; {args.size} px, one scale, "
             f"{per} iterations, precision {settings.precision}: {seconds / per * 1000:.1f} ms "
             f"an iteration under the profiler; per iteration {launches / per:.0f} kernel "
             f"launches, {waits / per:.1f} copies or synchronisations", "",
             "| op | calls / iteration | self CPU (ms / it.) | self device (ms / it.) |",
             "|---|---|---|---|"]
    for event in sorted(events, key=lambda e: getattr(e, key), reverse=True)[:25]:
        lines.append(f"| {event.key[:60]} | {event.count / per:.1f} | "
                     f"{event.self_cpu_time_total / per / 1000:.2f} | "
                     f"{getattr(event, 'self_device_time_total', 0) / per / 1000:.2f} |")
    write(f"profile_{device.type}{args.tag}", lines)


def _pairs_row(label: str, pairs: list[tuple[float, float]]) -> str:
    ratios = sorted(iteration / floor for floor, iteration in pairs)
    quarter = len(ratios) // 4
    return (f"| {label} | {len(pairs)} | {_median([f for f, _ in pairs]):.3f} | "
            f"{_median([i for _, i in pairs]):.3f} | {_median(ratios):.3f} | "
            f"{ratios[quarter]:.3f}-{ratios[-1 - quarter]:.3f} |")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def memory(args: argparse.Namespace) -> None:
    """Peak RSS of whole processes, each one transfer with the defaults but for
    --iterations per scale (25: more than L-BFGS's 10 pairs), beside the estimate
    painterly checks before a run."""
    from painterly.images import load_image as open_image
    from painterly.memory import memory_needed

    iterations = args.iterations
    lines = [
        f"painterly {__version__}, {platform.machine()}, malloc: {ALLOCATOR}: peak resident "
        f"memory of a whole process running one transfer (defaults, {iterations} iterations "
        "a scale)",
        "",
        "| size | style loss | peak RSS (GB) | estimate (GB) | seconds |",
        "|---|---|---|---|---|",
    ]
    photo, painting = open_image(CONTENT).size, open_image(STYLE).size
    for size, loss in ((size, loss) for size in args.sizes for loss in args.style_losses):
        settings = TransferSettings(size=size, iterations=iterations, device=args.device,
                                    style_loss=loss)
        device = resolve_device(args.device)
        precision = resolved(settings.precision, device)
        dtype, winograd = resolve_precision(precision, device), uses_winograd(precision, device)
        estimate = memory_needed(settings, photo, [painting], dtype, winograd)
        keep = "from painterly.allocator import keep_freed_memory; keep_freed_memory(); " * (
            ALLOCATOR != "glibc defaults")
        code = (
            f"import resource, sys; {keep}from painterly import stylize, TransferSettings; "
            f"stylize(r'{CONTENT}', r'{STYLE}', TransferSettings(size={size}, "
            f"iterations={iterations}, device='{args.device}', style_loss='{loss}')); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, cwd=ROOT)
        seconds = time.perf_counter() - began
        peak_gb = int(done.stdout.strip().splitlines()[-1]) / 1024**2  # ru_maxrss is in KiB
        lines.append(f"| {size} | {loss} | {peak_gb:.2f} | {estimate / 1024**3:.2f} | "
                     f"{seconds:.0f} |")
    write(f"memory{args.tag}", lines)


def pastiche(args: argparse.Namespace) -> None:
    from pastiche.pastiche import PasticheArtist

    device = resolve_device(args.device)
    out_dir = RESULTS
    artist = PasticheArtist(str(CONTENT), [str(STYLE)], size=args.size, device=device.type)
    began = time.perf_counter()
    for _ in range(args.steps):
        artist.draw()
    _sync(device)
    pastiche_seconds = time.perf_counter() - began
    from pastiche.pastiche import save_image as pastiche_save

    pastiche_path = out_dir / f"speed_pastiche_300{args.tag}.png"
    pastiche_save(artist.pastiche, str(pastiche_path))
    theirs = measure(pastiche_path, CONTENT, STYLE)

    snapshots: list[tuple[int, float, Image.Image]] = []

    def keep_snapshot(progress: Progress) -> None:
        if progress.iteration % 10 == 0:  # wall time, setup included, as ours_seconds
            snapshots.append((progress.iteration, time.perf_counter() - began,
                              progress.picture()))

    settings = TransferSettings(size=args.size, device=args.device)
    began = time.perf_counter()
    picture = stylize(CONTENT, STYLE, settings, callback=keep_snapshot)
    ours_seconds = time.perf_counter() - began
    ours_path = save_image(picture, out_dir / f"speed_painterly_default{args.tag}.png")
    ours = measure(ours_path, CONTENT, STYLE)
    # When did the run first reach pastiche's distances? Pictures of the coarser stages
    # are enlarged to the final size, as a user stopping there would have to.
    reached = None
    for iteration, elapsed, snapshot in snapshots:
        snapshot = snapshot.resize(picture.size, Image.Resampling.LANCZOS)
        distances = measure(snapshot, CONTENT, STYLE)
        if distances.content <= theirs.content and distances.style <= theirs.style:
            reached = (iteration, elapsed, distances)
            break
    lines = [
        f"painterly {__version__} vs pastiche on {machine(device)}, {args.size} px, "
        "tubingen x starry_night; distances by painterly.metrics (lower is better)",
        "",
        "| run | seconds | content | style |",
        "|---|---|---|---|",
        f"| pastiche, {args.steps} L-BFGS steps | {pastiche_seconds:.1f} | {theirs.content:.3f} | "
        f"{theirs.style:.4f} |",
        f"| painterly defaults | {ours_seconds:.1f} | {ours.content:.3f} | {ours.style:.4f} |",
        "",
        f"time ratio painterly / pastiche: {ours_seconds / pastiche_seconds:.3f}; "
        f"painterly at least as good on both: "
        f"{ours.content <= theirs.content and ours.style <= theirs.style}",
    ]
    if reached:
        iteration, elapsed, distances = reached
        lines.append(
            f"painterly first reaches pastiche's distances at iteration {iteration} of "
            f"{settings.iterations * len(settings.stage_sizes())}, {elapsed:.1f} s into its run "
            f"(content {distances.content:.3f}, style {distances.style:.4f}; checked every "
            f"10 iterations): {elapsed / pastiche_seconds:.3f} of pastiche's time")
    write(f"pastiche_{device.type}{args.tag}", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("step", "memory", "pastiche", "profile"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=None,
                        help="step: iterations, each paired with a floor pass (default 40); "
                        "memory: per scale (25)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "winograd", "bf16"),
                        default=None,
                        help="step: default fp32 and winograd, and bf16 where the device has "
                        "it natively "
                        "(emulated bf16 is several times slower than fp32, not worth timing)")
    parser.add_argument("--style-losses", nargs="+", choices=("gram", "w2", "swd"),
                        default=["gram"], help="step and memory: the style losses to measure")
    parser.add_argument("--without-graphs", action="store_true",
                        help="step on a GPU: a row more per precision and loss, with the "
                        "objective launched op by op, not replayed as a CUDA graph")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--tag", default="",
                        help="appended to the results files' names, to keep another machine's")
    parser.add_argument("--allocator", choices=("keep", "default"), default="keep",
                        help="keep: freed memory kept for reuse, as the CLI does (default)")
    args = parser.parse_args()
    if args.allocator == "keep":
        keep_memory_as_the_cli()
    if args.precisions is None:
        device = resolve_device(args.device)
        native = (torch.cuda.is_bf16_supported() if device.type == "cuda"
                  else cpu_has_native_bf16())
        args.precisions = ["fp32", "winograd"] + (["bf16"] if native else [])
    if args.iterations is None:
        args.iterations = 25 if args.what == "memory" else 40
    {"step": step, "memory": memory, "pastiche": pastiche, "profile": profile}[args.what](args)


if __name__ == "__main__":
    main()
