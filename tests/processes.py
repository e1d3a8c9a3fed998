"""Running painterly as a separate process, to send it real signals."""

from __future__ import annotations

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


def painterly_process(*argv):
    return subprocess.Popen([sys.executable, "-m", "painterly", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

