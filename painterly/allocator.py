"""The process's memory allocator, told to keep what a run frees for its next iteration.

This changes the whole process, so the command line calls it and a library leaves it to
the program that uses it; a batch's tiled job gives large blocks back as the command
line's tiled run does, since its memory estimate counts on it (painterly.batch).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import Plan

#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Large enough that no tensor is served by mmap, or trimmed off the heap's top.
_KEEP = 2**31 - 1
#: glibc's largest mmap threshold on 64-bit systems (32 MB).
LARGE_BLOCK = 32 * 1024**2
#: Whether the program asked for large blocks to go back (:func:`return_large_blocks`).
_returning = False


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 -- present in glibc only, not musl or macOS
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of giving it back to the
    kernel, so that each iteration stops paying page faults for fresh, zeroed pages.

    PyTorch on a CPU frees and allocates every activation and gradient again in each
    iteration; glibc's malloc maps large blocks anew and trims the heap's free top, and
    the kernel zeroes each page on its first touch: 2-8% of a 512 px iteration here
    (benchmarks/README.md). What a run frees is reused by it, so its peak barely moves.
    This changes the whole process's allocator, so the command line calls it and
    a library leaves it to the program; :func:`release_freed_memory` gives the memory
    back. Returns False (and does nothing) where the C library is not glibc.
    """
    global _returning
    libc = _glibc()
    if libc is None:
        return False
    _returning = False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP) and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP))


def return_large_blocks() -> bool:
    """Serve blocks of LARGE_BLOCK bytes or more by mmap again, so that freeing one gives
    it back at once: for a print-size picture, whose image-sized vectors (the optimiser's
    history, ~150 MB each at 4096 px) would otherwise be kept as holes in the heap, 0.24
    GB per megapixel of L-BFGS's memory at 2048 px (1.78 -> 1.04 GB, measured). Their
    page faults cost little beside a tiled iteration. Returns False where the C library
    is not glibc."""
    global _returning
    libc = _glibc()
    if libc is None:
        return False
    _returning = _large_blocks_back(libc)
    return _returning


def allocate_for(plan: Plan) -> None:
    """Give large blocks back for a tiled run whose memory estimate (painterly.memory)
    counts on it: in a process that keeps freed memory, L-BFGS's freed image-sized
    vectors would stay as holes in the heap, ~0.24 GB a megapixel. A run planned to keep
    what it frees (untiled, or tiled where the limit leaves room: faster) keeps it again
    after one that gave it back. The command line, the batch and the benchmarks call it
    with each run's plan, in a process that keeps freed memory."""
    if plan.tiled and not plan.keeps_memory:
        return_large_blocks()
    elif _returning:
        keep_freed_memory()


def _large_blocks_back(libc: ctypes.CDLL) -> bool:
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK)
                and libc.mallopt(_M_TRIM_THRESHOLD, 4 * LARGE_BLOCK))


@contextlib.contextmanager
def keeping_freed_memory() -> Iterator[None]:
    """Inside, freed memory is kept even where large blocks go back
    (:func:`return_large_blocks`). A tiled evaluation's tiles allocate blocks of the same
    few sizes, and fresh pages for each tile's cost 16% of an evaluation (2048 px on
    tiles of 1024 px); a tiled run's untiled stages (its 1024 px one) allocate the same
    activations every iteration, ~10% of theirs. At the end what was freed goes back
    (malloc_trim), so no free memory outlives the evaluation or the stage beside the
    optimiser's vectors (kept, an 8192 px run peaked 2.6 GB higher); the image-sized
    vectors allocated outside still go back as they are freed. Does nothing unless the
    program asked for large blocks to go back."""
    libc = _glibc()
    if libc is None or not _returning:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _KEEP)
    libc.mallopt(_M_TRIM_THRESHOLD, _KEEP)
    try:
        yield
    finally:
        _large_blocks_back(libc)
        libc.malloc_trim(0)


def release_freed_memory() -> None:
    """Give the memory the process has freed back to the kernel (glibc's malloc_trim),
    e.g. after a run in a long-lived process that called :func:`keep_freed_memory`."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
