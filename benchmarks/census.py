"""What a print-size run's final stage holds: a census of the live tensors at the end of
each evaluation's first pass (the records all made, the second pass not begun), grouped
by shape, beside malloc's bytes in use and the process's RSS.

    python benchmarks/census.py --size 4096 --max-memory 8 [--tag TAG]

Paints Tübingen in the style of The Starry Night as the command line does (its allocator
settings and plan included) and writes results/census_<size>[TAG].md. Image-sized float32
tensors are counted together as vectors (the image, its gradients, L-BFGS's steps and
pairs, the photo); the rest by dtype and shape. The replay's bits are numpy arrays: they
are the records' bytes beside the tensors (the deep part's tiles make theirs after the
first pass). Compare with ``painterly.memory``'s counts.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import itertools
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from painterly.openmp import spin_less

spin_less()  # as the command line does, before PyTorch loads

import speed
import torch

from painterly import TransferSettings, stylize
from painterly.allocator import allocate_for, keep_freed_memory
from painterly.events import Plan
from painterly.layers import LAYERS
from painterly.tiling import TiledObjective

GIB = 1024**3


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _malloc_in_use() -> float:
    """GiB malloc has handed out and not had back (glibc's mallinfo2)."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / GIB


def _rss() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def census(image_shape: torch.Size, record_bytes: int) -> list[str]:
    """Table rows: the live tensors' bytes by kind, largest first, one storage once."""
    seen: set[int] = set()
    groups: collections.Counter[str] = collections.Counter()
    for item in gc.get_objects():
        if not isinstance(item, torch.Tensor):
            continue
        storage = item.untyped_storage()
        if storage.data_ptr() in seen or storage.nbytes() == 0:
            continue
        seen.add(storage.data_ptr())
        vector = item.shape == image_shape and item.dtype == torch.float32
        groups["image-sized vectors" if vector else f"{item.dtype} {tuple(item.shape)}"] += (
            storage.nbytes())
    one = image_shape.numel() * 4
    rows = [f"| all tensors | {sum(groups.values()) / GIB:.2f} | |",
            (f"| the tiles' records, to conv3_4 (their tensors among those above) | "
            f"{record_bytes / GIB:.2f} | |")]
    rows += [f"| {kind} | {size / GIB:.3f} | {size / one:.2f} |"
             for kind, size in groups.most_common(12)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--max-memory", type=float, default=8.0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    keep_freed_memory()
    speed.ALLOCATOR = "the CLI's"
    lines = [(f"# Live tensors through the final stage of {args.size} px in "
             f"{args.max_memory:g} GB"), "", f"painterly on {speed.machine(torch.device('cpu'))}",
             ""]
    first_pass = TiledObjective._statistics
    evaluations = itertools.count(1)

    def counted(self, image, tiles, size, *rest):
        result = first_pass(self, image, tiles, size, *rest)
        if self.start == LAYERS[0] and max(size) >= args.size:  # the final stage's tiles
            records = sum(terms.record.nbytes for terms in result[2]
                          if terms is not None and terms.record is not None)
            lines.extend([(f"Evaluation {next(evaluations)}, its first pass done: malloc's bytes "
                          f"in use {_malloc_in_use():.2f} GiB, RSS {_rss():.2f} GiB"), "",
                          "| what | GiB | image-sized vectors |", "|---|---|---|",
                          *census(image.shape, records), ""])
        return result

    def follow_plan(plan: Plan) -> None:
        allocate_for(plan)
        lines.extend([f"The plan: {plan.summary()}", ""])

    TiledObjective._statistics = counted
    settings = TransferSettings(size=args.size, max_memory=args.max_memory)
    stylize(ROOT / "examples" / "content" / "tubingen.jpg",
            ROOT / "examples" / "style" / "starry_night.jpg", settings, on_plan=follow_plan)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    lines.append(f"Peak RSS of the run: {peak:.2f} GiB.")
    text = "\n".join(lines) + "\n"
    print(text)
    (speed.RESULTS / f"census_{args.size}{args.tag}.md").write_text(text)


if __name__ == "__main__":
    main()
