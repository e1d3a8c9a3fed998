"""``painterly reconstruct``, ``grid`` and ``sweep``: the report's experiments."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..backends import BackendSettings, make_backend
from ..errors import PainterlyError
from ..events import Interrupted, Progress, StopRequested
from ..experiments import (
    GRID_SIZE,
    GridFiles,
    SweepFiles,
    SweepPoint,
    format_value,
    grid,
    reconstruct,
    sweep,
    sweep_settings,
)
from ..images import check_image_path
from ..layers import LAYERS
from ..plots import check_plot_path, plot_losses
from ..recipes import encode, make_recipe
from ..settings import TARGETS, ReconstructSettings, TransferSettings
from .options import (
    add_common,
    add_settings_options,
    given_settings,
    layer_choice,
    settings_from_args,
)
from .progress import ProgressBar
from .results import report, save_result
from .signals import STOP, exit_status, save_interrupted


def register(commands: argparse._SubParsersAction) -> None:
    rebuild = commands.add_parser(
        "reconstruct",
        help="rebuild an image from one layer's content or style features",
        description="Start from white noise and match IMAGE's features at one layer: its "
        "responses (content) or their Gram matrices (style).",
    )
    _target_and_image(rebuild)
    rebuild.add_argument("-o", "--output", metavar="OUT",
                         help="where to write it (default: IMAGE_TARGET_LAYER.png here)")
    add_common(rebuild)
    add_settings_options(rebuild, ReconstructSettings, skip=("target",))
    rebuild.set_defaults(run=_reconstruct)

    table = commands.add_parser(
        "grid",
        help="reconstruct from each layer: the report's Block x Conv table",
        description="Reconstruct IMAGE from each chosen layer and lay the results out as "
        "rows Block1..Block5 and columns Conv1..Conv4, with the original. Also writes "
        "each tile into SHEET_tiles/ and SHEET.csv (layer, loss, iterations, seconds).",
    )
    _target_and_image(table)
    table.add_argument("-o", "--output", metavar="SHEET", required=True,
                       help="the contact sheet, .png or .jpg")
    table.add_argument("--layers", type=layer_choice, default=LAYERS,
                       help="all, or a comma list of layers (default: all 16)")
    add_common(table)
    add_settings_options(table, ReconstructSettings, skip=("target", "layer"),
                         defaults={"size": GRID_SIZE})
    table.set_defaults(run=_grid)
    _register_sweep(commands)


def _target_and_image(parser: argparse.ArgumentParser) -> None:
    """A reconstruction's positional arguments: the target (a settings field) and IMAGE."""
    parser.add_argument("target", choices=TARGETS, help="content or style")
    parser.add_argument("image", metavar="IMAGE", help="the image to reconstruct")


def _register_sweep(commands: argparse._SubParsersAction) -> None:
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
    add_common(sweeps)
    add_settings_options(sweeps, BackendSettings, title="where the runs go (as for batch)")
    add_settings_options(sweeps, TransferSettings, sweep=True)
    sweeps.set_defaults(run=_sweep)


def _reconstruct(args: argparse.Namespace) -> int:
    settings = settings_from_args(ReconstructSettings, args)
    output = Path(
        args.output or f"{Path(args.image).stem}_{settings.target}_{settings.layer}.png"
    )
    check_image_path(output)
    if args.plot:
        check_plot_path(args.plot)
    def recipe() -> str:  # once the run has started: it reads the weights file
        return encode(make_recipe("reconstruct", settings, {"image": [args.image]}))

    began = time.perf_counter()
    with ProgressBar(enabled=not args.quiet) as progress:

        def follow(step: Progress) -> None:
            progress.update(step)
            STOP.check(step)

        try:
            picture = reconstruct(args.image, settings, callback=follow)
        except Interrupted as stop:
            progress.close()
            return save_interrupted(stop, output, recipe())
    output = save_result(picture, output, recipe())
    if args.plot:
        plot_losses({settings.layer: progress.history}, args.plot)
    report(output, picture, began)
    return 0


def _grid(args: argparse.Namespace) -> int:
    settings = settings_from_args(ReconstructSettings, args)
    files = GridFiles(args.output, args.image, settings)
    if args.plot:
        check_plot_path(args.plot)
    began = time.perf_counter()
    bars: dict[str, ProgressBar] = {}

    def follow(layer: str, progress: Progress) -> None:
        if layer not in bars:
            for bar in bars.values():
                bar.close()
            bars[layer] = ProgressBar(enabled=not args.quiet, label=layer)
        bars[layer].update(progress)
        STOP.check(progress)

    try:
        sheet, tiles = grid(args.image, settings, args.layers, callback=follow,
                            on_tile=files.save_tile)  # as each is done: an interrupt keeps them
    except Interrupted as stop:
        layer = next(reversed(bars))
        partial = files.save_partial(layer, stop.picture)
        print(f"painterly: stopped in {layer} at iteration {stop.progress.iteration}; the "
              f"finished tiles and {partial.name} are in {files.tiles}", file=sys.stderr)
        return STOP.exit_status()
    finally:
        for bar in bars.values():
            bar.close()
    files.save(sheet, tiles, list(args.layers))
    if args.plot:
        plot_losses({t.layer: bars[t.layer].history for t in tiles}, args.plot)
    print(f"painterly: tiles in {files.tiles}, numbers in {files.table}", file=sys.stderr)
    report(files.sheet, sheet, began)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    lists = given_settings(TransferSettings, args)
    axes = {name: values for name, values in lists.items() if len(values) > 1}
    base = TransferSettings(
        **{name: values[0] for name, values in lists.items() if len(values) == 1}
    )
    if not axes:
        raise PainterlyError("nothing to sweep: give at least one option several values")
    sweep_settings(base, axes)  # every point is checked before the directory is made
    backend = make_backend(BackendSettings(**given_settings(BackendSettings, args)))
    files = SweepFiles(args.output, args.content, args.style)
    if args.plot:
        check_plot_path(args.plot)  # may name a file inside the new directory
    began = time.perf_counter()

    def follow(point: SweepPoint, done: int, total: int) -> None:
        files.save_point(point, done)  # as each is done: an interrupt keeps them
        if not args.quiet:
            values = " ".join(f"{k}={format_value(v)}" for k, v in point.values.items())
            print(
                f"[{done}/{total}] {values}: content {point.distances.content:.3f} "
                f"style {point.distances.style:.4f} in {point.seconds:.1f} s",
                file=sys.stderr,
            )

    STOP.running = True  # the first signal lets the runs under way stop after an iteration
    try:
        sheet, points = sweep(args.content, args.style, base, axes, callback=follow,
                              backend=backend, should_stop=lambda: STOP.signal is not None)
    except (StopRequested, KeyboardInterrupt) as stop:
        print(f"\npainterly: interrupted; the {len(files.records)} pictures finished are in "
              f"{files.directory}", file=sys.stderr)
        return exit_status(stop) if isinstance(stop, KeyboardInterrupt) else STOP.exit_status()
    sheet_path = files.save(sheet)
    if args.plot:
        plot_losses({" ".join(f"{k}={format_value(v)}" for k, v in p.values.items()): p.history
                     for p in points}, args.plot)
    print(f"painterly: {len(points)} pictures, results.csv and results.json in "
          f"{files.directory}", file=sys.stderr)
    report(sheet_path, sheet, began)
    return 0
