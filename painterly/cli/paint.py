"""``painterly transfer`` and ``painterly resume``: one painting, with progress,
snapshots, checkpoints, and the picture so far kept on a signal."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..allocator import allocate_for
from ..arithmetic import measures_first
from ..checkpoints import CheckpointFile, check_checkpoint_path, read_checkpoint, write_checkpoint
from ..devices import bf16_is_emulated, resolve_device
from ..errors import PainterlyError
from ..events import Checkpoint, Interrupted, Plan, Progress
from ..images import check_image_path
from ..outputs import check_not_an_input
from ..plots import check_plot_path, plot_losses
from ..recipes import (
    check_weights,
    encode,
    find_input,
    make_recipe,
    read_recipe,
    settings_from_recipe,
)
from ..settings import TransferSettings
from ..snapshots import Snapshots, check_animation_path
from ..transfer import stylize
from ..untrusted import shown
from .options import add_common, add_settings_options, given_settings, positive_int
from .progress import ProgressBar, plan_line
from .results import report, save_result
from .signals import STOP, save_interrupted


def register(commands: argparse._SubParsersAction) -> None:
    transfer = commands.add_parser(
        "transfer",
        help="paint CONTENT in the style of STYLE",
        description="Paint the photograph CONTENT in the style of the painting STYLE.",
    )
    transfer.add_argument("content", metavar="CONTENT", nargs="?", help="the photograph")
    transfer.add_argument("style", metavar="STYLE", nargs="*",
                          help="the painting, or several to mix (see --style-blend)")
    transfer.add_argument(
        "-o", "--output", metavar="OUT",
        help="where to write the picture, .png or .jpg (default: CONTENT_STYLE.png here)",
    )
    transfer.add_argument(
        "--recipe", metavar="PICTURE",
        help="make PICTURE again from the recipe painterly stored in it (inputs found by "
        "their paths and checked by SHA-256); options given here override its settings",
    )
    transfer.add_argument("--snapshots", metavar="DIR",
                          help="write the picture every --save-every iterations into DIR")
    transfer.add_argument("--save-every", metavar="N", type=positive_int, default=10,
                          help="iterations between snapshots (default: 10)")
    transfer.add_argument("--animate", metavar="FILE",
                          help="make an animation of the snapshots, .gif or .mp4")
    transfer.add_argument(
        "--checkpoint", metavar="FILE",
        help="save the run's state to FILE (.ckpt) every --checkpoint-every iterations and "
        "when interrupted; continue it with 'painterly resume FILE'",
    )
    transfer.add_argument("--checkpoint-every", metavar="N", type=positive_int, default=20,
                          help="iterations between checkpoints (default: 20)")
    add_common(transfer)
    add_settings_options(transfer, TransferSettings)
    transfer.set_defaults(run=_transfer)

    resume = commands.add_parser(
        "resume",
        help="continue a transfer from its checkpoint file",
        description="Continue the transfer saved in CHECKPOINT (by --checkpoint, or at an "
        "interrupt) to the picture an uninterrupted run would have made.",
    )
    resume.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt file")
    resume.add_argument("-o", "--output", metavar="OUT",
                        help="where to write the picture (default: the run's own output)")
    resume.add_argument("--checkpoint-every", metavar="N", type=positive_int,
                        help="iterations between checkpoints (default: as the run had it)")
    add_common(resume)
    resume.set_defaults(run=_resume)


def _transfer(args: argparse.Namespace) -> int:
    content, styles, settings = _transfer_inputs(args)
    output = Path(
        args.output or "_".join(Path(name).stem for name in [content, *styles]) + ".png"
    )

    # Made once the run has started: it reads the weights file, which stylize checks first.
    @functools.cache
    def recipe() -> dict:
        inputs = {"content": [content], "style": styles}
        inputs.update(settings.input_files())  # a start image, masks: checked on --recipe
        return make_recipe("transfer", settings, inputs)

    return _paint(args, content, styles, settings, recipe, output, args.checkpoint_every)


def _resume(args: argparse.Namespace) -> int:
    saved = read_checkpoint(args.checkpoint)
    recipe = saved.recipe
    settings = settings_from_recipe(recipe, TransferSettings, args.checkpoint)
    settings = _recorded_files(recipe, settings, {}, args.checkpoint)
    content, styles = _recipe_pictures(recipe, args.checkpoint)
    args.snapshots = args.animate = None  # resume has no snapshot options
    output = Path(args.output) if args.output else _own_output(saved, args.checkpoint)
    every = args.checkpoint_every or saved.every
    return _paint(args, content, styles, settings, lambda: recipe, output, every,
                  saved.checkpoint)


def _own_output(saved: CheckpointFile, checkpoint: str) -> Path:
    """The run's own output, as the checkpoint names it: a file it may write only where
    nothing is, or where this run's picture so far is (a checkpoint is untrusted)."""
    output = Path(saved.output)
    if output.exists():
        try:
            ours = read_recipe(output) == saved.recipe
        except PainterlyError:
            ours = False
        if not ours:
            raise PainterlyError(
                f"{shown(checkpoint)}: its output {shown(output)} holds another picture; "
                "choose where to write with -o"
            )
    return output


