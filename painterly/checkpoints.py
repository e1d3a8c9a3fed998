"""Checkpoint files: a transfer's recipe and where it stood, to resume it later.

A checkpoint is a ``torch.save`` dict (loaded with ``weights_only=True``, so opening one
runs no code): the recipe (settings, and each input's path and SHA-256), the output path,
how often to checkpoint, and a :class:`painterly.transfer.Checkpoint`'s fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checks import is_whole
from .errors import PainterlyError
from .events import Checkpoint
from .outputs import atomic_write, check_output_path
from .recipes import check_recipe
from .untrusted import regular_file, shown

FORMAT = "painterly-checkpoint-1"
SUFFIXES = (".ckpt", ".pt")


@dataclass(frozen=True)
class CheckpointFile:
    """What a checkpoint file holds."""

    recipe: dict
    output: str
    every: int
    checkpoint: Checkpoint


def check_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """Fail before any work if a checkpoint cannot be written at ``path``."""
    return check_output_path(path, SUFFIXES)


def write_checkpoint(path: str | os.PathLike[str], saved: CheckpointFile) -> Path:
    """Write ``saved`` to ``path`` atomically: an interrupted write leaves the old one."""
    state = {
        "format": FORMAT,
        "recipe": saved.recipe,
        "output": saved.output,
        "every": saved.every,
        "stage": saved.checkpoint.stage,
        "done": saved.checkpoint.done,
        "image": saved.checkpoint.image,
        "optimizer": saved.checkpoint.optimizer,
    }
    return atomic_write(path, lambda handle: torch.save(state, handle))


def read_checkpoint(path: str | os.PathLike[str]) -> CheckpointFile:
    """Load a checkpoint file; PainterlyError naming the file if it is not one."""
    regular_file(path, "checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file that is not its own
        kind = type(error).__name__
        raise PainterlyError(f"{shown(path)}: not a painterly checkpoint ({kind})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PainterlyError(f"{shown(path)}: not a painterly checkpoint")
    _check_state(state, path)
    return CheckpointFile(
        recipe=state["recipe"],
        output=state["output"],
        every=state["every"],
        checkpoint=Checkpoint(state["stage"], state["done"], state["image"], state["optimizer"]),
    )


def _optimizer_state(value: object) -> bool:
    """The shape of ``minimize``'s resume state: iteration, step, the method's own."""
    if not isinstance(value, dict):
        return False
    iteration, step = value.get("iteration"), value.get("step")
    return (isinstance(iteration, int) and not isinstance(iteration, bool) and iteration >= 0
            and (step is None or (isinstance(step, float | int) and step > 0))
            and (value.get("optimizer") is None or isinstance(value.get("optimizer"), dict)))


def _check_state(state: dict, path: object) -> None:
    """Refuse a checkpoint (untrusted) whose fields are not of the shape painterly
    writes; the settings themselves are checked when the recipe is turned into them."""

    def count(name: str, minimum: int) -> bool:
        return is_whole(state.get(name), minimum)

    check_recipe(state.get("recipe"), path)
    image = state.get("image")
    problems = [
        (not isinstance(state.get("output"), str), "no output path"),
        (not count("every", 1), "'every' must be a whole number >= 1"),
        (not (count("stage", 0) and count("done", 0)), "no stage or iteration count"),
        (not (isinstance(image, torch.Tensor) and image.dtype == torch.float32
              and image.dim() == 4 and image.shape[:2] == (1, 3)),
         "the image is not a (1, 3, H, W) float32 tensor"),
        (not _optimizer_state(state.get("optimizer")), "no optimiser state"),
    ]
    for wrong, what in problems:
        if wrong:
            raise PainterlyError(f"{shown(path)}: a damaged checkpoint ({what})")
