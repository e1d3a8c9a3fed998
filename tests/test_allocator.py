"""The allocator setting the command line makes (painterly/allocator.py)."""

from __future__ import annotations

import pytest

from painterly import allocator

_FAULTS = """
import resource, sys, torch
import painterly.cli  # loaded first, as the command line does (what is loaded shapes the heap)
from painterly.allocator import keep_freed_memory, release_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None

def faults_per_page(count=5, size=25 * 2**20):  # 100 MB of float32, freed each time
    # page faults per page of each of count allocations
    faults = []
    for _ in range(count):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(size)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
                      / (size * 4 / 4096))
    return faults

torch.ones(25 * 2**20)  # warm up
print(kept, *faults_per_page())
release_freed_memory()
print(*faults_per_page(count=1))
"""


def _faults(mode: str) -> tuple[str, list[float], float]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True,
                          text=True, check=True)
    first, second = done.stdout.split("\n")[:2]
    kept, *per_page = first.split()
    return kept, [float(value) for value in per_page], float(second)


@pytest.mark.skipif(allocator._glibc() is None, reason="mallopt is glibc's")
def test_kept_memory_is_reused_without_page_faults_and_released_on_demand():
    _, default_faults, _ = _faults("default")
    kept, kept_faults, after_release = _faults("keep")
    assert kept == "True"
    # glibc's defaults map a fresh 100 MB block (a fault per page) each time.
    assert min(default_faults) > 0.8
    # Kept, the freed block is there to be reused without a fault. Whether every next
    # allocation lands on it depends on how the heap lies after the imports (in a fresh
    # virtualenv 1 to 4 of 5 did, in another every one), so one reuse is the proof.
    assert min(kept_faults) < 0.05
    # malloc_trim gave the pages back, so the next block faults them in again.
    assert after_release > 0.5
