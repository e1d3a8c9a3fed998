"""Ctrl-C and SIGTERM: the first lets the iteration under way finish and the picture so
far be saved; a second, or one before there is anything to save, stops at once."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..events import Checkpoint, Interrupted, Progress, StopRequested
from .results import save_result

#: 128 + the signal's number, as shells report a process killed by it.
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT would raise KeyboardInterrupt."""

    signal = signal.SIGTERM


class StopOnSignal:
    """The first SIGINT or SIGTERM asks the run to stop after the iteration under way,
    so that its picture can be saved; before the first iteration, or at a second
    signal, it stops at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.running = False  # an iteration has finished: there is something to save

    def handle(self, signum: int, _frame: object) -> None:
        stop_now = self.signal is not None or not self.running
        self.signal = self.signal or signum
        if stop_now:
            # Noted first: should a library swallow the interrupt, the first iteration
            # still stops the run (check, below).
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def check(self, _progress: Progress) -> None:
        """A progress callback: raises StopRequested once a signal has come."""
        self.running = True
        if self.signal is not None:
            raise StopRequested

    def exit_status(self) -> int:
        return EXIT_SIGNAL[self.signal or signal.SIGINT]

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


STOP = StopOnSignal()


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status of a command stopped at once by SIGINT or SIGTERM."""
    return EXIT_SIGNAL[getattr(interrupt, "signal", signal.SIGINT)]


def save_interrupted(
    stop: Interrupted,
    output: Path,
    recipe: str,
    checkpoint_path: Path | None = None,
    save_checkpoint: Callable[[Checkpoint], None] | None = None,
) -> int:
    """Write the picture so far (and the checkpoint), say so, and return the exit status;
    a second signal during the writes stops them, leaving no half-written file."""
    output = save_result(stop.picture, output, recipe)
    if save_checkpoint is not None:
        save_checkpoint(stop.checkpoint)
    done = stop.progress
    message = (f"painterly: stopped at iteration {done.iteration} of {done.iterations}; "
               f"the picture so far is in {output}")
    if checkpoint_path is not None:
        message += f"; continue with: painterly resume {checkpoint_path}"
    print(message, file=sys.stderr)
    return STOP.exit_status()
