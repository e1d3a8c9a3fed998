"""Settings of a run: frozen dataclasses shared by the API, the CLI and the studio.

Each value is checked here, once, when the settings are made, and raises
:class:`~painterly.errors.SettingsError` naming the field; the engine trusts what it is
given. The CLI builds its options from these fields (help text and defaults included).
:class:`RunSettings` holds what every optimisation shares; :class:`TransferSettings`
adds the painting, :class:`ReconstructSettings` the report's one-layer reconstructions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from .checks import check_choice, check_weight, check_whole, is_number, is_whole, sequence
from .errors import PainterlyError, SettingsError
from .images import MAX_INPUT_PIXELS
from .layers import LAYERS, MIN_SIDE, canonical_layer
from .optimizers import OPTIMIZERS
from .schedule import DETAIL_ABOVE, QUALITIES, Stage, plan
from .style_targets import STYLE_LOSSES

DEFAULT_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
#: The automatic coarse-to-fine ladder halves the size down to no less than this (past
#: the largest settled stage, a quarter: TransferSettings.stage_sizes).
AUTO_SCALE_MIN = 128
#: Stages up to this size see the painting scaled with them, however small it is; larger
#: ones give their brushwork layers the painting at no more than its own size
#: (TransferSettings.style_long_side, painterly.stage).
NATIVE_FROM = 512
#: The smallest --tile: below it the margins around each tile cost more than the tile.
MIN_TILE = 64
PRESERVE_COLOR = ("none", "luminance", "histogram")
PRECISIONS = ("auto", "fp32", "winograd", "bf16")
POOLINGS = ("max", "avg")
TARGETS = ("content", "style")
#: torch's generators take seeds below 2**64; the largest signed 64-bit value is plenty.
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class RunSettings:
    """What every optimisation over an image's pixels shares: its size and length, the
    optimiser, the network, where it runs, and the limits that refuse it early."""

    size: int = field(default=512, metadata={"help": "long side of the output in px"})
    iterations: int | None = field(
        default=100,
        metadata={"help": "optimiser iterations at each scale (transfer's default: from "
                  "--quality)"},
    )
    optimizer: str = field(default="lbfgs", metadata={"help": "/".join(OPTIMIZERS)})
    step: float | None = field(
        default=None,
        metadata={"help": "step: multiplier of lbfgs steps (1), learning rate of adam (0.02), "
                  "first move of gd (0.05)"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the noise start"})
    pooling: str = field(default="max", metadata={"help": "max or avg"})
    weights: str | None = field(
        default=None, metadata={"help": "VGG19 weights file (default: bundled)"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    precision: str = field(
        default="auto",
        metadata={"help": "the network's arithmetic: auto (on a GPU bf16 where it is "
                  "supported, else fp32; on a CPU whichever of fp32, winograd and bf16 runs "
                  "the network fastest, measured once a machine: a CPU's bf16 instructions "
                  "are not always the faster), fp32 (direct convolutions), winograd (fp32, "
                  "by Winograd's method on the CPU, relative error ~1e-5 a layer), or bf16; "
                  "losses are always fp32 (default: auto)"},
    )
    max_input_pixels: int = field(
        default=MAX_INPUT_PIXELS,
        metadata={"help": "refuse input images with more pixels than this, before decoding"},
    )
    max_memory: float | None = field(
        default=None,
        metadata={"help": "GB the run may use; refused before it starts if the estimate is "
                  "over (default: the memory available now)"},
    )

    def __post_init__(self) -> None:
        check_whole("size", self.size, MIN_SIDE)
        if self.iterations is not None:  # None: a transfer's from its quality
            check_whole("iterations", self.iterations, 1)
        check_whole("seed", self.seed, 0)
        if self.seed > MAX_SEED:
            raise SettingsError("seed", f"must be at most {MAX_SEED}, got {self.seed}")
        check_whole("max_input_pixels", self.max_input_pixels, 1)
        if self.max_memory is not None and not (
            is_number(self.max_memory) and math.isfinite(self.max_memory) and self.max_memory > 0
        ):
            raise SettingsError("max_memory", f"must be a positive number of GB, got "
                                f"{self.max_memory!r}")
        if self.step is not None and not (
            is_number(self.step) and math.isfinite(self.step) and self.step > 0
        ):
            raise SettingsError("step", f"must be a positive number, got {self.step!r}")
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("pooling", POOLINGS),
            ("precision", PRECISIONS),
        ):
            check_choice(name, getattr(self, name), allowed)
        _check_device(self.device)
        if self.weights is not None and not (isinstance(self.weights, str) and self.weights):
            raise SettingsError("weights", f"must be a file path, got {self.weights!r}")


def with_default(base: type, name: str, default: object) -> object:
    """A subclass's field ``name`` with another default, keeping the base's help."""
    (base_field,) = (f for f in fields(base) if f.name == name)
    return field(default=default, metadata=base_field.metadata)


@dataclass(frozen=True)
class TransferSettings(RunSettings):
    """Every setting of a style transfer; the CLI's options are built from these fields.

    Weights are relative: each loss term is a relative squared error (see
    :mod:`painterly.losses`), so ``content_weight`` and ``style_weight`` mean the same
    at every size. Layer names may be given in paper, Keras or neural-style form and
    are stored in paper form.
    """

    quality: str = field(
        default="normal",
        metadata={"help": "draft (a quick preview), normal or fine (slower, closer to both "
                  "photo and painting): how many iterations each scale gets"},
    )
    iterations: int | None = with_default(RunSettings, "iterations", None)  # type: ignore[assignment]
    content_layer: str = field(default="conv4_2", metadata={"help": "layer of the content loss"})
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS, metadata={"help": "layers of the style loss"}
    )
    style_layer_weights: tuple[float, ...] | None = field(
        default=None, metadata={"help": "one weight per style layer (default: all equal)"}
    )
    style_loss: str = field(
        default="swd",
        metadata={"help": "what of the painting's responses to match: swd (their whole "
                  "distributions, sliced Wasserstein: the painting's textures and palette), "
                  "gram (their Gram matrices, Gatys et al.), w2 (means and covariances, "
                  "Wasserstein-2)"},
    )
    content_weight: float = field(default=1.0, metadata={"help": "alpha, weight of content"})
    style_weight: float = field(default=9.0, metadata={"help": "beta, weight of style"})
    tv_weight: float = field(default=0.0, metadata={"help": "weight of total variation"})
    style_blend: tuple[float, ...] | None = field(
        default=None,
        metadata={"help": "one weight per painting, normalized (default: all equal)"},
    )
    style_scale: float = field(
        default=1.0,
        metadata={"help": "painting's long side relative to the output's; >1: bigger strokes"},
    )
    style_size: int | None = field(
        default=None,
        metadata={"help": "painting's long side in px at full size (default: from --style-scale)"},
    )
    preserve_color: str = field(
        default="none",
        metadata={"help": "none; luminance: style on luminance only, the photo's chroma kept; "
                  "histogram: the painting recoloured to the photo's colour statistics first"},
    )
    scales: tuple[int, ...] | None = field(
        default=None,
        metadata={
            "help": "long sides of coarser stages run before --size, each starting the "
            "next (default: auto, halving down to 128 px, but that the largest stage up to "
            "1024 px is followed by one four times its side, e.g. 1024, 4096; none: one "
            "stage)"
        },
    )
    masks: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "one mask image per painting, white where that painting applies "
                  "(grey: partly; soft edges blend); where no mask is white the photo stays "
                  "(default: every painting everywhere)"},
    )
    init: str = field(default="content", metadata={"help": "content, noise, or an image path"})
    tile: int | None = field(
        default=None,
        metadata={"help": "let the network see at most TILE x TILE px at once: a larger picture "
                  "is evaluated tile by tile, with the same result and a tile's memory "
                  "(default: tiles only when the whole picture would not fit --max-memory)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("quality", self.quality, QUALITIES)
        check_choice("style_loss", self.style_loss, STYLE_LOSSES)
        for name in ("content_weight", "style_weight", "tv_weight"):
            check_weight(name, getattr(self, name))
        object.__setattr__(self, "content_layer", _layer(self.content_layer, "content_layer"))
        layers = tuple(_layer(layer, "style_layers")
                       for layer in sequence("style_layers", self.style_layers))
        if not layers:
            raise SettingsError("style_layers", "give at least one layer")
        if len(set(layers)) != len(layers):
            raise SettingsError("style_layers", "a layer is named twice")
        object.__setattr__(self, "style_layers", layers)
        if self.style_layer_weights is not None:
            weights = _check_weight_list(self, "style_layer_weights")
            if len(weights) != len(layers):
                raise SettingsError(
                    "style_layer_weights",
                    f"got {len(weights)} weights for {len(layers)} style layers",
                )
        if self.style_blend is not None:
            _check_weight_list(self, "style_blend")
        if not (is_number(self.style_scale) and 0 < self.style_scale <= 16):
            raise SettingsError(
                "style_scale", f"must be a number above 0 and at most 16, got {self.style_scale!r}"
            )
        if self.style_size is not None:
            check_whole("style_size", self.style_size, MIN_SIDE)
        if self.scales is not None:
            scales = sequence("scales", self.scales)
            for value in scales:
                if not is_whole(value, MIN_SIDE):
                    raise SettingsError("scales", f"each must be a whole number >= {MIN_SIDE}")
            if list(scales) != sorted(set(scales)) or (scales and scales[-1] >= self.size):
                raise SettingsError("scales", "must increase and stay below size")
            object.__setattr__(self, "scales", scales)
        check_choice("preserve_color", self.preserve_color, PRESERVE_COLOR)
        if self.tile is not None:
            check_whole("tile", self.tile, MIN_TILE)
        if self.masks is not None:
            masks = sequence("masks", self.masks)
            if not masks or not all(isinstance(mask, str) and mask for mask in masks):
                raise SettingsError("masks", f"expected image paths, got {self.masks!r}")
            object.__setattr__(self, "masks", masks)
        if not isinstance(self.init, str) or not self.init:
            raise SettingsError("init", f"must be content, noise or an image path, got "
                                f"{self.init!r}")

    def init_file(self) -> str | None:
        """The start image's path, when ``init`` names one (not content or noise)."""
        return None if self.init in ("content", "noise") else self.init

    def input_files(self) -> dict[str, list[str]]:
        """The image files these settings name, by role (``init``, ``masks``): inputs
        of the run besides the photo and paintings."""
        files = {"init": [self.init_file()] if self.init_file() else [],
                 "masks": list(self.masks or ())}
        return {role: paths for role, paths in files.items() if paths}

    def stage_sizes(self) -> tuple[int, ...]:
        """Long side of each stage, coarse to fine, ending with ``size``: each half the
        next down to AUTO_SCALE_MIN, but the largest settled stage (up to DETAIL_ABOVE)
        is followed by one four times its side (1024 -> 4096 px): a 2048 px stage between
        took 12% of a 4096 px run for strokes crisper only under a magnifier."""
        if self.scales is not None:
            return (*self.scales, self.size)
        sizes = [self.size]
        while sizes[0] // 2 >= AUTO_SCALE_MIN:
            quarter = sizes[0] // 2 > DETAIL_ABOVE >= sizes[0] // 4
            sizes.insert(0, sizes[0] // (4 if quarter else 2))
        return tuple(sizes)

    def stages(self) -> tuple[Stage, ...]:
        """Each stage's size and iterations, coarse to fine: ``iterations`` at every
        stage when it is set, else the quality's schedule."""
        return plan(self.stage_sizes(), self.quality, self.iterations)

    def normalized_style_blend(self, paintings: int) -> tuple[float, ...]:
        """One weight per painting, summing to 1; the count must match the blend's."""
        blend = self.style_blend or (1.0,) * paintings
        if len(blend) != paintings:
            raise SettingsError(
                "style_blend", f"got {len(blend)} weights for {paintings} paintings"
            )
        return tuple(weight / sum(blend) for weight in blend)

    def style_long_side(self, stage_size: int, native: int | None = None) -> int:
        """The painting's long side at a stage whose output's long side is ``stage_size``,
        for a painting whose own long side is ``native`` px (None: unlimited).

        ``style_scale`` sizes the painting relative to the output; given ``native``, up
        to the painting's own size (or NATIVE_FROM px, for a smaller painting): beyond
        it, upscaling would only blur its brushwork, so a larger stage gives its brushwork
        layers the painting at ``style_scale`` times that size. An explicit
        ``style_size`` is followed as given, scaled with the stages."""
        if self.style_size is not None:
            return max(1, round(self.style_size * stage_size / self.size))
        output = stage_size if native is None else min(stage_size, max(native, NATIVE_FROM))
        return max(1, round(self.style_scale * output))

    def normalized_style_layer_weights(self) -> dict[str, float]:
        """Style layer -> weight, summing to 1 (equal when none were given)."""
        weights = self.style_layer_weights or (1.0,) * len(self.style_layers)
        total = sum(weights)
        return {layer: w / total for layer, w in zip(self.style_layers, weights)}

    def layers_needed(self) -> frozenset[str]:
        """The layers whose features the objective uses: a term whose weight is zero
        needs none, and the network runs only as deep as the deepest of these."""
        needed = set(self.style_layers) if self.style_weight > 0 else set()
        if self.content_weight > 0:
            needed.add(self.content_layer)
        return frozenset(needed)


@dataclass(frozen=True)
class ReconstructSettings(RunSettings):
    """Settings of a reconstruction from one layer's content or style features: the
    transfer objective with the other term off, from white noise, at one scale."""

    size: int = with_default(RunSettings, "size", 256)  # type: ignore[assignment]
    iterations: int = with_default(RunSettings, "iterations", 300)  # type: ignore[assignment]
    target: str = field(default="content", metadata={"help": "content or style"})
    layer: str = field(default="conv4_2", metadata={"help": "the layer to reconstruct from"})
    up_to: bool = field(
        default=False,
        metadata={"help": "style: use conv1_1, conv2_1, ... up to --layer, as in Figure 1"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_whole("iterations", self.iterations, 1)
        check_choice("target", self.target, TARGETS)
        object.__setattr__(self, "layer", _layer(self.layer, "layer"))
        if not isinstance(self.up_to, bool):
            raise SettingsError("up_to", f"must be true or false, got {self.up_to!r}")

    def style_layers(self) -> tuple[str, ...]:
        """The layers whose Gram matrices a style reconstruction matches."""
        if not self.up_to:
            return (self.layer,)
        depth = LAYERS.index(self.layer)
        earlier = tuple(layer for layer in DEFAULT_STYLE_LAYERS if LAYERS.index(layer) < depth)
        return (*earlier, self.layer)

    def transfer_settings(self) -> TransferSettings:
        """The transfer objective with the other term off, from noise, at one scale."""
        content = self.target == "content"
        shared = {f.name: getattr(self, f.name) for f in fields(RunSettings)}
        return TransferSettings(
            **shared,
            content_layer=self.layer if content else "conv4_2",
            style_layers=DEFAULT_STYLE_LAYERS if content else self.style_layers(),
            content_weight=1.0 if content else 0.0,
            style_weight=0.0 if content else 1.0,
            style_loss="gram",  # the paper's Figure 1 matches Gram matrices
            scales=(),
            init="noise",
        )


def _check_weight_list(settings: RunSettings, name: str) -> tuple[float, ...]:
    """Check a list of weights (each >= 0, some > 0); store and return it as a tuple."""
    weights = sequence(name, getattr(settings, name))
    for weight in weights:
        check_weight(name, weight)
    if sum(weights) <= 0:
        raise SettingsError(name, "at least one weight must be positive")
    object.__setattr__(settings, name, weights)
    return weights


def _layer(name: object, setting: str) -> str:
    if not isinstance(name, str):
        raise SettingsError(setting, f"expected a layer name, got {name!r}")
    try:
        return canonical_layer(name)
    except PainterlyError as error:
        raise SettingsError(setting, str(error)) from None


def _check_device(name: object) -> None:
    """auto, cpu, cuda or cuda:N; whether that device is present is asked at run time."""
    unknown = SettingsError("device", f"unknown device {name!r}; use auto, cpu or cuda")
    if name == "auto":
        return
    if not isinstance(name, str):
        raise unknown
    try:
        device = torch.device(name)
    except RuntimeError:
        raise unknown from None
    if device.type not in ("cpu", "cuda"):
        raise unknown
