"""Reading what a file hands us as untrusted: only regular files that can be read, of a
bounded size, and their paths shown escaped.

A FIFO, a device or a socket named as an input would block a read forever or never end;
a path taken from a recipe or checkpoint may carry escape sequences or a newline meant
for the terminal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import PainterlyError


def regular_file(path: str | os.PathLike[str], what: str, max_bytes: int | None = None) -> Path:
    """``path`` if it is a regular file this process can read, of at most ``max_bytes``;
    else :class:`PainterlyError` naming it (``what``: "image file", "recipe", ...)."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise PainterlyError(f"{shown(path)}: no such file") from None
    except OSError as error:
        raise PainterlyError(f"{shown(path)}: cannot be read ({error.strerror})") from None
    except ValueError:  # a NUL byte, which no file name holds
        raise PainterlyError(f"{shown(path)}: not a file name (it holds a NUL byte)") from None
    if stat.S_ISDIR(info.st_mode):
        raise PainterlyError(f"{shown(path)}: is a directory, not {_article(what)}")
    if not stat.S_ISREG(info.st_mode):
        raise PainterlyError(
            f"{shown(path)}: is not a regular file (a pipe, device or socket), not {_article(what)}"
        )
    if not os.access(path, os.R_OK):
        raise PainterlyError(f"{shown(path)}: cannot be read (permission denied)")
    if max_bytes is not None and info.st_size > max_bytes:
        raise PainterlyError(
            f"{shown(path)}: {info.st_size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB a "
            f"{what} may have"
        )
    return path


def shown(path: object) -> str:
    """``path`` for a message: control characters (escape sequences, newlines) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _article(what: str) -> str:
    return ("an " if what[0] in "aeiou" else "a ") + what
