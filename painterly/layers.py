"""Names of VGG19's 16 conv layers: the paper's, with Keras and neural-style aliases."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import PainterlyError

#: The smallest side VGG19's four pools leave at least one position for at conv5.
MIN_SIDE = 16
# Convolutions per block of VGG19, and the channel count of each block.
BLOCK_DEPTHS = (2, 2, 4, 4, 4)
BLOCK_CHANNELS = (64, 128, 256, 512, 512)

#: The 16 conv layers in network order, named as in the paper; each names the layer's
#: response after its ReLU.
LAYERS: tuple[str, ...] = tuple(
    f"conv{block}_{conv}"
    for block, depth in enumerate(BLOCK_DEPTHS, start=1)
    for conv in range(1, depth + 1)
)

_ALIAS_PATTERNS = (
    re.compile(r"^conv(\d)_(\d)$"),  # the paper's
    re.compile(r"^block(\d)_conv(\d)$"),  # Keras's, as in the report
    re.compile(r"^relu(\d)_(\d)$"),  # neural-style's
)


def canonical_layer(name: str) -> str:
    """Return the paper's name (``conv4_2``) for a layer named in any accepted style.

    Accepts ``conv4_2``, ``block4_conv2`` (Keras) and ``relu4_2`` (neural-style), in any
    letter case. Raises :class:`PainterlyError` listing the valid names otherwise.
    """
    text = name.strip().lower()
    for pattern in _ALIAS_PATTERNS:
        match = pattern.match(text)
        if match:
            candidate = f"conv{match.group(1)}_{match.group(2)}"
            if candidate in LAYERS:
                return candidate
    raise PainterlyError(
        f"unknown layer {name!r}; valid layers are {', '.join(LAYERS)} "
        "(also accepted as block1_conv1 or relu1_1)"
    )


def deepest_layer(layers: Iterable[str]) -> str:
    """The deepest of ``layers`` in network order (conv1_1 when there are none): how far
    the network must run, and how far a position there sees."""
    return max(layers, key=LAYERS.index, default="conv1_1")


def layer_aliases(layer: str) -> tuple[str, str, str]:
    """The paper, Keras and neural-style names of a canonical layer name."""
    block, conv = layer[4], layer[6]
    return layer, f"block{block}_conv{conv}", f"relu{block}_{conv}"


def layer_channels(layer: str) -> int:
    """Number of feature channels of a (canonical) layer."""
    return BLOCK_CHANNELS[int(layer[4]) - 1]
