"""swd's histogram matching on the CPU as compiled loops (numba), one pass over the
projected values to count them and one to send each to its target; and the merge of two
sketches (a painting's tiles) in one pass.

The same arithmetic as :mod:`painterly.swd`'s tensor operations (which run where these
do not: on a GPU, or without numba), but a value is read once a pass instead of some
fifteen times: in PyTorch each step (its bin, its place in the bin, two lookups, the
interpolation, the difference, its square) is a pass of its own over memory, and those
passes, not arithmetic, were a fifth of an iteration on two cores (benchmarks/README.md).

Values come as float32, float64, or bfloat16's bits (uint16: the network's projections
under autocast, read and written in place without a float32 copy each way; the distance
is rounded to the nearest bfloat16, ties to even, as PyTorch rounds). Each function works
on rows (one direction each) and releases the GIL, so that :mod:`painterly.swd` runs
shares of the rows in threads. A value's place is ``value * inverse + shift`` in bins,
clamped to [0, top]; a NaN goes to the first bin (its distance stays NaN), never outside
the table.

The arrays handed to one call never overlap (each is its own buffer, or a share of its own
rows): the loops are compiled on that promise (:class:`_Apart`), which lets the compiler
vectorise the matching's and the table's lookups (a gather of sixteen at a time).
"""

from __future__ import annotations

import numpy as np

try:
    import numba
    from llvmlite import ir
    from numba.core import types
    from numba.core.compiler import Compiler
    from numba.extending import intrinsic, overload
except ImportError:  # the tensor operations serve instead
    numba = None

#: Without "nnan"/"ninf": a NaN must not be assumed away, or its bin could be anything.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


def available() -> bool:
    """Whether the compiled loops can run here (numba is installed)."""
    return numba is not None


