"""Writing results safely (painterly/outputs.py): checked before the work, written
atomically, and what a killed writer left behind cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from painterly.errors import PainterlyError
from painterly.outputs import atomic_write, check_not_an_input, make_output_dir


def _dead_pid() -> int:
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)
    return int(process.stdout)


def test_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "out.png"
    stale = tmp_path / f".out.png.{_dead_pid()}.abc123.tmp"  # what SIGKILL leaves
    live = tmp_path / f".out.png.{os.getpid()}.def456.tmp"  # a write under way, here
    other = tmp_path / f".other.png.{_dead_pid()}.abc123.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"half")
    atomic_write(out, lambda handle: handle.write(b"whole"))
    assert out.read_bytes() == b"whole"
    assert not stale.exists() and live.exists() and other.exists()


def test_a_failed_write_leaves_nothing(tmp_path):
    def fail(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "out.png", fail)
    assert list(tmp_path.iterdir()) == []


def test_output_directories(tmp_path):
    assert make_output_dir(tmp_path / "new").is_dir()
    assert make_output_dir(tmp_path / "new").is_dir()  # an existing one is taken
    (tmp_path / "file").write_text("x")
    with pytest.raises(PainterlyError, match="exists and is not a directory"):
        make_output_dir(tmp_path / "file")
    with pytest.raises(PainterlyError, match="does not exist"):
        make_output_dir(tmp_path / "missing" / "deeper")


def test_an_input_is_no_output(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    os.link(photo, tmp_path / "same.png")
    with pytest.raises(PainterlyError, match="is one of this run's inputs"):
        check_not_an_input(tmp_path / "same.png", [photo])
    check_not_an_input(tmp_path / "new.png", [photo])


def test_a_signal_during_a_write_lands_after_it(tmp_path):
    # As if Ctrl-C came in the middle of torch.save: the file is finished first, then
    # the interrupt arrives; nothing half-written, no temporary left. Another thread runs
    # meanwhile, as PyTorch's do: the kernel may hand it the signal.
    import signal
    import threading

    done = threading.Event()
    threading.Thread(target=done.wait, daemon=True).start()

    def write(handle):
        handle.write(b"first half, ")
        os.kill(os.getpid(), signal.SIGINT)
        handle.write(b"second half")

    out = tmp_path / "run.ckpt"
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own
    try:
        with pytest.raises(KeyboardInterrupt):
            atomic_write(out, write)
    finally:
        signal.signal(signal.SIGINT, previous)
        done.set()
    assert out.read_bytes() == b"first half, second half"
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
