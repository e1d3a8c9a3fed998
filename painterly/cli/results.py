"""Writing what a run made: the picture where the user asked, or, where that fails at
the last moment (a full disk, a path that refuses writes), somewhere it is kept; and the
closing lines that say where it went."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from ..images import save_image


def save_result(picture: Image.Image, output: Path, recipe: str) -> Path:
    """Write ``picture`` to ``output``; if that fails, to the temporary directory, saying
    why on stderr. Returns where it is."""
    try:
        return save_image(picture, output, recipe)
    except OSError as error:
        kept = Path(tempfile.mkdtemp(prefix="painterly-")) / f"kept{output.suffix.lower()}"
        save_image(picture, kept, recipe)
        print(f"painterly: could not write {output} ({error.strerror or error}); the picture "
              f"is kept in {kept}", file=sys.stderr)
        return kept


def report(output: Path, picture: Image.Image, began: float) -> None:
    """The closing lines: what was written, how big, how long it took; the path on stdout."""
    seconds = time.perf_counter() - began
    print(
        f"painterly: wrote {output} ({picture.width}x{picture.height}) in {seconds:.1f} s",
        file=sys.stderr,
    )
    print(output)
