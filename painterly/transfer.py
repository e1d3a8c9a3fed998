"""A style transfer (Gatys et al., CVPR 2016), run stage by stage: ``stylize``.

image -> tensor -> features -> losses -> optimiser -> image: the photograph and the
paintings are checked, become each stage's targets (see :mod:`painterly.objective`),
and the pixels of a new image are optimised until its features match both, coarse to
fine, each stage starting from the last one's result.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from PIL import Image

from .allocator import keeping_freed_memory
from .arithmetic import resolved
from .color import with_chroma_of
from .cost import iteration_cost
from .devices import read_back, resolve_device, resolve_precision, uses_winograd
from .errors import PainterlyError
from .events import Checkpoint, Interrupted, Plan, PlannedStage, Progress, StopRequested
from .images import ImageSource, fit_long_side, fitted_size, load_image, to_pil, to_tensor
from .layers import MIN_SIDE, deepest_layer
from .memory import memory_limit, memory_needed, stage_tiles
from .objective import LossTerms
from .optimizers import LBFGS_HISTORY, LBFGS_TILED_HISTORY, Iterate, minimize
from .regions import check_masks, keep_photo, load_masks, stage_masks
from .settings import TransferSettings
from .stage import Evaluate, stage_objective
from .starts import stage_start
from .temporal import PreviousFrame
from .tiles import Split
from .tiling_plan import fit_tiling, stage_replays
from .timing import TIMED_ABOVE, estimate_seconds, seconds_per_pixel, stage_work
from .vgg import VGG19Features, load_extractor


@dataclass(frozen=True)
class Inputs:
    """A transfer's decoded pictures (8-bit RGB) and how messages name them."""

    photo: Image.Image
    paintings: Sequence[Image.Image]
    photo_name: str = "the content image"
    painting_names: Sequence[str] | None = None  # default: "the style image"
    start: Image.Image | None = None  # the image to start from, when settings.init names one
    masks: Sequence[Image.Image] | None = None  # one per painting, when settings.masks names them
    # A video's previous painted frame, carried to this one: the start of a one-stage
    # painting and the target of its temporal loss (painterly.video).
    previous: PreviousFrame | None = None


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: TransferSettings | None = None,
    callback: Callable[[Progress], None] | None = None,
    resume: Checkpoint | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    time_plan: bool = True,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (one painting or several, mixed by
    ``settings.style_blend``) and return the picture.

    Images are paths or PIL images; ``callback`` receives a :class:`Progress` after every
    iteration, and may raise :class:`StopRequested` to end the run early, which then
    raises :class:`Interrupted` carrying the picture so far and a :class:`Checkpoint`.
    ``resume`` continues from such a checkpoint (same inputs and settings). With several
    scales, each stage starts from the last one's result, upsampled. Raises
    :class:`PainterlyError` for bad input, with a one-line message naming the problem.
    ``on_plan`` receives the run's :class:`Plan` (stages, tiles, memory; for a print-size
    run with ``time_plan`` the time, after one timed pass of the network) before it starts.
    """
    settings = settings or TransferSettings()
    inputs = load_inputs(content, style, settings.max_input_pixels)
    if settings.init_file() is not None:
        inputs = replace(inputs, start=load_image(settings.init_file(), settings.max_input_pixels))
    return paint(inputs, settings, callback, resume, on_plan, time_plan)


def load_inputs(
    content: ImageSource, style: ImageSource | Sequence[ImageSource], max_pixels: int
) -> Inputs:
    """Decode the photo and the paintings (each refused over ``max_pixels``)."""
    styles = style_sources(style)
    if not styles:
        raise PainterlyError("give at least one painting")
    return Inputs(
        load_image(content, max_pixels),
        [load_image(painting, max_pixels) for painting in styles],
        _name(content, "content"),
        [_name(painting, "style") for painting in styles],
    )


def paint(
    inputs: Inputs,
    settings: TransferSettings,
    callback: Callable[[Progress], None] | None = None,
    resume: Checkpoint | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    time_plan: bool = True,
) -> Image.Image:
    """:func:`stylize` on pictures already decoded by :func:`painterly.images.load_image`."""
    blend = settings.normalized_style_blend(len(inputs.paintings))
    device = resolve_device(settings.device)
    sizes = settings.stage_sizes()
    _check_sides(inputs, settings)
    inputs = _prepared(inputs, settings, device)
    precision = resolved(settings.precision, device)
    dtype = resolve_precision(precision, device)
    winograd = uses_winograd(precision, device)
    plan = _plan(inputs, settings, device, precision)
    if resume is not None and not 0 <= resume.stage < len(sizes):
        raise PainterlyError(f"the checkpoint's stage {resume.stage} is not one of these settings'")
    extractor = load_extractor(settings.weights, settings.pooling, device, winograd)
    if on_plan is not None:  # once every input, the weights too, has been checked
        if time_plan and sizes[-1] > TIMED_ABOVE:
            plan = _timed(plan, extractor, settings, dtype, device,
                          resume.stage if resume is not None else 0)
        on_plan(plan)
    luminance_mode = settings.preserve_color == "luminance"
    counter = _ProgressCounter(callback, plan, settings, luminance_mode)
    full = to_tensor(fit_long_side(inputs.photo, sizes[-1])).to(device)
    finish = functools.partial(_finish, photo=full, masks=inputs.masks,
                               luminance_mode=luminance_mode)

    image: torch.Tensor | None = None
    for stage in range(resume.stage if resume is not None else 0, len(sizes)):
        size = sizes[stage]
        photo = full if size == sizes[-1] else to_tensor(fit_long_side(inputs.photo, size))
        counter.photo = photo = photo.to(device)  # for pictures of the run in luminance mode
        objective, target = stage_objective(
            extractor, photo, inputs.paintings, inputs.masks, inputs.previous, blend, settings,
            dtype, plan.stages[stage].tile, plan.stages[stage].split, plan.stages[stage].replay)
        state = None
        if resume is not None and stage == resume.stage:
            _check_resume(resume, target)
            start = resume.image.to(device, copy=True)  # (the caller's stays as it was)
            state, counter.done = resume.optimizer, resume.done
        else:
            start = stage_start(inputs.previous, inputs.start, settings, image, target)
        image = None  # (the last stage's result goes: a quarter of this one's)
        counter.stage, counter.size = stage, size
        tiled = plan.stages[stage].tile is not None
        try:
            with contextlib.nullcontext() if tiled else keeping_freed_memory():
                image = run_objective(objective, start, settings,
                                      plan.stages[stage].iterations, counter, state, tiled)
        except StopRequested:
            last = counter.last
            if last is None or last.image is None or last.checkpoint is None:
                raise
            raise Interrupted(finish(last.image), last, last.checkpoint()) from None
    assert image is not None
    return finish(image)


def _prepared(inputs: Inputs, settings: TransferSettings, device: torch.device) -> Inputs:
    """``inputs`` with their masks checked and made grey (files or pictures of any mode,
    whoever decoded them) and a video's previous frame, carried on the CPU, on
    ``device``."""
    if inputs.masks is not None or settings.masks is not None:
        masks = load_masks(settings.masks if inputs.masks is None else inputs.masks,
                           settings.max_input_pixels)
        check_masks(masks, settings.masks or ["the mask"] * len(masks),
                    len(inputs.paintings), inputs.photo.size)
        inputs = replace(inputs, masks=masks)
    if inputs.previous is not None:
        inputs = replace(inputs, previous=inputs.previous.to(device))
    return inputs


def _finish(image: torch.Tensor, photo: torch.Tensor, masks: Sequence[Image.Image] | None,
            luminance_mode: bool) -> Image.Image:
    """The picture at the final size (``photo``'s), in the chosen colour mode, the photo
    kept where no mask covers it."""
    image = _resize(image, photo)
    image = with_chroma_of(image, photo) if luminance_mode else image
    if masks is not None:
        image = keep_photo(image, photo, stage_masks(masks, photo))
    return to_pil(image)


def _timed(plan: Plan, extractor: VGG19Features, settings: TransferSettings,
           dtype: torch.dtype | None, device: torch.device, first: int) -> Plan:
    """``plan`` with the seconds its stages from ``first`` on will take, after one timed
    pass of the network."""
    deepest = deepest_layer(settings.layers_needed())
    per_pixel = seconds_per_pixel(extractor, deepest, dtype, device)
    return replace(plan, seconds=estimate_seconds(plan.stages[first:], deepest, per_pixel,
                                                  plan.keeps_memory))


def _plan(inputs: Inputs, settings: TransferSettings, device: torch.device,
          precision: str) -> Plan:
    """Each stage's size, iterations and tiles, and the memory they need in the concrete
    ``precision``: refused here, before any work, if it is more than the run may use."""
    dtype = resolve_precision(precision, device)
    winograd = uses_winograd(precision, device)
    painting_sizes = [painting.size for painting in inputs.paintings]
    tiling = fit_tiling(settings, inputs.photo.size, painting_sizes, device, dtype, winograd)
    tile, split, keep, replay = tiling
    tiles = stage_tiles(settings, inputs.photo.size, dtype, winograd, tile, split, keep)
    replays = stage_replays(tiling, tiles, settings.pooling, dtype, device, winograd)
    stages = []
    for stage, tiled, replayed in zip(settings.stages(), tiles, replays, strict=True):
        width, height = fitted_size(inputs.photo.size, stage.size)
        stages.append(PlannedStage(width, height, stage.iterations, tiled,
                                   split if tiled is not None else Split.NONE, replayed))
    memory = memory_needed(settings, inputs.photo.size, painting_sizes, dtype, winograd, tile,
                           split, keep, replay)
    return Plan(tuple(stages), memory, memory_limit(settings, device), keeps_memory=keep,
                precision=precision)


def _check_resume(resume: Checkpoint, target: torch.Tensor) -> None:
    """A checkpoint's image must be of the size its stage has with these inputs."""
    if resume.image.shape != target.shape[:1] + (3,) + target.shape[2:]:
        have, want = resume.image.shape[-2:], target.shape[-2:]
        raise PainterlyError(
            f"the checkpoint's image is {have[1]}x{have[0]} but stage {resume.stage} of "
            f"these settings paints {want[1]}x{want[0]}"
        )


def check_side(size: tuple[int, int], long_side: int, name: str) -> None:
    """Refuse a picture of ``size`` (w, h) that is too narrow for VGG19 once its long
    side is ``long_side``; arithmetic only, before any resize."""
    width, height = fitted_size(size, long_side)
    if min(width, height) < MIN_SIDE:
        raise PainterlyError(
            f"{name}: {width}x{height} px at size {long_side}; VGG19 needs at least "
            f"{MIN_SIDE} px on each side (the image is too narrow for this size)",
            setting="size",
        )


def _check_sides(inputs: Inputs, settings: TransferSettings) -> None:
    """Every stage's photo and paintings are big enough, before any work starts."""
    names = inputs.painting_names or ["the style image"] * len(inputs.paintings)
    for size in settings.stage_sizes():
        check_side(inputs.photo.size, size, inputs.photo_name)
        for painting, name in zip(inputs.paintings, names):
            check_side(painting.size, settings.style_long_side(size, max(painting.size)), name)


def _name(source: ImageSource, role: str) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else f"the {role} image"


def _resize(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` resized to the height and width of ``like`` (bicubic, kept in [0, 1])."""
    if image.shape[-2:] == like.shape[-2:]:
        return image
    resized = F.interpolate(image, size=like.shape[-2:], mode="bicubic", align_corners=False)
    return resized.clamp(0.0, 1.0)


def style_sources(style: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    """One painting or several, as a list."""
    return [style] if isinstance(style, (str, os.PathLike, Image.Image)) else list(style)


class _ProgressCounter:
    """Turns each stage's iterations into one count across all stages, with timing;
    keeps the latest Progress for a stop."""

    def __init__(self, callback: Callable[[Progress], None] | None, plan: Plan,
                 settings: TransferSettings, luminance: bool) -> None:
        self.callback = callback
        self.plan_stages = plan.stages
        self.iterations = sum(stage.iterations for stage in plan.stages)
        # Each stage's work per iteration, the pixels the network sees in it, and its
        # targets' work before its first, as the plan's time counts them.
        deepest = deepest_layer(settings.layers_needed())
        kept = plan.keeps_memory
        self.costs = [iteration_cost(s.height, s.width, s.tile, deepest, s.split, kept, s.replay)
                      for s in plan.stages]
        self.ends = list(itertools.accumulate(stage_work(s, deepest, kept) for s in plan.stages))
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

        # The closures refer to locals, not to self, which keeps the last Progress: a
        # cycle would hold the finished run's optimiser until the cycle collector ran.
        luminance = self.luminance

        def picture(photo: torch.Tensor | None = self.photo) -> Image.Image:
            image = step.image.detach()
            if luminance and photo is not None:
                image = with_chroma_of(image, photo)
            return to_pil(image)

        content, style, tv = read_back(terms.content, terms.style, terms.tv)
        self.last = Progress(
            iteration=self.done,
            iterations=self.iterations,
            size=self.size,
            total=step.loss,
            content=content,
            style=style,
            tv=tv,
            elapsed=time.perf_counter() - self.began,
            fraction=self._fraction(),
            image=step.image,
            checkpoint=checkpoint,
            picture=picture,
        )
        self.callback(self.last)


    def _fraction(self) -> float:
        """Share of the run's work done after ``done`` iterations, through this stage."""
        before = sum(stage.iterations for stage in self.plan_stages[: self.stage])
        earlier = self.ends[self.stage - 1] if self.stage > 0 else 0.0
        done_here = self.done - before + 1  # the targets, then each iteration
        return min(1.0, (earlier + done_here * self.costs[self.stage]) / self.ends[-1])


def run_objective(
    objective: Evaluate,
    start: torch.Tensor,
    settings: TransferSettings,
    iterations: int,
    on_iteration: Callable[[LossTerms, Iterate], None],
    resume: dict | None = None,
    tiled: bool = False,
) -> torch.Tensor:
    """Minimise ``objective`` from ``start``, which becomes the iterate (changed in
    place: no copy of a print-size picture), for ``iterations`` with the settings'
    optimiser (continuing from the optimiser state ``resume``); ``on_iteration(terms,
    step)`` gets the latest evaluated terms and the optimiser's iterate each iteration.
    ``tiled``: ``objective`` runs on tiles (a shorter L-BFGS history; no CUDA graph,
    which would hold every tile's activations at once)."""
    last: list[LossTerms] = []

    def loss_fn(image: torch.Tensor) -> torch.Tensor:
        terms = objective(image)
        last[:] = [terms]
        return terms.total

    return minimize(
        loss_fn,
        start,
        settings.optimizer,
        iterations,
        lambda step: on_iteration(last[0], step),
        settings.step,
        resume,
        LBFGS_TILED_HISTORY if tiled else LBFGS_HISTORY,
        graph=not tiled,
        overwrite=True,
    )
