"""Running painterly as a separate process, to send it real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time


def wait_for(pattern, directory, process, seconds=120.0):
    """Wait until a file matching ``pattern`` appears in ``directory``."""
    deadline = time.monotonic() + seconds
    while not list(directory.glob(pattern)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {pattern} appeared"
        time.sleep(0.01)


def _as_from_a_terminal() -> None:
    # A shell starts a background job with SIGINT ignored, and a child keeps that; these
    # tests are about a user's Ctrl-C, so the child gets the disposition a terminal gives.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def painterly_process(*argv):
    return subprocess.Popen([sys.executable, "-m", "painterly", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)