if numba is not None:
    class _Apart(Compiler):
        """numba's compiler, told that a function's array arguments never overlap (LLVM's
        noalias, numba's own flag for its parallel loops): otherwise a store into one
        array might change what a lookup in another reads, and a loop that does both
        stays scalar (the matching: 23 -> 12 ms for conv1_1's 12.6M values at 512 px)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.state.flags.noalias = True


def _compiled(function):
    """``function`` compiled to machine code once per process, without the GIL, its
    array arguments apart (:class:`_Apart`); cached on disk between processes where numba
    finds a writable place (beside the module, or the user's cache directory), else
    compiled afresh in each."""
    if numba is None:
        return function
    options = {"nogil": True, "fastmath": _FAST, "pipeline_class": _Apart}
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError:  # "no locator available": a read-only install and home
        return numba.njit(**options)(function)


def _load(values, k, i):
    """values[k, i] as a float (bfloat16's bits widened to float32)."""


def _store(values, k, i, value):
    """values[k, i] = value (as bfloat16's bits where values holds them)."""


if numba is not None:
    @intrinsic
    def _float_of(typingctx, bits):
        def build(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())
        return types.float32(types.uint32), build

    @intrinsic
    def _bits_of(typingctx, value):
        def build(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(32))
        return types.uint32(types.float32), build

    @overload(_load, jit_options={"fastmath": _FAST})
    def _load_for(values, k, i):
        if values.dtype == types.uint16:
            return lambda values, k, i: _float_of(np.uint32(values[k, i]) << np.uint32(16))
        return lambda values, k, i: values[k, i]

    @overload(_store, jit_options={"fastmath": _FAST})
    def _store_for(values, k, i, value):
        if values.dtype == types.uint16:
            def store(values, k, i, value):
                bits = _bits_of(np.float32(value))
                bits += np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
                values[k, i] = np.uint16(bits >> np.uint32(16))
            return store

        def plain(values, k, i, value):
            values[k, i] = value
        return plain


@_compiled
def _bin(value, inverse, shift, top):
    place = value * inverse + shift
    if not place >= 0:  # also a NaN
        place = 0 * top
    elif place > top:
        place = top
    return place


#: Values placed at a time before they are counted (:func:`count`).
_BLOCK = 1024


@_compiled
def count(values, inverse, shift, top, counts):
    """Adds to ``counts`` (k, bins) float64 how many of each row's ``values`` (k, N) fall
    in each bin; ``inverse``, ``shift`` (k,) place them, ``top`` = bins - 2^-8."""
    # Places a block at a time (a loop that vectorises), then counts them into int32
    # (the increments' loads and stores half as wide): 1.45x the loop doing both.
    places = np.empty(_BLOCK, dtype=np.uint32)
    tally = np.empty(counts.shape[1], dtype=np.int32)
    size = values.shape[1]
    for k in range(values.shape[0]):
        tally[:] = 0
        for start in range(0, size, _BLOCK):
            block = min(_BLOCK, size - start)
            for j in range(block):
                places[j] = np.uint32(_bin(_load(values, k, start + j), inverse[k], shift[k], top))
            for j in range(block):
                tally[places[j]] += 1
        for b in range(counts.shape[1]):
            counts[k, b] += tally[b]


@_compiled
def table(counts, painting, edges):
    """Fills ``edges`` (k, 2, bins): the painting's quantiles (its sketch, (k, L), sorted
    rows) at the ranks of the first and the last of the picture's values in each bin
    (``counts`` (k, bins)), as levels (rank + 1/2) / N, linearly interpolated
    (:func:`painterly.swd.matching_table`)."""
    size = painting.shape[1]
    for k in range(counts.shape[0]):
        scale = size / max(counts[k].sum(), 1.0)
        after = 0.0
        for b in range(counts.shape[1]):
            # A level u is at place u * size - 1/2 among the sketch's values.
            edges[k, 0, b] = _quantile(painting[k], (after + 0.5) * scale - 0.5)
            after += counts[k, b]
            edges[k, 1, b] = _quantile(painting[k], (after - 0.5) * scale - 0.5)


@_compiled
def _quantile(row, place):
    place = min(max(place, 0.0), row.shape[0] - 1.0)
    first = int(place)
    second = min(first + 1, row.shape[0] - 1)
    return row[first] + (place - first) * (row[second] - row[first])


@_compiled
def match(values, inverse, shift, top, edges, sums):
    """Replaces each of ``values`` (k, N) by its distance to its target, the target
    interpolated between its bin's two ends in ``edges`` (k, 2, bins) (:func:`table`);
    ``sums`` (k,) float64 gets each row's sum of squared distances (before rounding to
    bfloat16)."""
    for k in range(values.shape[0]):
        total = 0.0
        for i in range(values.shape[1]):
            value = _load(values, k, i)
            place = _bin(value, inverse[k], shift[k], top)
            floor = np.floor(place)  # in the values' own type, as the bins' fraction
            index = int(floor)
            start = edges[k, 0, index]
            value -= start + (place - floor) * (edges[k, 1, index] - start)
            _store(values, k, i, value)
            total += value * value
        sums[k] = total


@_compiled
def merge(first, second, first_mass, second_mass, out):
    """Fills ``out`` (k, count) with the quantiles, at levels (q + 1/2) / count, of the
    mixture of two sets given by their sketches ``first`` (k, n1) and ``second`` (k, n2)
    (sorted rows), each of whose values weighs ``first_mass`` or ``second_mass``: the
    rows merged in one pass (ties from ``first`` first), the quantile function linear
    between the values' mid-masses (:func:`painterly.sliced.mixture_quantiles`)."""
    n1, n2, count = first.shape[1], second.shape[1], out.shape[1]
    for k in range(out.shape[0]):
        i = j = q = 0
        cumulative = below_middle = 0.0
        below = first[k, 0]  # (both rows have values)
        for _ in range(n1 + n2):
            if j == n2 or (i < n1 and first[k, i] <= second[k, j]):
                value, mass = first[k, i], first_mass
                i += 1
            else:
                value, mass = second[k, j], second_mass
                j += 1
            cumulative += mass
            middle = cumulative - mass / 2
            if i + j == 1:  # the first value: nothing below it
                below, below_middle = value, middle
            while q < count and (q + 0.5) / count <= middle:
                fraction = ((q + 0.5) / count - below_middle) / max(middle - below_middle, 1e-300)
                out[k, q] = below + min(max(fraction, 0.0), 1.0) * (value - below)
                q += 1
            below, below_middle = value, middle
        while q < count:  # past the last value's mid-mass
            out[k, q] = below
            q += 1
