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
from collections.abc import MutableMapping

#: libgomp's spins before an idle thread sleeps (its default: 300000).
SPIN_COUNT = 10000


def spin_less(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set libgomp's spin count to SPIN_COUNT in ``environ``, unless its user chose a
    policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT) already. Returns whether it was set."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True