def _paint(
    args: argparse.Namespace,
    content: str,
    styles: list[str],
    settings: TransferSettings,
    recipe: Callable[[], dict],
    output: Path,
    checkpoint_every: int,
    resume: Checkpoint | None = None,
) -> int:
    """Run one transfer for ``transfer`` and ``resume``: progress, snapshots, checkpoints,
    and on a signal the picture so far (and a checkpoint) before exiting."""
    checkpoint_path = _check_outputs(args, output, [content, *styles], settings)
    if bf16_is_emulated(settings.precision, resolve_device(settings.device)):
        print("painterly: note: this CPU has no bf16 instructions, so --precision bf16 is "
              "emulated and several times slower than fp32 (--precision auto measures "
              "which arithmetic is fastest here)",
              file=sys.stderr)
    if not args.quiet and measures_first(settings.precision, resolve_device(settings.device)):
        print("painterly: timing this CPU's arithmetics once, to paint in the fastest "
              "(a few seconds; remembered for this machine)", file=sys.stderr)

    def save_checkpoint(checkpoint: Checkpoint) -> None:
        if checkpoint_path is None:
            return
        saved = CheckpointFile(recipe(), str(output.resolve()), checkpoint_every, checkpoint)
        try:
            write_checkpoint(checkpoint_path, saved)
        except OSError as error:  # a full disk must not end the painting
            print(f"painterly: could not write the checkpoint {checkpoint_path} "
                  f"({error.strerror or error}); painting on", file=sys.stderr)

    began = time.perf_counter()
    with ProgressBar(enabled=not args.quiet) as progress:
        snapshots = None
        if args.snapshots or args.animate:
            snapshots = Snapshots(args.save_every, args.snapshots, bool(args.animate))

        def follow(step: Progress) -> None:
            progress.update(step)
            if snapshots is not None:
                snapshots(step)
            due = checkpoint_path is not None and step.iteration % checkpoint_every == 0
            if due and step.checkpoint is not None:
                save_checkpoint(step.checkpoint())
            STOP.check(step)

        try:
            picture = stylize(content, styles, settings, callback=follow, resume=resume,
                              on_plan=functools.partial(_planned, args.quiet),
                              time_plan=not args.quiet)
        except Interrupted as stop:
            progress.close()
            return save_interrupted(stop, output, encode(recipe()), checkpoint_path,
                                    save_checkpoint)
    output = save_result(picture, output, encode(recipe()))
    if args.plot:
        plot_losses({"transfer": progress.history}, args.plot)
    if snapshots is not None and args.animate:
        snapshots.animate(args.animate)
        print(f"painterly: animation in {args.animate}", file=sys.stderr)
    report(output, picture, began)
    return 0


def _planned(quiet: bool, plan: Plan) -> None:
    """Say what the run will do; a tiled run's large blocks go back to the system."""
    allocate_for(plan)
    if not quiet:
        print(plan_line(plan), file=sys.stderr)


def _recipe_pictures(recipe: dict, path: str, content: str | None = None,
                     styles: list[str] | None = None) -> tuple[str, list[str]]:
    """The photo and paintings a checked recipe names, found and checked by SHA-256
    (unless given here instead)."""
    inputs = recipe["inputs"]
    if "content" not in inputs or "style" not in inputs:
        raise PainterlyError(f"{shown(path)}: its recipe names no photo or painting")
    content = content or find_input(inputs["content"][0], "content", path)
    styles = styles or [find_input(entry, "style", path) for entry in inputs["style"]]
    return content, styles


def _check_outputs(args: argparse.Namespace, output: Path, inputs: list[str],
                   settings: TransferSettings) -> Path | None:
    """Every file the run will write, checked before minutes of work, not after; none may
    be one of its inputs. Returns the checkpoint's path, if one is asked for."""
    check_image_path(output)
    inputs = [*inputs, *(path for paths in settings.input_files().values() for path in paths)]
    check_not_an_input(output, inputs)
    if args.plot:
        check_plot_path(args.plot)
    if args.animate:
        check_animation_path(args.animate)
    if not args.checkpoint:
        return None
    checkpoint_path = check_checkpoint_path(args.checkpoint)
    weights = [settings.weights] if settings.weights else []
    check_not_an_input(checkpoint_path, [*inputs, *weights])
    return checkpoint_path


def _transfer_inputs(args: argparse.Namespace) -> tuple[str, list[str], TransferSettings]:
    """CONTENT, STYLEs and settings: from the command line, or from a recipe with the
    command line's options on top."""
    given = given_settings(TransferSettings, args)
    if not args.recipe:
        if args.content is None or not args.style:
            raise PainterlyError("give CONTENT and at least one STYLE (or --recipe PICTURE)")
        return args.content, args.style, TransferSettings(**given)
    recipe = read_recipe(args.recipe)
    if recipe.get("command") != "transfer":
        raise PainterlyError(
            f"{args.recipe}: made by 'painterly {recipe.get('command')}', not 'transfer'"
        )
    settings = settings_from_recipe(recipe, TransferSettings, args.recipe)
    settings = dataclasses.replace(settings, **given)
    content, styles = _recipe_pictures(recipe, args.recipe, args.content, args.style)
    if "weights" not in given:
        check_weights(recipe, settings, args.recipe)
    return content, styles, _recorded_files(recipe, settings, given, args.recipe)


def _recorded_files(recipe: dict, settings: TransferSettings, given: dict,
                    path: str) -> TransferSettings:
    """``settings`` with the start image and masks the recipe (or checkpoint) at ``path``
    recorded, each found again by its SHA-256, unless the command line gave them."""
    inputs = recipe["inputs"]
    found: dict[str, object] = {}
    for role, noun in (("init", "start image"), ("masks", "mask")):
        if role not in given and settings.input_files().get(role):
            if role not in inputs:
                raise PainterlyError(f"{shown(path)}: its {noun} was not recorded; "
                                     "give it again", setting=role)
            found[role] = tuple(find_input(entry, noun, path) for entry in inputs[role])
    if "init" in found:
        found["init"] = found["init"][0]  # type: ignore[index]
    return dataclasses.replace(settings, **found)
