"""The command line: a thin layer over the Python API, and the only code that talks to
the terminal. ``main(argv) -> exit status``; user errors are one line and status 2."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import torch

from . import __version__
from .errors import PainterlyError, SettingsError
from .images import check_image_path, save_image
from .layers import LAYERS, layer_aliases
from .transfer import Progress, TransferSettings, stylize

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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


# How each annotation of TransferSettings is read from the command line.
_PARSERS: dict[str, Callable[[str], object]] = {
    "int": int,
    "float": float,
    "float | None": float,
    "str": str,
    "str | None": str,
    "tuple[str, ...]": _name_list,
    "tuple[float, ...] | None": _number_list,
    "tuple[int, ...] | None": _scales,
}


def _show_default(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _help(field: dataclasses.Field) -> str:
    text = field.metadata.get("help", "")
    if "default" in text:  # the help says it better than the bare value
        return text
    return f"{text} (default: {_show_default(field.default)})"


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One option per TransferSettings field, with its help and default."""
    group = parser.add_argument_group("transfer settings")
    for field in dataclasses.fields(TransferSettings):
        read = _PARSERS[str(field.type)]
        group.add_argument(
            _option(field.name),
            dest=field.name,
            type=read,
            default=argparse.SUPPRESS,  # unset options fall back to the dataclass default
            metavar=field.name.split("_")[-1].upper(),
            help=_help(field),
        )


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
    transfer.add_argument("content", metavar="CONTENT", help="the photograph")
    transfer.add_argument("style", metavar="STYLE", help="the painting")
    transfer.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write the picture, .png or .jpg (default: CONTENT_STYLE.png here)",
    )
    transfer.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_settings_options(transfer)

    commands.add_parser("layers", help="list the VGG19 layer names and their aliases")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the painterly command line with ``argv`` (default ``sys.argv[1:]``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # usage errors, --help and --version
        return int(exit_request.code or 0)
    try:
        if args.command == "transfer":
            return _transfer(args)
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
    except KeyboardInterrupt:
        print("\npainterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(message: str) -> int:
    print(f"painterly: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _layers() -> int:
    print(f"{'paper':<10}{'Keras':<15}neural-style")
    for layer in LAYERS:
        paper, keras, neural_style = layer_aliases(layer)
        print(f"{paper:<10}{keras:<15}{neural_style}")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    names = {field.name for field in dataclasses.fields(TransferSettings)}
    settings = TransferSettings(**{k: v for k, v in vars(args).items() if k in names})
    output = Path(args.output or f"{Path(args.content).stem}_{Path(args.style).stem}.png")
    check_image_path(output)  # before minutes of work, not after
    began = time.perf_counter()
    with _ProgressBar(enabled=not args.quiet) as progress:
        picture = stylize(args.content, args.style, settings, callback=progress.update)
    save_image(picture, output)
    seconds = time.perf_counter() - began
    print(
        f"painterly: wrote {output} ({picture.width}x{picture.height}) in {seconds:.1f} s",
        file=sys.stderr,
    )
    print(output)
    return 0


class _ProgressBar:
    """A tqdm bar on stderr: iteration, losses, elapsed time and ETA."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if self.bar is None:  # opened at the first iteration, once the inputs have loaded
            from tqdm import tqdm

            self.bar = tqdm(
                total=progress.iterations, file=sys.stderr, unit="it", dynamic_ncols=True
            )
        postfix = f"{progress.size}px loss={progress.total:.4g} content={progress.content:.3f} "
        postfix += f"style={progress.style:.4f}"
        if progress.tv:
            postfix += f" tv={progress.tv:.2e}"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(progress.iteration - self.bar.n)

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()
