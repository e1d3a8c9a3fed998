"""How much memory a transfer will need, checked before it starts.

The estimate is linear in the pixels of each stage, with the activations VGG19 keeps for
its backward pass scaled by how deep the losses reach, plus the optimiser's memory at the
final size. Its constants were measured as peak resident memory of whole processes on
the 2-core CPU (benchmarks/speed.py memory prints the estimate beside the measurement):
memory that a stage frees stays with the process, so the stages add up; a run with tiled
stages gives large blocks back as they are freed, so its largest stage's peak counts, and
a stage that fits whole beside the final stage's tiles is painted whole. Where the
limit leaves room, a tiled run keeps what it frees instead (faster: no fresh pages for
each tile's blocks), for a peak that grows by KEPT_BYTES and KEPT_BYTES_PER_PIXEL. A
tiled stage whose second pass is replayed (painterly.replay) holds its tiles' records
beside that. Which of these a run takes is painterly.tiling_plan's choice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from . import nnpack
from .errors import MemoryRefused
from .images import fitted_size
from .layers import LAYERS, MIN_SIDE, deepest_layer, layer_channels
from .optimizers import LBFGS_HISTORY, LBFGS_TILED_HISTORY
from .replay import record_bytes
from .settings import TransferSettings
from .sliced import SKETCH
from .tiles import (
    AFTER_CUT,
    ALIGN,
    CUT,
    DEEP_TILE_FACTOR,
    Split,
    crop_side,
    seen_pixels,
    splits,
    stage_tile,
    stride,
)
from .winograd import BAND_VALUES, kernel_bytes

GB = 1024**3
#: The process with torch and the network loaded, and its inputs.
BASE_BYTES = int(0.65 * GB)
#: Bytes per pixel of a stage's image for the network's saved activations and their
#: gradients, through conv5_1 (the default losses' deepest layer). fp32: 2.13 measured
#: with glibc's defaults, 2.25 with freed memory kept (session 4; 3.55 GB at 1024 px).
ACTIVATION_BYTES_PER_PIXEL = {torch.bfloat16: 1.29 * GB / 1e6, None: 2.25 * GB / 1e6}
#: Bytes per pixel of the final image for each optimiser's memory (L-BFGS: 10 pairs;
#: measured with freed memory kept, as the command line runs).
OPTIMIZER_BYTES_PER_PIXEL = {"lbfgs": 0.78 * GB / 1e6, "lbfgs-b": 1.2 * GB / 1e6,
                             "adam": 0.05 * GB / 1e6, "gd": 0.05 * GB / 1e6}
#: L-BFGS's image-sized vectors besides its history pairs, when its blocks go back to the
#: system as they are freed (a tiled run: painterly.allocator.return_large_blocks, and
#: glibc's own default). With torch's L-BFGS the 4096 px default run needed 16; our own
#: (painterly.lbfgs) holds 5 fewer: no flat copies of the gradient, no copies of the
#: last iterates for a rollback, the product in the tiled gradient's backward in place.
#: Two fewer again since the 8192 px command peaked at 13.91 GB where 11 said 15.97
#: (session 28; two are 1.1 GB there): the image, its last step and gradients, the
#: stage's start, photo and target are ~7.
LBFGS_OTHER_VECTORS = 9
#: The same in a replayed final stage whose deep layers run on tiles of their own (bf16),
#: counted where it peaks since a finished stage's optimiser no longer outlives it
#: (session 33). A census of the live tensors through the 4096 px command in 8 GB: at
#: most 8 image-sized vectors (the image, the photo, a gradient, the next direction, two
#: pairs) and the content map (1.33 of one in bf16), where 2 * 2 + 9 + 2 were counted;
#: with 5, 11 are, room for the heap's fragments. (With the deep part whole, 1056 px
#: tiles peaked at 7.55 GB where 9 count 8.0: the whole deep part's graph is more.)
REPLAYED_OTHER_VECTORS = 5
#: The smallest tile chosen for memory: below it the margins cost over 4x the work.
AUTO_MIN_TILE = 256
#: Bytes per pixel of the final image for NNPACK's workspace, which its Winograd's
#: convolutions need and PyTorch keeps for the process: the transformed tiles of the
#: largest one (conv1_2 at full size, 64 channels in and out). A forward and backward pass
#: peaked 0.77 GB higher than with direct convolutions at 1024x768, 2.47 GB at 2048x1536
#: (session 6).
WINOGRAD_BYTES_PER_PIXEL = 0.98 * GB / 1e6
#: painterly's own Winograd's convolutions (on CPUs with AVX-512) hold a few bands of
#: transformed values at once, at most ~6 of BAND_VALUES fp32 values, at any size, beside
#: their transformed kernels (painterly.winograd.kernel_bytes).
OWN_WINOGRAD_BAND_BYTES = 6 * 4 * BAND_VALUES
#: NNPACK's per pixel a tile's crop holds: 4096 px in 8 GB (session 24) held ~0.4 GB a
#: megapixel more on its crops than the untiled constants say, split (1056 x 1088 px:
#: 3.8 GB a megapixel against 3.37 with swd's distances) and unsplit (848 x 992 px).
WINOGRAD_TILE_BYTES_PER_PIXEL = 1.40 * GB / 1e6
#: Bytes per pixel of a split stage's picture for its deep part, run whole
#: (painterly.tiling): the map CUT's pool makes, its gradient, the deep layers' saved
#: activations and their losses. Measured over the peak before it, 4096 px (session 23):
#: 2.64-3.28 GB with bf16, 3.48-4.21 GB in fp32 with Winograd's convolutions. With bf16,
#: 1.0 GB less since the content term keeps no fp32 copies of its 100M values (session
#: 28: the 4096 px command's peak 6.62 -> 5.61 GB, nothing else changed).
DEEP_BYTES_PER_PIXEL = {torch.bfloat16: 0.19 * GB / 1e6, None: 0.34 * GB / 1e6}
#: Values per pixel of the map CUT's pool makes (256 channels, a 64th of the pixels): a
#: tiled deep part holds it and its gradient beside its tiles, whose memory
#: painterly.tiles.DEEP_TILE_FACTOR keeps under a shallow tile's.
MAP_VALUES_PER_PIXEL = layer_channels(CUT) / 64
#: One float32 RGB image, per pixel.
IMAGE_BYTES_PER_PIXEL = 12
#: swd's bytes per value of a style layer's responses: each value's distance to its
#: target (fp32, kept for the backward pass). Measured at 1024 px (Winograd, session 13):
#: swd 4.33 GB, gram 3.95 GB, the distances 0.38 GB; its other work is a layer at a time
#: and fits under the network's peak, as the painting's sketching does before it.
SWD_BYTES_PER_VALUE = 4
#: What a tiled run that keeps its freed memory holds over one that gives large blocks
#: back: KEPT_BYTES, and KEPT_BYTES_PER_PIXEL of its final picture. Every freed block
#: kept, with bf16 (session 28): 4096 px on tiles of 784 px +1.43 GB, its 4096 px stage
#: on tiles of 1552 px +1.55 GB, 8192 px +3.41 GB; the fit through the last two, 10%
#: over them (the first's estimate holds more slack than that).
KEPT_BYTES = int(1.0 * GB)
KEPT_BYTES_PER_PIXEL = 0.055 * GB / 1e6


def _activations_per_pixel(deepest: str) -> float:
    """Values of the feature maps (with pools) up to ``deepest``, per input pixel."""
    total, area = 0.0, 1.0
    for index, layer in enumerate(LAYERS[: LAYERS.index(deepest) + 1]):
        if index > 0 and layer.endswith("_1"):
            area /= 4
            total += layer_channels(LAYERS[index - 1]) * area  # the pool's output
        total += layer_channels(layer) * area
    return total


def _style_values_per_pixel(layers: Sequence[str]) -> float:
    """Values of the style layers' responses per input pixel."""
    return sum(layer_channels(layer) / stride(layer) ** 2 for layer in layers)


