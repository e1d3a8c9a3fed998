"""Writing results safely: check a path before the work, write atomically after it."""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import PainterlyError


def check_output_path(path: str | os.PathLike[str], suffixes: Iterable[str]) -> Path:
    """Fail early, before any work, if ``path`` cannot be written as one of ``suffixes``."""
    out = Path(path)
    suffixes = tuple(suffixes)
    if out.suffix.lower() not in suffixes:
        raise PainterlyError(
            f"{out}: unsupported output type {out.suffix or '(none)'!r}; "
            f"use one of {', '.join(suffixes)}"
        )
    if out.is_dir():
        raise PainterlyError(f"{out}: is a directory; give a file name")
    check_output_dir(out.parent, out)
    try:
        name_max = os.pathconf(out.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    # The temporary file beside it is named ".NAME.PID.RANDOM.tmp".
    if len(_temp_prefix(out).encode()) + len("XXXXXXXX.tmp") > name_max:
        raise PainterlyError(f"{out}: the file name is too long to be written safely "
                             f"(its temporary twin would pass the {name_max}-byte limit)")
    return out


def make_output_dir(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` (its parent checked first), or take it if it already is one."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise PainterlyError(f"{directory}: exists and is not a directory")
    check_output_dir(directory if directory.exists() else directory.parent, directory)
    directory.mkdir(exist_ok=True)
    return directory


def check_not_an_input(out: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse to write over one of the run's own inputs."""
    for source in inputs:
        if Path(source).exists() and out.exists() and os.path.samefile(source, out):
            raise PainterlyError(f"{out}: is one of this run's inputs; choose another output")


def check_output_dir(directory: Path, name: Path | None = None) -> Path:
    """Fail early if ``directory`` does not exist or cannot be written to."""
    label = name if name is not None else directory
    if not directory.is_dir():
        raise PainterlyError(f"{label}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PainterlyError(f"{label}: directory {directory} is not writable")
    return directory


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(handle)`` on a temp file beside ``path``, then rename it into place.

    A reader never sees a half-written file, and a failure leaves nothing behind.
    """
    out = Path(path)
    _remove_stale_temps(out)
    with signals_deferred():  # a Ctrl-C lands after the write, never inside it
        handle, temp_name = tempfile.mkstemp(prefix=_temp_prefix(out), suffix=".tmp",
                                             dir=out.parent)
        try:
            with os.fdopen(handle, "wb") as temp:
                write(temp)
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, out)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    return out


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while a file is written (or a library loads), and act
    on them when it is done: an interrupt raised inside another library's code can surface
    as another error, leave a temporary file behind, or be swallowed. Python runs signal
    handlers in the main thread (only it may set them), so the handlers are swapped there
    for ones that only take note."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, _: caught.append(signum))
                for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught[:1]:  # the first, as if it came now
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler in (signal.SIG_DFL, None):
                os.kill(os.getpid(), signum)


def _temp_prefix(out: Path) -> str:
    return f".{out.name}.{os.getpid()}."


def _remove_stale_temps(out: Path) -> None:
    """Remove temporary files beside ``out`` left by processes that were killed (SIGKILL
    leaves them): their names carry the writer's process id."""
    for temp in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        pid = temp.name[len(out.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            temp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True
