"""The ``painterly`` command's first step: load the command line (PyTorch takes a
second or more) so that a Ctrl-C while it loads, or before a command has set up its own
handling, ends quietly with status 130 instead of a traceback."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    try:
        from .cli import main as run

        return run()
    except KeyboardInterrupt as stop:
        print("\npainterly: interrupted; nothing was written", file=sys.stderr)
        return 128 + int(getattr(stop, "signal", signal.SIGINT))