def estimate_bytes(
    stage_pixels: list[int], deepest: str, dtype: torch.dtype | None, optimizer: str,
    winograd: bool = False, network_pixels: list[int] | None = None,
    lbfgs_pairs: int = LBFGS_HISTORY, seen_bytes_per_pixel: float = 0.0,
    split: Split = Split.NONE, keep: bool = False, replay: bool = False,
) -> int:
    """Peak memory of a transfer whose stages have ``stage_pixels`` pixels each (the last
    is the final size), with losses reaching ``deepest``, the network in ``dtype`` and,
    with ``winograd``, Winograd's convolutions. ``network_pixels``: how many pixels the
    network sees at once at each stage, fewer than the stage's own where it is tiled
    (default: all of them). ``lbfgs_pairs``: the history pairs L-BFGS holds at the end
    of a tiled stage. ``seen_bytes_per_pixel``: a loss's own memory per pixel the network
    sees (swd's distances). ``split``: where tiled stages run their deep layers;
    ``keep``: whether a run with tiled stages keeps the memory it frees; ``replay``:
    whether its final stage's tiles replay their second pass (the records aside)."""
    network = stage_pixels if network_pixels is None else network_pixels
    by_nnpack = winograd and nnpack.preferred()
    own = (OWN_WINOGRAD_BAND_BYTES + kernel_bytes(deepest)) * (winograd and not by_nnpack)
    if any(seen < pixels for pixels, seen in zip(stage_pixels, network)):
        return int(own + max(_tiled_run_peaks(stage_pixels, network, deepest, dtype,
                                              optimizer, by_nnpack, lbfgs_pairs,
                                              seen_bytes_per_pixel, split, keep, replay)))
    # Without tiles the stages add up: memory a stage frees stays with the process (the
    # command line keeps it, for speed).
    activations = _activation_bytes_per_pixel(deepest, dtype) * sum(network)
    per_seen = WINOGRAD_BYTES_PER_PIXEL * by_nnpack + seen_bytes_per_pixel
    optimizer_bytes = OPTIMIZER_BYTES_PER_PIXEL[optimizer] * stage_pixels[-1]
    return int(BASE_BYTES + own + activations + per_seen * max(network) + optimizer_bytes)


