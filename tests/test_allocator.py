"""The allocator setting the command line makes (painterly/allocator.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from painterly import allocator
from painterly.events import Plan, PlannedStage
from painterly.tiles import Split

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


_TILES = """
import resource, torch
import painterly.cli
from painterly.allocator import keep_freed_memory, return_large_blocks, keeping_freed_memory

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()

def block(size=25 * 2**20):
    # page faults per page of a block of float32 values, and what of it stays resident
    # once it is freed (a share of its size)
    before, faults = resident(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(size)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return faults / (size * 4 / 4096), (resident() - before) / (size * 4)

keep_freed_memory()
return_large_blocks()
torch.ones(25 * 2**20)
outside = block()
before = resident()
with keeping_freed_memory():
    inside = [block() for _ in range(3)]
left = (resident() - before) / (25 * 2**20 * 4)  # of the tiles' blocks, after them
after = block(10 * 25 * 2**20)
print(*outside, min(faults for faults, _ in inside), max(kept for _, kept in inside), left,
      *after)
"""


@pytest.mark.skipif(allocator._glibc() is None, reason="mallopt is glibc's")
def test_tiles_reuse_freed_memory_where_large_blocks_go_back():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _TILES], capture_output=True, text=True,
                          check=True)
    faults, kept, faults_inside, kept_inside, left, faults_after, kept_after = (
        float(value) for value in done.stdout.split())
    assert faults > 0.8 and kept < 0.05  # a large block mapped afresh and given back
    assert faults_inside < 0.05 and kept_inside > 0.9  # reused, as by one tile after another
    assert left < 0.1  # what the tiles kept goes back after them
    assert faults_after > 0.8 and kept_after < 0.05  # large blocks go back again


def test_tiles_leave_the_allocator_alone_unless_large_blocks_go_back(monkeypatch):
    calls = []

    class Libc:
        def mallopt(self, *args):
            calls.append(args)
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))

    monkeypatch.setattr(allocator, "_glibc", lambda: Libc())
    monkeypatch.setattr(allocator, "_returning", False)
    with allocator.keeping_freed_memory():
        pass
    assert calls == []
    assert allocator.return_large_blocks() and allocator._returning is True
    calls.clear()
    with allocator.keeping_freed_memory():
        assert calls == [(allocator._M_MMAP_THRESHOLD, allocator._KEEP),
                         (allocator._M_TRIM_THRESHOLD, allocator._KEEP)]
    assert calls[2:] == [(allocator._M_MMAP_THRESHOLD, allocator.LARGE_BLOCK),
                         (allocator._M_TRIM_THRESHOLD, 4 * allocator.LARGE_BLOCK), ("trim", 0)]
    assert allocator.keep_freed_memory() and allocator._returning is False


def test_a_plan_says_whether_a_tiled_run_gives_large_blocks_back(monkeypatch):
    """Where the limit leaves room, a tiled run keeps what it frees (its estimate counts
    it); one that gives large blocks back leaves the next run to keep them again."""
    modes = []
    monkeypatch.setattr(allocator, "return_large_blocks", lambda: modes.append("back"))
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: modes.append("keep"))
    monkeypatch.setattr(allocator, "_returning", False)
    small = PlannedStage(512, 384, 5, None)
    whole = Plan((small,), 1, 2)
    tiled = Plan((small, PlannedStage(4096, 3072, 3, 784, Split.WHOLE)), 1, 2)
    allocator.allocate_for(whole)
    allocator.allocate_for(replace(tiled, keeps_memory=True))
    assert modes == []
    allocator.allocate_for(tiled)
    assert modes == ["back"]
    monkeypatch.setattr(allocator, "_returning", True)  # as return_large_blocks leaves it
    allocator.allocate_for(replace(tiled, keeps_memory=True))
    assert modes == ["back", "keep"]
