"""What ``--precision auto`` means on this machine: the network's arithmetic, measured.

A CPU's bf16 instructions do not make bf16 the faster: on a Zen 5 EPYC with avx512_bf16
a pass of VGG19 takes about half fp32's time, on an Intel Xeon with avx512_bf16 and no
AMX (the 2-core machine of session 34) 1.9 times fp32's; Winograd's convolutions are
~1.4x faster than direct ones on an AVX2 EPYC (NNPACK's), and on that Xeon slower by
NNPACK's, faster by painterly's own (benchmarks/README.md, "Which arithmetic auto
means", and session 35). So on a CPU, ``auto`` times one
forward and backward pass of the network in each arithmetic the CPU runs without
emulation and takes the fastest. The answer is kept in the user's cache directory, keyed
by the CPU, its flags, torch's version and the thread count: measured once a machine, and
the same command paints the same picture there; a new painterly whose arithmetics run
differently (:data:`GENERATION`) measures again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .devices import cpu_has_native_bf16
from .objective import extract
from .outputs import atomic_write
from .vgg import VGG19Features
from .weights import load_weights

#: The image timed (h, w): past a tiny image's overheads, and large enough that each
#: arithmetic's layers run as at the full size (painterly.winograd's reach conv4_x from
#: 32x24 positions: at 192x144 they ran direct, and its pass measured 0.74-0.90 of
#: fp32's, at the margin, against 0.65 here and 0.64 for a 512 px iteration, session 35).
_SIZE = (192, 256)
#: Timed passes of each arithmetic, interleaved so that a slow spell of the machine falls
#: on all alike, after one that sets up its kernels.
_ROUNDS = 3
#: Another arithmetic is chosen over fp32 only if it takes under this share of fp32's
#: time: fp32 is exact and needs no Winograd workspace, and a near tie must not decide.
_MARGIN = 0.9
#: The arithmetics' implementations, part of the cache's key: raised when one changes
#: (2: painterly's own Winograd's convolutions on CPUs with AVX-512, session 35).
GENERATION = 2
#: The cache file's name, and the most machines it remembers (a shared home directory).
_FILE = "arithmetic.json"
_MOST_ENTRIES = 32
_MOST_BYTES = 64 * 1024


def resolved(precision: str, device: torch.device) -> str:
    """A checked precision setting made concrete on ``device``: 'fp32', 'winograd' or
    'bf16'. ``auto`` is bf16 on a GPU that supports it (else fp32) and, on a CPU,
    :func:`cpu_precision`."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return cpu_precision()


def cpu_precision() -> str:
    """The fastest arithmetic of this CPU's candidates (:func:`candidates`), measured
    once a machine and remembered."""
    names = candidates()
    if len(names) == 1:
        return names[0]
    return _remembered(_machine_key(), names)


def candidates() -> tuple[str, ...]:
    """fp32, Winograd's convolutions, and bf16 where the CPU has its instructions
    (elsewhere oneDNN emulates it, several times slower than fp32)."""
    return ("fp32", "winograd") + (("bf16",) if cpu_has_native_bf16() else ())


def choose(seconds: dict[str, float]) -> str:
    """fp32, unless another arithmetic's pass took under ``_MARGIN`` of fp32's: then the
    fastest."""
    fastest = min(seconds, key=seconds.__getitem__)
    return fastest if seconds[fastest] < _MARGIN * seconds["fp32"] else "fp32"


def measure(names: Sequence[str]) -> dict[str, float]:
    """Each arithmetic's fastest of ``_ROUNDS`` forward and backward passes of the
    network through conv5_1 on a noise image, in seconds."""
    weights = load_weights(None)
    passes = {name: _timed_pass(name, VGG19Features(weights, winograd=name == "winograd"))
              for name in names}
    for timed in passes.values():
        timed()
    best = dict.fromkeys(names, float("inf"))
    for _ in range(_ROUNDS):
        for name, timed in passes.items():
            best[name] = min(best[name], timed())
    return best


def _timed_pass(name: str, extractor: VGG19Features) -> Callable[[], float]:
    image = torch.rand(1, 3, *_SIZE, requires_grad=True)
    dtype = torch.bfloat16 if name == "bf16" else None

    def seconds() -> float:
        image.grad = None
        began = time.perf_counter()
        extract(extractor, image, ["conv5_1"], dtype)["conv5_1"].float().sum().backward()
        return time.perf_counter() - began

    return seconds


def measures_first(precision: str, device: torch.device) -> bool:
    """Whether making ``precision`` concrete on ``device`` will measure first (a few
    seconds): ``auto`` on a CPU with a choice this machine has not made yet."""
    if precision != "auto" or device.type != "cpu" or len(names := candidates()) == 1:
        return False
    path = _cache_path()
    return path is None or _kept(_read(path), _machine_key(), names) is None


def _kept(known: dict, key: str, names: tuple[str, ...]) -> str | None:
    """The choice kept under ``key``, if it is one of ``names``."""
    entry = known.get(key)
    if isinstance(entry, dict) and entry.get("precision") in names:
        return entry["precision"]
    return None


@functools.cache
def _remembered(key: str, names: tuple[str, ...]) -> str:
    """The choice kept under ``key`` if it is one of ``names``; else measured and kept."""
    path = _cache_path()
    known = _read(path) if path is not None else {}
    if (kept := _kept(known, key, names)) is not None:
        return kept
    seconds = measure(names)
    choice = choose(seconds)
    if path is not None:
        known.pop(key, None)
        known[key] = {"precision": choice, "seconds": {n: round(s, 5) for n, s in seconds.items()}}
        _write(path, dict(list(known.items())[-_MOST_ENTRIES:]))
    return choice


def _machine_key() -> str:
    """The CPU's model and flags, torch's version, the thread count and
    :data:`GENERATION`, hashed."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            lines = info.read(1 << 20).splitlines()
        cpu = "|".join(next((line for line in lines if line.startswith(field)), "")
                       for field in ("model name", "flags", "Features"))
    except OSError:
        pass
    text = f"{cpu}|{torch.__version__}|{torch.get_num_threads()}|{GENERATION}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cache_path() -> Path | None:
    """$XDG_CACHE_HOME/painterly/arithmetic.json (~/.cache by default); None without a
    home."""
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found
        return None
    return root / "painterly" / _FILE


def _read(path: Path) -> dict:
    """The cache's entries; anything unreadable, oversized or malformed reads as none
    (the file is untrusted: it is only ever asked for a name among the candidates)."""
    try:
        with open(path, "rb") as file:
            data = file.read(_MOST_BYTES + 1)
        known = json.loads(data) if len(data) <= _MOST_BYTES else {}
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _write(path: Path, known: dict) -> None:
    """Replaces the cache file whole (never half-written); a cache that cannot be
    written is no error: the next process measures again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda file: file.write(json.dumps(known, indent=1).encode()))
    except OSError:
        pass
