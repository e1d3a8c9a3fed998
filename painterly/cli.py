"""The command line: a thin layer over the Python API, and the only code that talks to
the terminal. ``main(argv) -> exit status``; user errors are one line and status 2."""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import functools
import io
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import torch
from PIL import Image

from . import __version__
from .checkpoints import CheckpointFile, check_checkpoint_path, read_checkpoint, write_checkpoint
from .errors import PainterlyError, SettingsError
from .experiments import (
    TARGETS,
    GridTile,
    ReconstructSettings,
    SweepPoint,
    format_value,
    grid,
    point_record,
    reconstruct,
    sweep,
    sweep_settings,
)
from .images import check_image_path, save_image
from .layers import LAYERS, canonical_layer, layer_aliases
from .memory import keep_freed_memory
from .outputs import atomic_write, check_output_dir
from .plots import check_plot_path, plot_losses
from .recipes import encode, find_input, make_recipe, read_recipe, settings_from_recipe
from .snapshots import Snapshots, check_animation_path
from .studio import StudioSettings, serve
from .transfer import (
    Checkpoint,
    Interrupted,
    Progress,
    StopRequested,
    TransferSettings,
    cpu_has_native_bf16,
    resolve_device,
    stylize,
)

EXIT_USAGE = 2
#: 128 + the signal's number, as shells report a process killed by it.
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in _name_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _name_list(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(","))
    if not text.strip() or any(not item for item in items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def _scales(text: str) -> tuple[int, ...] | None:
    if text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(int(item) for item in _name_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected auto, none or comma-separated sizes in px, got {text!r}"
        )


def _option(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


# How each annotation of a settings dataclass is read from the command line.
_PARSERS: dict[str, Callable[[str], object]] = {
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "str": str,
    "str | None": str,
    "tuple[str, ...]": _name_list,
    "tuple[float, ...] | None": _number_list,
    "tuple[int, ...] | None": _scales,
}
_NUMERIC = ("int", "int | None", "float", "float | None")


def _single_value(field: dataclasses.Field) -> Callable[[str], object]:
    """Reader of one value; a comma list for a numeric option is refused by name."""
    read = _PARSERS[str(field.type)]

    def parse(text: str) -> object:
        if str(field.type) in _NUMERIC and "," in text:
            raise argparse.ArgumentTypeError(
                f"takes one value, got {text!r} (use 'painterly sweep' to try several)"
            )
        return read(text)

    parse.__name__ = read.__name__  # argparse names the type in its messages
    return parse


def _value_list(field: dataclasses.Field) -> Callable[[str], list[object]]:
    """Reader of the values a sweep tries: commas separate them, or semicolons where one
    value is itself a comma list (--style-layers 'conv1_1,conv2_1;conv1_1')."""
    read = _PARSERS[str(field.type)]
    separator = ";" if str(field.type).startswith("tuple") else ","

    def parse(text: str) -> list[object]:
        items = [item.strip() for item in text.split(separator)]
        if not text.strip() or any(not item for item in items):
            raise argparse.ArgumentTypeError(f"expected a list of values, got {text!r}")
        return [read(item) for item in items]

    parse.__name__ = read.__name__
    return parse


def _show_default(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _help(field: dataclasses.Field, default: object = dataclasses.MISSING) -> str:
    text = field.metadata.get("help", "")
    if "default" in text or field.type == "bool":  # the help says it better
        return text
    shown = field.default if default is dataclasses.MISSING else default
    return f"{text} (default: {_show_default(shown)})"


def _add_settings_options(
    parser: argparse.ArgumentParser,
    settings_class: type,
    skip: tuple[str, ...] = (),
    sweep: bool = False,
    defaults: dict[str, object] | None = None,
) -> None:
    """One option per field of ``settings_class`` with its help and default (``defaults``
    overrides some for this command); with ``sweep``, each takes a list of values."""
    defaults = defaults or {}
    group = parser.add_argument_group(
        "settings" + (" (each may be a list of values to try)" if sweep else "")
    )
    for field in dataclasses.fields(settings_class):
        if field.name in skip:
            continue
        if field.type == "bool":
            group.add_argument(
                _option(field.name), dest=field.name, action="store_true",
                default=argparse.SUPPRESS, help=_help(field),
            )
            continue
        group.add_argument(
            _option(field.name),
            dest=field.name,
            type=_value_list(field) if sweep else _single_value(field),
            # Unset options fall back to the dataclass default.
            default=defaults.get(field.name, argparse.SUPPRESS),
            metavar=field.name.split("_")[-1].upper(),
            help=_help(field, defaults.get(field.name, dataclasses.MISSING)),
        )


def _settings(settings_class: type, args: argparse.Namespace):
    names = {field.name for field in dataclasses.fields(settings_class)}
    return settings_class(**{k: v for k, v in vars(args).items() if k in names})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="painterly",
        description="Paint a photograph in the style of a painting (Gatys et al., CVPR 2016).",
    )
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

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
    transfer.add_argument("--save-every", metavar="N", type=_positive_int, default=10,
                          help="iterations between snapshots (default: 10)")
    transfer.add_argument("--animate", metavar="FILE",
                          help="make an animation of the snapshots, .gif or .mp4")
    _add_checkpoint_options(transfer)
    _add_common(transfer)
    _add_settings_options(transfer, TransferSettings)

    resume = commands.add_parser(
        "resume",
        help="continue a transfer from its checkpoint file",
        description="Continue the transfer saved in CHECKPOINT (by --checkpoint, or at an "
        "interrupt) to the picture an uninterrupted run would have made.",
    )
    resume.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt file")
    resume.add_argument("-o", "--output", metavar="OUT",
                        help="where to write the picture (default: the run's own output)")
    resume.add_argument("--checkpoint-every", metavar="N", type=_positive_int,
                        help="iterations between checkpoints (default: as the run had it)")
    _add_common(resume)

    rebuild = commands.add_parser(
        "reconstruct",
        help="rebuild an image from one layer's content or style features",
        description="Start from white noise and match IMAGE's features at one layer: its "
        "responses (content) or their Gram matrices (style).",
    )
    rebuild.add_argument("target", choices=TARGETS, help="content or style")
    rebuild.add_argument("image", metavar="IMAGE", help="the image to reconstruct")
    rebuild.add_argument(
        "-o", "--output", metavar="OUT",
        help="where to write it (default: IMAGE_TARGET_LAYER.png here)",
    )
    _add_common(rebuild)
    _add_settings_options(rebuild, ReconstructSettings, skip=("target",))

    table = commands.add_parser(
        "grid",
        help="reconstruct from each layer: the report's Block x Conv table",
        description="Reconstruct IMAGE from each chosen layer and lay the results out as "
        "rows Block1..Block5 and columns Conv1..Conv4, with the original. Also writes "
        "each tile into SHEET_tiles/ and SHEET.csv (layer, loss, iterations, seconds).",
    )
    table.add_argument("target", choices=TARGETS, help="content or style")
    table.add_argument("image", metavar="IMAGE", help="the image to reconstruct")
    table.add_argument("-o", "--output", metavar="SHEET", required=True,
                       help="the contact sheet, .png or .jpg")
    table.add_argument("--layers", type=_layer_choice, default=LAYERS,
                       help="all, or a comma list of layers (default: all 16)")
    _add_common(table)
    _add_settings_options(
        table, ReconstructSettings, skip=("target", "layer"), defaults={"size": 128}
    )

    sweeps = commands.add_parser(
        "sweep",
        help="run transfers over every combination of option values",
        description="Give any transfer option a comma list of values (a semicolon list "
        "for options whose value is a list) to run the cartesian product: every picture, "
        "a labelled contact sheet, and results.csv / results.json in DIR.",
    )
    sweeps.add_argument("content", metavar="CONTENT", help="the photograph")
    sweeps.add_argument("style", metavar="STYLE", nargs="+",
                        help="the painting, or several to mix (see --style-blend)")
    sweeps.add_argument("-o", "--output", metavar="DIR", required=True,
                        help="directory for the results (created if missing)")
    sweeps.add_argument("--jobs", type=_positive_int, default=1,
                        help="runs at once, in separate processes (default: 1)")
    _add_common(sweeps)
    _add_settings_options(sweeps, TransferSettings, sweep=True)

    recipe = commands.add_parser(
        "recipe", help="print the recipe stored in a picture painterly made",
        description="Print the recipe (version, settings, inputs with SHA-256, weights) "
        "that painterly stores in every PNG and JPEG it writes.",
    )
    recipe.add_argument("picture", metavar="PICTURE", help="a .png or .jpg painterly wrote")

    commands.add_parser("layers", help="list the VGG19 layer names and their aliases")

    studio = commands.add_parser(
        "serve", help="start the web studio (needs painterly[web])",
        description="Serve a page where anyone who can reach it paints a photo in the style "
        "of a painting, watching it emerge. Listens on loopback unless --host says otherwise.",
    )
    _add_settings_options(studio, StudioSettings)
    return parser


def _add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", metavar="FILE",
        help="save the run's state to FILE (.ckpt) every --checkpoint-every iterations and "
        "when interrupted; continue it with 'painterly resume FILE'",
    )
    parser.add_argument("--checkpoint-every", metavar="N", type=_positive_int, default=20,
                        help="iterations between checkpoints (default: 20)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw the loss curves to FILE (.png, .svg or .pdf)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def _layer_choice(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return LAYERS
    try:
        return tuple(canonical_layer(name) for name in _name_list(text))
    except PainterlyError as error:
        raise argparse.ArgumentTypeError(str(error))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the painterly command line with ``argv`` (default ``sys.argv[1:]``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # usage errors, --help and --version
        return int(exit_request.code or 0)
    keep_freed_memory()  # no page faults for each iteration's tensors; the process is ours
    try:
        with _STOP.catching_signals():
            if args.command in _COMMANDS:
                return _COMMANDS[args.command](args)
            if args.command == "layers":
                return _layers()
            parser.print_help(sys.stderr)
            return EXIT_USAGE
    except SettingsError as error:
        return _fail(f"{_option(error.field)}: {error.problem}")
    except PainterlyError as error:
        return _fail(str(error))
    except (MemoryError, torch.OutOfMemoryError):
        return _fail("out of memory; try a smaller --size or fewer/shallower layers")
    except KeyboardInterrupt as stop:
        print("\npainterly: interrupted; no file is left half-written", file=sys.stderr)
        return EXIT_SIGNAL[getattr(stop, "signal", signal.SIGINT)]


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT would raise KeyboardInterrupt."""

    signal = signal.SIGTERM


class _StopOnSignal:
    """The first SIGINT or SIGTERM asks the run to stop after the iteration under way,
    so that its picture can be saved; before the first iteration, or at a second
    signal, it stops at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.running = False  # an iteration has finished: there is something to save

    def handle(self, signum: int, _frame: object) -> None:
        if self.signal is not None or not self.running:
            raise _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.signal = signum

    def check(self, _progress: Progress) -> None:
        """A progress callback: raises StopRequested once a signal has come."""
        self.running = True
        if self.signal is not None:
            raise StopRequested

    @contextlib.contextmanager
    def catching_signals(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM while a command runs (only the main thread can)."""
        self.signal, self.running = None, False
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {signum: signal.signal(signum, self.handle) for signum in EXIT_SIGNAL}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


_STOP = _StopOnSignal()


def _fail(message: str) -> int:
    print(f"painterly: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _layers() -> int:
    print(f"{'paper':<10}{'Keras':<15}neural-style")
    for layer in LAYERS:
        paper, keras, neural_style = layer_aliases(layer)
        print(f"{paper:<10}{keras:<15}{neural_style}")
    return 0


def _check_plot(args: argparse.Namespace) -> None:
    if args.plot:
        check_plot_path(args.plot)


def _report(output: Path, picture: Image.Image, began: float) -> None:
    seconds = time.perf_counter() - began
    print(
        f"painterly: wrote {output} ({picture.width}x{picture.height}) in {seconds:.1f} s",
        file=sys.stderr,
    )
    print(output)


def _transfer(args: argparse.Namespace) -> int:
    content, styles, settings = _transfer_inputs(args)
    output = Path(
        args.output or "_".join(Path(name).stem for name in [content, *styles]) + ".png"
    )

    # Made once the run has started: it reads the weights file, which stylize checks first.
    @functools.cache
    def recipe() -> dict:
        return make_recipe("transfer", settings, {"content": [content], "style": styles})

    return _paint(args, content, styles, settings, recipe, output, args.checkpoint_every)


def _resume(args: argparse.Namespace) -> int:
    saved = read_checkpoint(args.checkpoint)
    recipe = saved.recipe
    settings = settings_from_recipe(recipe, TransferSettings, args.checkpoint)
    content = find_input(recipe["inputs"]["content"][0], "content", args.checkpoint)
    styles = [find_input(e, "style", args.checkpoint) for e in recipe["inputs"]["style"]]
    args.snapshots = args.animate = None  # resume has no snapshot options
    output = Path(args.output or saved.output)
    every = args.checkpoint_every or saved.every
    return _paint(args, content, styles, settings, lambda: recipe, output, every,
                  saved.checkpoint)


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
    check_image_path(output)  # before minutes of work, not after
    _check_plot(args)
    if args.animate:
        check_animation_path(args.animate)
    checkpoint_path = check_checkpoint_path(args.checkpoint) if args.checkpoint else None
    on_cpu = resolve_device(settings.device).type == "cpu"
    if settings.precision == "bf16" and on_cpu and not cpu_has_native_bf16():
        print("painterly: note: this CPU has no bf16 instructions, so --precision bf16 is "
              "emulated and several times slower than fp32 (--precision auto picks fp32 here)",
              file=sys.stderr)

    def save_checkpoint(checkpoint: Checkpoint) -> None:
        if checkpoint_path is not None:
            write_checkpoint(
                checkpoint_path,
                CheckpointFile(recipe(), str(output.resolve()), checkpoint_every, checkpoint),
            )

    began = time.perf_counter()
    with _ProgressBar(enabled=not args.quiet) as progress:
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
            _STOP.check(step)

        try:
            picture = stylize(content, styles, settings, callback=follow, resume=resume)
        except Interrupted as stop:
            progress.close()
            return _save_interrupted(stop, output, recipe(), checkpoint_path, save_checkpoint)
    save_image(picture, output, encode(recipe()))
    if args.plot:
        plot_losses({"transfer": progress.history}, args.plot)
    if snapshots is not None and args.animate:
        snapshots.animate(args.animate)
        print(f"painterly: animation in {args.animate}", file=sys.stderr)
    _report(output, picture, began)
    return 0


def _save_interrupted(
    stop: Interrupted,
    output: Path,
    recipe: dict,
    checkpoint_path: Path | None,
    save_checkpoint: Callable[[Checkpoint], None],
) -> int:
    """Write the picture so far (and the checkpoint); a second signal during the writes
    stops them, leaving no half-written file."""
    save_image(stop.picture, output, encode(recipe))
    save_checkpoint(stop.checkpoint)
    done = stop.progress
    message = (f"painterly: stopped at iteration {done.iteration} of {done.iterations}; "
               f"the picture so far is in {output}")
    if checkpoint_path is not None:
        message += f"; continue with: painterly resume {checkpoint_path}"
    print(message, file=sys.stderr)
    return EXIT_SIGNAL[_STOP.signal or signal.SIGINT]


def _transfer_inputs(args: argparse.Namespace) -> tuple[str, list[str], TransferSettings]:
    """CONTENT, STYLEs and settings: from the command line, or from a recipe with the
    command line's options on top."""
    if not args.recipe:
        if args.content is None or not args.style:
            raise PainterlyError("give CONTENT and at least one STYLE (or --recipe PICTURE)")
        return args.content, args.style, _settings(TransferSettings, args)
    recipe = read_recipe(args.recipe)
    if recipe.get("command") != "transfer":
        raise PainterlyError(
            f"{args.recipe}: made by 'painterly {recipe.get('command')}', not 'transfer'"
        )
    settings = settings_from_recipe(recipe, TransferSettings, args.recipe)
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TransferSettings)
             if hasattr(args, f.name)}
    settings = dataclasses.replace(settings, **given)
    inputs = recipe.get("inputs", {})
    content = args.content or find_input(inputs["content"][0], "content", args.recipe)
    styles = args.style or [find_input(e, "style", args.recipe) for e in inputs["style"]]
    return content, styles, settings


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(StudioSettings, args)

    def ready(url: str, workdir: Path) -> None:
        print(f"painterly: studio running; open {url} (Ctrl-C to stop). Uploads and "
              f"results are kept in {workdir} until it stops.", file=sys.stderr, flush=True)
        print(url, flush=True)

    try:
        serve(settings, ready)
    except ImportError as missing:
        raise PainterlyError(
            f"the studio needs the web extra ({missing.name} is missing): "
            "pip install 'painterly[web]'"
        ) from None
    except KeyboardInterrupt:
        print("\npainterly: studio stopped", file=sys.stderr)
    return 0


def _recipe(args: argparse.Namespace) -> int:
    print(encode(read_recipe(args.picture)))
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    settings = _settings(ReconstructSettings, args)
    output = Path(
        args.output or f"{Path(args.image).stem}_{settings.target}_{settings.layer}.png"
    )
    check_image_path(output)
    _check_plot(args)

    def recipe() -> dict:
        return make_recipe("reconstruct", settings, {"image": [args.image]})

    began = time.perf_counter()
    with _ProgressBar(enabled=not args.quiet) as progress:

        def follow(step: Progress) -> None:
            progress.update(step)
            _STOP.check(step)

        try:
            picture = reconstruct(args.image, settings, callback=follow)
        except Interrupted as stop:
            progress.close()
            return _save_interrupted(stop, output, recipe(), None, lambda _checkpoint: None)
    save_image(picture, output, encode(recipe()))
    if args.plot:
        plot_losses({settings.layer: progress.history}, args.plot)
    _report(output, picture, began)
    return 0


def _grid(args: argparse.Namespace) -> int:
    settings = _settings(ReconstructSettings, args)
    sheet_path = check_image_path(args.output)
    tiles_dir = sheet_path.with_name(f"{sheet_path.stem}_tiles")
    csv_path = sheet_path.with_suffix(".csv")
    _check_plot(args)
    began = time.perf_counter()
    bars: dict[str, _ProgressBar] = {}

    def follow(layer: str, progress: Progress) -> None:
        if layer not in bars:
            for bar in bars.values():
                bar.close()
            bars[layer] = _ProgressBar(enabled=not args.quiet, label=layer)
        bars[layer].update(progress)
        _STOP.check(progress)

    def tile_recipe(layer: str) -> str:
        layer_settings = dataclasses.replace(settings, layer=layer)
        return encode(make_recipe("reconstruct", layer_settings, {"image": [args.image]}))

    def save_tile(tile: GridTile) -> None:  # as each is done: an interrupt keeps them
        tiles_dir.mkdir(exist_ok=True)
        save_image(tile.image, tiles_dir / f"{tile.layer}.png", tile_recipe(tile.layer))

    try:
        sheet, tiles = grid(args.image, settings, args.layers, callback=follow, on_tile=save_tile)
    except Interrupted as stop:
        layer = next(reversed(bars))
        partial = tiles_dir / f"{layer}_partial.png"
        tiles_dir.mkdir(exist_ok=True)
        save_image(stop.picture, partial, tile_recipe(layer))
        print(f"painterly: stopped in {layer} at iteration {stop.progress.iteration}; the "
              f"finished tiles and {partial.name} are in {tiles_dir}", file=sys.stderr)
        return EXIT_SIGNAL[_STOP.signal or signal.SIGINT]
    finally:
        for bar in bars.values():
            bar.close()
    rows = [
        {"layer": t.layer, "loss": t.loss, "iterations": t.iterations,
         "optimizer": settings.optimizer, "seconds": round(t.seconds, 3)}
        for t in tiles
    ]
    _write_csv(csv_path, rows)
    recipe = make_recipe("grid", settings, {"image": [args.image]})
    recipe["layers"] = list(args.layers)
    save_image(sheet, sheet_path, encode(recipe))
    if args.plot:
        plot_losses({t.layer: bars[t.layer].history for t in tiles}, args.plot)
    print(f"painterly: tiles in {tiles_dir}, numbers in {csv_path}", file=sys.stderr)
    _report(sheet_path, sheet, began)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    names = [field.name for field in dataclasses.fields(TransferSettings)]
    lists = {name: getattr(args, name) for name in names if hasattr(args, name)}
    axes = {name: values for name, values in lists.items() if len(values) > 1}
    base = TransferSettings(
        **{name: values[0] for name, values in lists.items() if len(values) == 1}
    )
    if not axes:
        raise PainterlyError("nothing to sweep: give at least one option several values")
    sweep_settings(base, axes)  # every point is checked before the directory is made
    directory = Path(args.output)
    check_output_dir(directory.parent if not directory.exists() else directory, directory)
    directory.mkdir(exist_ok=True)
    _check_plot(args)  # may name a file inside the new directory
    began = time.perf_counter()

    records = []

    def follow(point: SweepPoint, done: int, total: int) -> None:
        # Each picture is written as soon as it is done: an interrupt keeps them.
        label = "_".join(f"{k}-{format_value(v)}" for k, v in point.values.items())
        name = f"{done:03d}_{_safe_name(label)}.png"
        recipe = make_recipe("transfer", point.settings,
                             {"content": [args.content], "style": args.style})
        save_image(point.image, directory / name, encode(recipe))
        records.append({"file": name, **point_record(point)})
        if not args.quiet:
            values = " ".join(f"{k}={format_value(v)}" for k, v in point.values.items())
            print(
                f"[{done}/{total}] {values}: content {point.distances.content:.3f} "
                f"style {point.distances.style:.4f} in {point.seconds:.1f} s",
                file=sys.stderr,
            )

    try:
        sheet, points = sweep(args.content, args.style, base, axes, jobs=args.jobs,
                              callback=follow)
    except KeyboardInterrupt as stop:
        print(f"\npainterly: interrupted; the {len(records)} pictures finished are in "
              f"{directory}", file=sys.stderr)
        return EXIT_SIGNAL[getattr(stop, "signal", signal.SIGINT)]
    _write_csv(directory / "results.csv", records)
    atomic_write(directory / "results.json",
                 lambda handle: handle.write(json.dumps(records, indent=1).encode() + b"\n"))
    if args.plot:
        plot_losses({" ".join(f"{k}={format_value(v)}" for k, v in p.values.items()): p.history
                     for p in points}, args.plot)
    sheet_path = save_image(sheet, directory / "sheet.png")
    print(f"painterly: {len(points)} pictures, results.csv and results.json in {directory}",
          file=sys.stderr)
    _report(sheet_path, sheet, began)
    return 0


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:120]


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue().encode()))


_COMMANDS = {
    "recipe": _recipe,
    "serve": _serve,
    "transfer": _transfer,
    "resume": _resume,
    "reconstruct": _reconstruct,
    "grid": _grid,
    "sweep": _sweep,
}


class _ProgressBar:
    """A tqdm bar on stderr: iteration, losses, elapsed time and ETA."""

    def __init__(self, enabled: bool, label: str | None = None) -> None:
        self.enabled = enabled
        self.label = label
        self.bar = None
        self.history: list[Progress] = []  # for --plot

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, progress: Progress) -> None:
        self.history.append(progress.numbers())
        if not self.enabled:
            return
        if self.bar is None:  # opened at the first iteration, once the inputs have loaded
            from tqdm import tqdm

            self.bar = tqdm(
                total=progress.iterations, desc=self.label, file=sys.stderr, unit="it",
                dynamic_ncols=True,
            )
        postfix = f"{progress.size}px loss={progress.total:.4g} content={progress.content:.3f} "
        postfix += f"style={progress.style:.4f}"
        if progress.tv:
            postfix += f" tv={progress.tv:.2e}"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(progress.iteration - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()
