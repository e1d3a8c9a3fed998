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

from .errors import PainterlyError
from .events import Checkpoint
from .outputs import atomic_write, check_output_path

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
    if Path(path).is_dir():
        raise PainterlyError(f"{path}: is a directory, not a checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PainterlyError(f"{path}: no such file") from None
    except Exception as error:  # torch raises many types for a file that is not its own
        kind = type(error).__name__
        raise PainterlyError(f"{path}: not a painterly checkpoint ({kind})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PainterlyError(f"{path}: not a painterly checkpoint")
    return CheckpointFile(
        recipe=state["recipe"],
        output=state["output"],
        every=state["every"],
        checkpoint=Checkpoint(state["stage"], state["done"], state["image"], state["optimizer"]),
    )
