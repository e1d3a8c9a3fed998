"""The ``painterly`` command's first step: load the command line (PyTorch takes a
second or more) so that a Ctrl-C while it loads, or before a command has set up its own
handling, ends quietly with status 130 instead of a traceback.

While the libraries load, a signal is only noted: a KeyboardInterrupt raised inside
another library's import can be swallowed by its own error handling, and the run would
go on as if nothing had happened (seen about once in seven tries at 0.2-0.4 s)."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, _: caught.append(signum))
                for signum in held}
    try:
        from .cli import main as run
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    try:
        if caught:
            raise KeyboardInterrupt
        return run()
    except KeyboardInterrupt as stop:
        print("\npainterly: interrupted; nothing was written", file=sys.stderr)
        return 128 + int(getattr(stop, "signal", caught[0] if caught else signal.SIGINT))