def _activation_bytes_per_pixel(deepest: str, dtype: torch.dtype | None) -> float:
    """The network's saved activations and their gradients, per pixel it sees."""
    depth = _activations_per_pixel(deepest) / _activations_per_pixel("conv5_1")
    return ACTIVATION_BYTES_PER_PIXEL[dtype] * depth


def _tiled_run_peaks(
    stage_pixels: Sequence[int], network: Sequence[int], deepest: str,
    dtype: torch.dtype | None, optimizer: str, by_nnpack: bool, lbfgs_pairs: int,
    seen_bytes_per_pixel: float, split: Split = Split.NONE, keep: bool = False,
    replay: bool = False,
) -> list[float]:
    """Each stage's peak in a run with tiled stages: such a run gives large blocks back as
    they are freed (painterly.allocator.return_large_blocks), so a stage's memory does not
    outlive it and the run's peak is its largest stage's; or, with ``keep``, it keeps
    them, a tiled stage holding KEPT_BYTES and KEPT_BYTES_PER_PIXEL more. Split, a tiled
    stage's tiles reach CUT, and its deep part runs whole beside them (counted as if at
    once: the last tile's graph is kept while it runs), or on tiles of its own, after
    them, with the map. Where the final stage's tiles replay (``replay``), none keeps a
    graph: a whole deep part runs between the tiles, not beside one. ``by_nnpack``: the
    convolutions are NNPACK's, whose workspace grows with what the network sees."""
    peaks = []
    last = len(stage_pixels) - 1
    for index, (pixels, seen) in enumerate(zip(stage_pixels, network)):
        tiled = seen < pixels
        split_here = split if tiled and splits(deepest) else Split.NONE
        per_seen = (_activation_bytes_per_pixel(deepest if split_here is Split.NONE else CUT,
                                                dtype)
                    + seen_bytes_per_pixel
                    + (WINOGRAD_TILE_BYTES_PER_PIXEL if tiled else WINOGRAD_BYTES_PER_PIXEL)
                    * by_nnpack)
        deep = {Split.NONE: 0.0,
                Split.WHOLE: DEEP_BYTES_PER_PIXEL[dtype] * pixels,
                Split.TILED: 2 * MAP_VALUES_PER_PIXEL * _itemsize(dtype) * pixels}[split_here]
        replayed = replay and index == last
        lean = replayed and split_here is Split.TILED
        per_pixel = OPTIMIZER_BYTES_PER_PIXEL[optimizer]
        if optimizer == "lbfgs":
            pairs = lbfgs_pairs if tiled else LBFGS_HISTORY
            others = REPLAYED_OTHER_VECTORS if lean else LBFGS_OTHER_VECTORS
            per_pixel = (2 * pairs + others) * IMAGE_BYTES_PER_PIXEL
        # A tiled stage keeps its gradient and the crop being evaluated beside the image.
        crop = 2 * IMAGE_BYTES_PER_PIXEL * pixels if tiled else 0
        kept = KEPT_BYTES + KEPT_BYTES_PER_PIXEL * pixels if tiled and keep else 0
        between = replayed and split_here is Split.WHOLE
        held = max(per_seen * seen, deep) if between else per_seen * seen + deep
        peaks.append(BASE_BYTES + held + crop + kept + per_pixel * pixels)
    return peaks


