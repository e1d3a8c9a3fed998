"""Style transfer (Gatys et al., CVPR 2016): settings, the objective, and ``stylize``.

image -> tensor -> features -> losses -> optimiser -> image: the photograph and the
painting become targets (content features, Gram matrices), and the pixels of a new image
are optimised until its features match both.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from PIL import Image

from .color import luminance, match_color_statistics, match_luminance, with_chroma_of
from .errors import PainterlyError, SettingsError
from .images import (
    MAX_INPUT_PIXELS,
    ImageSource,
    fit_long_side,
    fitted_size,
    load_image,
    to_pil,
    to_tensor,
)
from .layers import LAYERS, canonical_layer
from .losses import content_loss, gram_matrix, style_loss, tv_loss
from .memory import GB, available_bytes, check_fits, estimate_bytes
from .optimizers import OPTIMIZERS, Iterate, minimize
from .vgg import VGG19Features, load_extractor

DEFAULT_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
#: The smallest side VGG19's four pools leave at least one position for at conv5.
MIN_SIDE = 16
#: The automatic coarse-to-fine ladder halves the size down to no less than this.
AUTO_SCALE_MIN = 128
PRESERVE_COLOR = ("none", "luminance", "histogram")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TransferSettings:
    """Every setting of a style transfer; the CLI's options are built from these fields.

    Weights are relative: each loss term is a relative squared error (see
    :mod:`painterly.losses`), so ``content_weight`` and ``style_weight`` mean the same
    at every size. Layer names may be given in paper, Keras or neural-style form and
    are stored in paper form.
    """

    size: int = field(default=512, metadata={"help": "long side of the output in px"})
    iterations: int = field(
        default=100, metadata={"help": "optimiser iterations at each scale (default: 100)"}
    )
    content_layer: str = field(default="conv4_2", metadata={"help": "layer of the content loss"})
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS, metadata={"help": "layers of the style loss"}
    )
    style_layer_weights: tuple[float, ...] | None = field(
        default=None, metadata={"help": "one weight per style layer (default: all equal)"}
    )
    content_weight: float = field(default=1.0, metadata={"help": "alpha, weight of content"})
    style_weight: float = field(default=10.0, metadata={"help": "beta, weight of style"})
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
            "next (default: auto, halving down to 128 px; none: one stage)"
        },
    )
    optimizer: str = field(default="lbfgs", metadata={"help": "/".join(OPTIMIZERS)})
    step: float | None = field(
        default=None,
        metadata={"help": "step: multiplier of lbfgs steps (1), learning rate of adam (0.02), "
                  "first move of gd (0.05)"},
    )
    init: str = field(default="content", metadata={"help": "content, noise, or an image path"})
    seed: int = field(default=0, metadata={"help": "random seed (noise start)"})
    pooling: str = field(default="max", metadata={"help": "max or avg"})
    weights: str | None = field(
        default=None, metadata={"help": "VGG19 weights file (default: bundled)"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    precision: str = field(
        default="auto",
        metadata={"help": "the network's arithmetic: auto (bf16 where the device runs it "
                  "natively, else fp32), fp32 or bf16; losses are always fp32 (default: auto)"},
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
        _check_int(self, "size", minimum=MIN_SIDE)
        _check_int(self, "iterations", minimum=1)
        _check_int(self, "seed", minimum=0)
        _check_int(self, "max_input_pixels", minimum=1)
        if self.max_memory is not None and not (
            _is_number(self.max_memory) and math.isfinite(self.max_memory) and self.max_memory > 0
        ):
            raise SettingsError("max_memory", f"must be a positive number of GB, got "
                                f"{self.max_memory!r}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            _check_weight(name, getattr(self, name))
        if self.step is not None and not (_is_number(self.step) and self.step > 0):
            raise SettingsError("step", f"must be a positive number, got {self.step!r}")
        try:
            object.__setattr__(self, "content_layer", canonical_layer(self.content_layer))
        except PainterlyError as error:
            raise SettingsError("content_layer", str(error)) from None
        layers = (self.style_layers,) if isinstance(self.style_layers, str) else self.style_layers
        try:
            layers = tuple(canonical_layer(layer) for layer in layers)
        except PainterlyError as error:
            raise SettingsError("style_layers", str(error)) from None
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
        if not (_is_number(self.style_scale) and 0 < self.style_scale <= 16):
            raise SettingsError(
                "style_scale", f"must be a number above 0 and at most 16, got {self.style_scale!r}"
            )
        if self.style_size is not None:
            _check_int(self, "style_size", minimum=MIN_SIDE)
        if self.scales is not None:
            scales = tuple(self.scales)
            for value in scales:
                if not isinstance(value, int) or isinstance(value, bool) or value < MIN_SIDE:
                    raise SettingsError("scales", f"each must be an integer >= {MIN_SIDE}")
            if list(scales) != sorted(set(scales)) or (scales and scales[-1] >= self.size):
                raise SettingsError("scales", "must increase and stay below --size")
            object.__setattr__(self, "scales", scales)
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("pooling", ("max", "avg")),
            ("preserve_color", PRESERVE_COLOR),
            ("precision", PRECISIONS),
        ):
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    name, f"unknown value {getattr(self, name)!r}; use one of {', '.join(allowed)}"
                )
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise SettingsError("device", f"unknown device {self.device!r}; use auto, cpu or cuda")

    def stage_sizes(self) -> tuple[int, ...]:
        """Long side of each stage, coarse to fine, ending with ``size``."""
        if self.scales is not None:
            return (*self.scales, self.size)
        sizes = [self.size]
        while sizes[0] // 2 >= AUTO_SCALE_MIN:
            sizes.insert(0, sizes[0] // 2)
        return tuple(sizes)

    def normalized_style_blend(self, paintings: int) -> tuple[float, ...]:
        """One weight per painting, summing to 1; the count must match the blend's."""
        blend = self.style_blend or (1.0,) * paintings
        if len(blend) != paintings:
            raise SettingsError(
                "style_blend", f"got {len(blend)} weights for {paintings} paintings"
            )
        return tuple(weight / sum(blend) for weight in blend)

    def style_long_side(self, stage_size: int) -> int:
        """The painting's long side at a stage whose output's long side is ``stage_size``."""
        full = self.style_size if self.style_size is not None else self.style_scale * self.size
        return max(1, round(full * stage_size / self.size))

    def normalized_style_layer_weights(self) -> dict[str, float]:
        """Style layer -> weight, summing to 1 (equal when none were given)."""
        weights = self.style_layer_weights or (1.0,) * len(self.style_layers)
        total = sum(weights)
        return {layer: w / total for layer, w in zip(self.style_layers, weights)}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(settings: TransferSettings, name: str, minimum: int) -> None:
    value = getattr(settings, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SettingsError(name, f"must be an integer >= {minimum}, got {value!r}")


def _check_weight_list(settings: TransferSettings, name: str) -> tuple[float, ...]:
    """Check a list of weights (each >= 0, some > 0); store and return it as a tuple."""
    weights = tuple(getattr(settings, name))
    for weight in weights:
        _check_weight(name, weight)
    if sum(weights) <= 0:
        raise SettingsError(name, "at least one weight must be positive")
    object.__setattr__(settings, name, weights)
    return weights


def _check_weight(name: str, value: object) -> None:
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise SettingsError(name, f"must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class LossTerms:
    """The weighted objective and its unweighted parts, as 0-d tensors."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor


@dataclass(frozen=True)
class Progress:
    """What a callback learns after each iteration. Losses are unweighted distances."""

    iteration: int  # counted across all scales
    iterations: int
    size: int  # long side of the image being optimised now, px
    total: float
    content: float
    style: float
    tv: float
    elapsed: float  # seconds since the optimisation started
    # The current image, (1, 3, h, w) in [0, 1] at this scale's size (the luminance
    # image in luminance mode); shared with the optimiser: read it, don't keep it.
    image: torch.Tensor | None = field(default=None, repr=False, compare=False)
    # Where the run stands, to continue it later with stylize(resume=...); builds (and
    # copies the image) only when called, and only valid during the callback.
    checkpoint: Callable[[], Checkpoint] | None = field(default=None, repr=False, compare=False)
    # The picture as it looks now, at this scale's size and in the chosen colour mode
    # (the photo's chroma put back in luminance mode); only valid during the callback.
    picture: Callable[[], Image.Image] | None = field(default=None, repr=False, compare=False)

    def numbers(self) -> Progress:
        """This progress without the image and callables: safe to keep or pickle."""
        return replace(self, image=None, checkpoint=None, picture=None)


@dataclass(frozen=True)
class Checkpoint:
    """Enough to continue a transfer to the result an uninterrupted run gives (with the
    same inputs and settings)."""

    stage: int  # index into settings.stage_sizes()
    done: int  # iterations finished, across all stages
    image: torch.Tensor  # (1, 3, h, w) the iterate at this stage's size, on the CPU
    optimizer: dict  # the optimiser's state (see optimizers.minimize's resume)


class StopRequested(Exception):
    """Raise this from a progress callback to stop a run; :func:`stylize` then raises
    :class:`Interrupted` with the picture so far."""


class Interrupted(Exception):
    """A run stopped by its callback: the picture so far, and where it stood."""

    def __init__(self, picture: Image.Image, progress: Progress, checkpoint: Checkpoint) -> None:
        super().__init__(f"stopped at iteration {progress.iteration} of {progress.iterations}")
        self.picture = picture
        self.progress = progress
        self.checkpoint = checkpoint


@dataclass(frozen=True)
class Objective:
    """content_weight * content + style_weight * sum_l w_l style_l + tv_weight * tv.

    A term whose weight is zero is not computed, and the network runs only as deep as
    the deepest layer a computed term needs.
    """

    extractor: VGG19Features
    content_layer: str
    content_target: torch.Tensor | None  # (1, C, H, W) features of the photograph
    style_grams: dict[str, torch.Tensor]  # layer -> (C, C) Gram matrix of the painting
    style_layer_weights: dict[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    # The network's arithmetic under autocast (torch.bfloat16), or None for fp32.
    compute_dtype: torch.dtype | None = None

    def layers(self) -> set[str]:
        needed = set(self.style_grams) if self.style_weight > 0 else set()
        if self.content_weight > 0 and self.content_target is not None:
            needed.add(self.content_layer)
        return needed

    def __call__(self, image: torch.Tensor) -> LossTerms:
        features = extract(self.extractor, image, self.layers(), self.compute_dtype)
        zero = image.new_zeros(())
        content = zero
        if self.content_layer in features and self.content_target is not None:
            content = content_loss(features[self.content_layer], self.content_target)
        style = zero
        if self.style_weight > 0:
            for layer, gram in self.style_grams.items():
                style = style + self.style_layer_weights[layer] * style_loss(features[layer], gram)
        tv = tv_loss(image) if self.tv_weight > 0 else zero
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return LossTerms(total, content, style, tv)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; a CUDA device that is absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingsError("device", f"unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SettingsError("device", f"{name} requested but no CUDA device is available")
        if device.index is not None and device.index >= count:
            raise SettingsError("device", f"{name} requested but there are only {count} GPUs")
    return device


def build_objective(
    extractor: VGG19Features,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    settings: TransferSettings,
) -> Objective:
    """Targets from the photograph and paintings (each (1, 3, H, W), sizes may differ),
    and the weights. Several paintings' Gram matrices are mixed by the style blend."""
    blend = settings.normalized_style_blend(len(styles))
    dtype = resolve_precision(settings.precision, content.device)
    with torch.no_grad():
        layer = settings.content_layer
        content_target = extract(extractor, content, [layer], dtype)[layer]
        grams: dict[str, torch.Tensor] = {}
        for weight, style in zip(blend, styles):
            features = extract(extractor, style, settings.style_layers, dtype)
            for layer in settings.style_layers:
                gram = weight * gram_matrix(features[layer])
                grams[layer] = grams[layer] + gram if layer in grams else gram
    return Objective(
        extractor=extractor,
        content_layer=settings.content_layer,
        content_target=content_target,
        style_grams=grams,
        style_layer_weights=settings.normalized_style_layer_weights(),
        content_weight=settings.content_weight,
        style_weight=settings.style_weight,
        tv_weight=settings.tv_weight,
        compute_dtype=dtype,
    )


def extract(
    extractor: VGG19Features,
    image: torch.Tensor,
    layers: Iterable[str],
    dtype: torch.dtype | None,
) -> dict[str, torch.Tensor]:
    """Features of ``image`` with the network run in ``dtype`` (None: fp32), returned
    in that dtype. The losses take it from there: each one does its sums in at least
    fp32, and a Gram matrix keeps its fast bfloat16 products with fp32 accumulation.
    Targets and iterates go through here alike, so the photo's own content loss is
    exactly 0."""
    with torch.autocast(image.device.type, dtype=dtype, enabled=dtype is not None):
        return extractor(image, layers)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting on a device (None: plain fp32)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_native_bf16() else None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (avx512_bf16 or AMX on x86-64)."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        # Not oneDNN's own check: that one is also true on plain AVX-512, where oneDNN
        # emulates bf16 at 3-4x the time of fp32 (measured on an Intel Xeon without it).
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()  # aarch64: the CPU's bf16 flag


def start_image(content: torch.Tensor, settings: TransferSettings) -> torch.Tensor:
    """The image the optimisation starts from: the photograph, noise, or a given image."""
    if settings.init == "content":
        return content.clone()
    if settings.init == "noise":
        generator = torch.Generator().manual_seed(settings.seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    height, width = content.shape[-2:]
    image = load_image(settings.init, settings.max_input_pixels)
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    return to_tensor(image).to(content.device)


def fit_checked(image: Image.Image, size: int, name: str) -> Image.Image:
    """Resize so that the long side is ``size``; refuse a result too small for VGG19."""
    resized = fit_long_side(image, size)
    if min(resized.size) < MIN_SIDE:
        raise PainterlyError(
            f"{name}: {resized.width}x{resized.height} px at size {size}; VGG19 needs at "
            f"least {MIN_SIDE} px on each side (the image is too narrow for this size)"
        )
    return resized


def _name(source: ImageSource, role: str) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else f"the {role} image"


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: TransferSettings | None = None,
    callback: Callable[[Progress], None] | None = None,
    resume: Checkpoint | None = None,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (one painting or several, mixed by
    ``settings.style_blend``) and return the picture.

    Images are paths or PIL images; ``callback`` receives a :class:`Progress` after every
    iteration, and may raise :class:`StopRequested` to end the run early, which then
    raises :class:`Interrupted` carrying the picture so far and a :class:`Checkpoint`.
    ``resume`` continues from such a checkpoint (same inputs and settings). With several
    scales, each stage starts from the last one's result, upsampled. Raises
    :class:`PainterlyError` for bad input, with a one-line message naming the problem.
    """
    settings = settings or TransferSettings()
    styles = style_sources(style)
    if not styles:
        raise PainterlyError("give at least one painting")
    settings.normalized_style_blend(len(styles))  # a wrong count fails before any work
    device = resolve_device(settings.device)
    photo = load_image(content, settings.max_input_pixels)
    paintings = [load_image(painting, settings.max_input_pixels) for painting in styles]
    sizes = settings.stage_sizes()
    for size in sizes:  # every stage's inputs are checked before any work starts
        fit_checked(photo, size, _name(content, "content"))
        for source, painting in zip(styles, paintings):
            fit_checked(painting, settings.style_long_side(size), _name(source, "style"))
    check_memory(settings, photo.size, [p.size for p in paintings], device)
    if resume is not None and not 0 <= resume.stage < len(sizes):
        raise PainterlyError(f"the checkpoint's stage {resume.stage} is not one of these settings'")
    extractor = load_extractor(settings.weights, settings.pooling, device)
    counter = _ProgressCounter(
        callback, settings.iterations * len(sizes), settings.preserve_color == "luminance"
    )

    def finish(image: torch.Tensor) -> Image.Image:
        """The picture at the final size, in the chosen colour mode."""
        full = to_tensor(fit_long_side(photo, sizes[-1])).to(device)
        image = _resize(image, full)
        if settings.preserve_color == "luminance":
            image = with_chroma_of(image, full)
        return to_pil(image)

    image: torch.Tensor | None = None
    for stage, size in enumerate(sizes):
        if resume is not None and stage < resume.stage:
            continue
        content_tensor = to_tensor(fit_long_side(photo, size)).to(device)
        style_tensors = [
            to_tensor(fit_long_side(painting, settings.style_long_side(size))).to(device)
            for painting in paintings
        ]
        counter.photo = content_tensor  # for pictures of the run in luminance mode
        content_tensor, style_tensors = _prepare_colors(
            content_tensor, style_tensors, settings.preserve_color
        )
        objective = build_objective(extractor, content_tensor, style_tensors, settings)
        state = None
        if resume is not None and stage == resume.stage:
            start, state, counter.done = resume.image.to(device), resume.optimizer, resume.done
        elif image is None:
            start = start_image(content_tensor, settings)
        else:
            start = _resize(image, content_tensor)
        counter.stage, counter.size = stage, size
        try:
            image = run_objective(objective, start, settings, counter, state)
        except StopRequested:
            last = counter.last
            if last is None or last.image is None or last.checkpoint is None:
                raise
            raise Interrupted(finish(last.image), last, last.checkpoint()) from None
    assert image is not None
    return finish(image)


def memory_needed(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    device: torch.device,
) -> int:
    """Estimated peak bytes of a transfer of a photo and paintings of these (w, h) sizes."""

    def pixels(size: tuple[int, int], long_side: int) -> int:
        width, height = fitted_size(size, long_side)
        return width * height

    sizes = settings.stage_sizes()
    stages = [pixels(photo_size, size) for size in sizes]
    # The constants were measured with a painting as large as the photo. A larger one
    # only goes forward, without gradients: count its excess at a quarter.
    painting = max(pixels(p, settings.style_long_side(sizes[-1])) for p in painting_sizes)
    extra = max(0, painting - stages[-1]) // 4
    layers = []
    if settings.style_weight > 0:
        layers += settings.style_layers
    if settings.content_weight > 0:
        layers.append(settings.content_layer)
    deepest = max(layers or ["conv1_1"], key=LAYERS.index)
    dtype = resolve_precision(settings.precision, device)
    return estimate_bytes([*stages[:-1], stages[-1] + extra], deepest, dtype, settings.optimizer)


def check_memory(
    settings: TransferSettings,
    photo_size: tuple[int, int],
    painting_sizes: Sequence[tuple[int, int]],
    device: torch.device,
) -> None:
    """Refuse a run whose estimated memory is over ``settings.max_memory`` (or what the
    device has available), naming the largest ``size`` that fits."""
    if settings.max_memory is not None:
        limit, source = int(settings.max_memory * GB), "--max-memory"
    else:
        limit, source = available_bytes(device), f"this machine's free {device.type} memory"
    needed = memory_needed(settings, photo_size, painting_sizes, device)
    largest = None
    if needed > limit:
        def fits(size: int) -> bool:
            scales = None if settings.scales is None else tuple(
                s for s in settings.scales if s < size)
            smaller = replace(settings, size=size, scales=scales)
            return memory_needed(smaller, photo_size, painting_sizes, device) <= limit

        low, high = MIN_SIDE, settings.size - 1  # the largest size that fits is in here
        if fits(low):
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if fits(middle) else (low, middle - 1)
            largest = low
    check_fits(needed, limit, largest, source)


def _resize(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` resized to the height and width of ``like`` (bicubic, kept in [0, 1])."""
    if image.shape[-2:] == like.shape[-2:]:
        return image
    resized = F.interpolate(image, size=like.shape[-2:], mode="bicubic", align_corners=False)
    return resized.clamp(0.0, 1.0)


def style_sources(style: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    """One painting or several, as a list."""
    return [style] if isinstance(style, (str, os.PathLike, Image.Image)) else list(style)


def _prepare_colors(
    content: torch.Tensor, styles: list[torch.Tensor], mode: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The photo and paintings as the chosen colour mode optimises them."""
    if mode == "histogram":
        return content, [match_color_statistics(s, content).clamp(0.0, 1.0) for s in styles]
    if mode == "luminance":
        content_luma = luminance(content)
        return content_luma, [match_luminance(luminance(s), content_luma) for s in styles]
    return content, styles


class _ProgressCounter:
    """Turns each stage's iterations into one count across all stages, with timing;
    keeps the latest Progress for a stop."""

    def __init__(
        self, callback: Callable[[Progress], None] | None, iterations: int, luminance: bool
    ) -> None:
        self.callback = callback
        self.iterations = iterations
        self.luminance = luminance
        self.photo: torch.Tensor | None = None  # this stage's photo, in colour
        self.done = 0
        self.stage = 0
        self.size = 0
        self.began = time.perf_counter()
        self.last: Progress | None = None

    def __call__(self, terms: LossTerms, step: Iterate) -> None:
        self.done += 1
        if self.callback is None:
            return
        stage, done = self.stage, self.done

        def checkpoint() -> Checkpoint:
            return Checkpoint(stage, done, step.image.detach().cpu().clone(), step.state())

        def picture(photo: torch.Tensor | None = self.photo) -> Image.Image:
            image = step.image.detach()
            if self.luminance and photo is not None:
                image = with_chroma_of(image, photo)
            return to_pil(image)

        self.last = Progress(
            iteration=self.done,
            iterations=self.iterations,
            size=self.size,
            total=step.loss,
            content=float(terms.content.detach()),
            style=float(terms.style.detach()),
            tv=float(terms.tv.detach()),
            elapsed=time.perf_counter() - self.began,
            image=step.image,
            checkpoint=checkpoint,
            picture=picture,
        )
        self.callback(self.last)


def run_objective(
    objective: Objective,
    start: torch.Tensor,
    settings: TransferSettings,
    on_iteration: Callable[[LossTerms, Iterate], None],
    resume: dict | None = None,
) -> torch.Tensor:
    """Minimise ``objective`` from ``start`` with the settings' optimiser and iteration
    count (continuing from the optimiser state ``resume``); ``on_iteration(terms, step)``
    gets the latest evaluated terms and the optimiser's iterate each iteration."""
    last: list[LossTerms] = []

    def loss_fn(image: torch.Tensor) -> torch.Tensor:
        terms = objective(image)
        last[:] = [terms]
        return terms.total

    return minimize(
        loss_fn,
        start,
        settings.optimizer,
        settings.iterations,
        lambda step: on_iteration(last[0], step),
        settings.step,
        resume,
    )
