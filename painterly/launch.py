"""The ``painterly`` command's first step: load the command line (PyTorch takes a
second or more) so that a Ctrl-C while it loads, or before a command has set up its own
handling, ends quietly with status 130 instead of a traceback.

While the libraries load, a signal is only noted: a KeyboardInterrupt raised inside
another library's import can be swallowed by its own error handling, and the run would
go on as if nothing had happened (seen about once in seven tries at 0.2-0.4 s)."""

from __future__ import annotations

import signal
import sys

from .openmp import spin_less
from .outputs import signals_deferred


def main() -> int:
    spin_less()  # before PyTorch loads: libgomp reads it then
    try:
        with signals_deferred():
            from .cli import main as run
        return run()
    except KeyboardInterrupt as stop:
        print("\npainterly: interrupted; nothing was written", file=sys.stderr)
        return 128 + int(getattr(stop, "signal", signal.SIGINT))
