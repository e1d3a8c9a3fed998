"""The process's OpenMP threads, told to sleep sooner when idle.

PyTorch's CPU operations run on OpenMP's threads (GNU libgomp in its Linux wheels), and
Winograd's convolutions on NNPACK's own pool of threads. After each parallel operation
libgomp's threads spin, by default for 300000 turns, before they sleep; on a machine with
as many threads as cores they then take the cores NNPACK's threads wait for, and NNPACK's
spinning threads slow the next OpenMP operation in turn. With 10000 turns a 512 px
iteration on Winograd's convolutions took 13% less time, and one on bf16's or fp32's
direct convolutions the same (benchmarks/README.md).

libgomp reads its settings once, when it is loaded, so this must run before PyTorch is
imported; it changes the whole process (and the processes it starts), so the command
line calls it and a library leaves it to the program.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

#: libgomp's spins before an idle thread sleeps (its default: 300000).
SPIN_COUNT = 10000
#: The environment variables that set how libgomp's idle threads wait.
WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def spin_less(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set libgomp's spin count to SPIN_COUNT in ``environ``, unless its user chose a
    policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT) already. Returns whether it was set."""
    if any(name in environ for name in WAIT_SETTINGS):
        return False
    environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True


def wait_settings(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """How this process's OpenMP threads wait, for worker processes started elsewhere
    (a Ray cluster's nodes have their own environment): what of WAIT_SETTINGS is set."""
    return {name: environ[name] for name in WAIT_SETTINGS if name in environ}
