"""Ctrl-C and SIGTERM (painterly/cli/signals.py): the first waits for the iteration,
the second stops at once."""

from __future__ import annotations

import signal

import pytest

from painterly.cli.signals import StopOnSignal, Terminated
from painterly.events import StopRequested


def test_signal_handler_stops_after_the_iteration_then_at_once():
    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt):  # nothing to save yet: stop at once
        stop.handle(signal.SIGINT, None)
    stop.check(None)  # an iteration finished
    stop.handle(signal.SIGTERM, None)  # first signal: only noted
    with pytest.raises(StopRequested):
        stop.check(None)  # ... and acted on after the iteration
    with pytest.raises(Terminated):  # a second signal: at once
        stop.handle(signal.SIGTERM, None)

