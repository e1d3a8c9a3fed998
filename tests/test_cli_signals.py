"""Ctrl-C and SIGTERM (painterly/cli/signals.py): the first waits for the iteration,
the second stops at once."""

from __future__ import annotations

import signal

import pytest
from processes import painterly_process

from painterly.cli.signals import StopOnSignal, Terminated
from painterly.events import StopRequested


def test_signal_handler_stops_after_the_iteration_then_at_once():
    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt):  # nothing to save yet: stop at once
        stop.handle(signal.SIGINT, None)
    with pytest.raises(StopRequested):  # ... or, had a library swallowed that, at the first
        stop.check(None)  # iteration's end
    stop = StopOnSignal()
    stop.check(None)  # an iteration finished
    stop.handle(signal.SIGTERM, None)  # first signal: only noted
    with pytest.raises(StopRequested):
        stop.check(None)  # ... and acted on after the iteration
    with pytest.raises(Terminated):  # a second signal: at once
        stop.handle(signal.SIGTERM, None)



@pytest.mark.parametrize("delay", [0.1, 0.2, 0.35, 0.6, 1.0, 2.0])
def test_ctrl_c_at_any_moment_of_start_up_ends_quietly(tmp_path, inputs, delay):
    # Once Python has started (40 ms here), while PyTorch loads, while the inputs are
    # read: never a traceback, never a run that goes on, never a half-written file.
    import time

    out = tmp_path / "out.png"
    process = painterly_process("transfer", *inputs, "-o", out, "--size", "64",
                                "--iterations", "200", "-q")
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert not list(tmp_path.glob(".*.tmp"))
