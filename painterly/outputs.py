"""Writing results safely: check a path before the work, write atomically after it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
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
    return out


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
    handle, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            write(temp)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return out