def _itemsize(dtype: torch.dtype | None) -> int:
    """Bytes of a value the network computes in ``dtype`` (None: fp32)."""
    return (dtype or torch.float32).itemsize


def stage_tiles(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    dtype: torch.dtype | None,
    winograd: bool,
    tile: int | None,
    split: Split = Split.NONE,
    keep: bool = False,
) -> tuple[int | None, ...]:
    """Each stage's tile side (None: whole) on tiles of at most ``tile`` px (``split``:
    where their deep layers run; ``keep``: whether the run keeps what it frees). A tile
    chosen for memory (not ``settings.tile``) is the final size's; a smaller stage is
    painted whole where that needs no more memory than the final stage on tiles: a whole
    stage is about twice as fast a pixel (benchmarks/README.md)."""
    sizes = settings.stage_sizes()
    dims = [fitted_size(photo_size, size) for size in sizes]
    deepest = deepest_layer(settings.layers_needed())
    given = settings.tile is not None
    tiles = [stage_tile(*dim, tile, deepest, given) for dim in dims]
    if given or tiles[-1] is None:
        return tuple(tiles)
    stages = [width * height for width, height in dims]
    network = [_seen(dim, stage, deepest, split) for dim, stage in zip(dims, tiles)]
    costs = (deepest, dtype, settings.optimizer, winograd, _lbfgs_pairs(settings),
             _swd_bytes_per_pixel(settings), split, keep)
    whole = _tiled_run_peaks(stages, stages, *costs)
    bound = _tiled_run_peaks(stages, network, *costs)[-1]
    return (*(None if peak <= bound else stage for peak, stage in zip(whole, tiles[:-1])),
            tiles[-1])


def memory_needed(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    dtype: torch.dtype | None,
    winograd: bool = False,
    tile: int | None = None,
    split: Split = Split.NONE,
    keep: bool = False,
    replay: bool = False,
) -> int:
    """Estimated peak bytes of a transfer of a photo and paintings of these (w, h) sizes,
    with the network in ``dtype`` (and Winograd's convolutions, with ``winograd``), on
    tiles of at most ``tile`` px square where a stage needs them (None: no tiles;
    :func:`stage_tiles`), with ``split`` where their deep layers run, keeping the memory
    it frees with ``keep``, its tiles' second pass from records with ``replay``."""
    sizes = settings.stage_sizes()
    dims = [fitted_size(photo_size, size) for size in sizes]
    stages = [width * height for width, height in dims]
    deepest = deepest_layer(settings.layers_needed())
    tiles = stage_tiles(settings, photo_size, dtype, winograd, tile, split, keep)
    network = [_seen(dim, stage, deepest, split) for dim, stage in zip(dims, tiles)]
    # The constants were measured with a painting as large as the photo. A larger one
    # only goes forward, without gradients: count its excess at a quarter. Past its own
    # size a painting is also held at that size, for the brushwork layers (painterly.stage).
    resized = [fitted_size(p, settings.style_long_side(sizes[-1])) for p in painting_sizes]
    own = [fitted_size(p, settings.style_long_side(sizes[-1], max(p))) for p in painting_sizes]
    painting = max(_seen(size, tiles[-1], deepest) for size in resized)
    extra = max(0, painting - network[-1]) // 4
    # A painting seen on tiles is still held whole, decoded and as a tensor.
    held = max(w * h + (w2 * h2 if (w2, h2) != (w, h) else 0)
               for (w, h), (w2, h2) in zip(resized, own)) * (IMAGE_BYTES_PER_PIXEL + 3)
    held = held if tiles[-1] else 0
    swd = _swd_bytes_per_pixel(settings)
    # swd also keeps each painting's sketches (fp32, at most SKETCH values a layer).
    sketches = 4 * SKETCH * len(settings.style_layers) * len(painting_sizes) if swd else 0
    if replay and tiles[-1] is not None:
        held += _record_bytes(settings, dims[-1], tiles[-1], split, _itemsize(dtype))
    return int(held + sketches) + estimate_bytes(
        stages, deepest, dtype, settings.optimizer, winograd,
        [*network[:-1], network[-1] + extra], _lbfgs_pairs(settings), swd, split, keep,
        replay)


