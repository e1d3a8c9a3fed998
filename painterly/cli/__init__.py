"""The command line: a thin layer over the Python API, and the only code that talks to
the terminal. ``main(argv) -> exit status``; user errors are one line and status 2.

Each command group registers its own subcommands (``paint``, ``experiments``,
``serve``, ``info``); options are made from the settings dataclasses (``options``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from .. import __version__
from ..allocator import keep_freed_memory
from ..errors import PainterlyError
from ..untrusted import shown
from . import batch, experiments, info, paint, serve, video
from .options import EXIT_USAGE, Parser, describe
from .signals import STOP, exit_status

#: The command groups, each adding its subcommands to the parser.
COMMAND_GROUPS = (paint, video, batch, experiments, info, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="painterly",
        description="Paint a photograph in the style of a painting (Gatys et al., CVPR 2016).",
    )
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the painterly command line with ``argv`` (default ``sys.argv[1:]``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # usage errors, --help and --version
        return int(exit_request.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    keep_freed_memory()  # no page faults for each iteration's tensors; the process is ours
    try:
        with STOP.catching_signals():
            return args.run(args)
    except PainterlyError as error:
        return _fail(describe(error))
    except (MemoryError, torch.OutOfMemoryError):
        return _fail("out of memory; try a smaller --size or fewer/shallower layers")
    except OSError as error:  # a file system that fails under a write: a full disk, say
        where = f"{shown(error.filename)}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}")
    except KeyboardInterrupt as stop:
        print("\npainterly: interrupted; no file is left half-written", file=sys.stderr)
        return exit_status(stop)


def _fail(message: str) -> int:
    print(f"painterly: error: {message}", file=sys.stderr)
    return EXIT_USAGE