def _record_bytes(settings: TransferSettings, size: tuple[int, int], tile: int,
                  split: Split, itemsize: int) -> float:
    """What a tiled stage's records hold at once (:func:`painterly.replay.record_bytes`,
    the network's values of ``itemsize`` bytes): its tiles', and a split's deep tiles'
    beside them."""
    width, height = size
    read = settings.layers_needed()
    deepest = deepest_layer(read)
    if split is Split.NONE or not splits(deepest):
        return record_bytes(read, deepest, itemsize=itemsize) * seen_pixels(
            height, width, tile, deepest)
    held = record_bytes(read, CUT, pools=True, itemsize=itemsize) * seen_pixels(
        height, width, tile, CUT)
    if split is Split.TILED:
        held += record_bytes(read, deepest, AFTER_CUT, itemsize=itemsize) * seen_pixels(
            height, width, tile * DEEP_TILE_FACTOR, deepest, AFTER_CUT)
    return held


def _lbfgs_pairs(settings: TransferSettings) -> int:
    """L-BFGS's pairs at the end of a tiled final stage: one an iteration from the second,
    up to its history."""
    return min(LBFGS_TILED_HISTORY, settings.stages()[-1].iterations - 1)


def _swd_bytes_per_pixel(settings: TransferSettings) -> float:
    """swd's own memory per pixel the network sees: the distances of the style layers'
    values (fp32, kept for the backward pass); 0 for other style losses."""
    if settings.style_loss != "swd" or settings.style_weight <= 0:
        return 0.0
    return SWD_BYTES_PER_VALUE * _style_values_per_pixel(settings.style_layers)


def _seen(size: tuple[int, int], tile: int | None, deepest: str,
          split: Split = Split.NONE) -> int:
    """Pixels the network sees at once of a (w, h) picture: all, or a tile's crop (split,
    with margins for CUT)."""
    if tile is None or max(size) <= tile:
        return size[0] * size[1]
    crop = crop_side(tile, CUT if split is not Split.NONE and splits(deepest) else deepest)
    return min(size[0], crop) * min(size[1], crop)


def fit_memory(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    device: torch.device,
    dtype: torch.dtype | None,
    winograd: bool = False,
    split: Split = Split.NONE,
    keep: bool = False,
    replay: bool = False,
) -> int | None:
    """The tile side a run uses (``split``: where the tiles' deep layers run; ``keep``:
    whether the run keeps what it frees; ``replay``: whether its tiles' second pass
    comes from records):
    ``settings.tile``, or None (no tiles) when the whole
    picture fits ``settings.max_memory`` (or what the device has available), else the
    largest tile that fits, of AUTO_MIN_TILE px or more. Refuses a run that does not fit
    even so with
    :class:`MemoryRefused`, naming the largest ``size`` that fits. ``dtype`` and
    ``winograd`` are the network's arithmetic."""
    limit = memory_limit(settings, device)

    def fits(candidate: TransferSettings, tile: int | None) -> bool:
        return memory_needed(candidate, photo_size, painting_sizes, dtype, winograd,
                             tile, split, keep, replay) <= limit

    tile = settings.tile
    if fits(settings, tile):
        return tile
    if tile is None and fits(settings, AUTO_MIN_TILE):
        return ALIGN * _largest(AUTO_MIN_TILE // ALIGN, settings.size // ALIGN,
                                lambda n: fits(settings, n * ALIGN))
    smallest = tile or AUTO_MIN_TILE

    def size_fits(size: int) -> bool:
        scales = None if settings.scales is None else tuple(s for s in settings.scales if s < size)
        return fits(replace(settings, size=size, scales=scales), smallest)

    largest = _largest(MIN_SIDE, settings.size - 1, size_fits) if size_fits(MIN_SIDE) else None
    needed = memory_needed(settings, photo_size, painting_sizes, dtype, winograd, smallest,
                           split, keep, replay)
    raise MemoryRefused(needed, limit, largest, settings.max_memory is not None)


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [low, high] with fits(n), given fits(low) and that fits is
    monotonic."""
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def memory_limit(settings: TransferSettings, device: torch.device) -> int:
    """Bytes a run may use: ``settings.max_memory``, or what the device has available."""
    if settings.max_memory is not None:
        return int(settings.max_memory * GB)
    return available_bytes(device)


def available_bytes(device: torch.device) -> int:
    """Memory free for a run now: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + BASE_BYTES)  # the process's own base lives in host memory
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
