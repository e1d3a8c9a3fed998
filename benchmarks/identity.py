"""Is the default picture the same, pixel for pixel? Paints the README's example with the
defaults through the command line of the painterly found in SOURCE (default: this
checkout) and prints the SHA-256 of the decoded RGB pixels (the PNG file itself also
holds the recipe, whose paths differ), with the CPU's name. Compare two sources on one
machine, e.g. before and after a refactoring:

    git worktree add /tmp/old OLD_COMMIT
    .venv/bin/python benchmarks/identity.py --source /tmp/old --tag before
    .venv/bin/python benchmarks/identity.py --tag after

Each run appends a row to results/identity.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "identity.md"
sys.path.insert(0, str(ROOT / "benchmarks"))
from speed import cpu_name  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT), help="a checkout of painterly")
    parser.add_argument("--tag", default="", help="a word for the row (before, after, ...)")
    args = parser.parse_args()
    source = Path(args.source).resolve()
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "default.png"
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "painterly", "transfer",
             str(ROOT / "examples/content/tubingen.jpg"),
             str(ROOT / "examples/style/starry_night.jpg"), "-o", str(out), "-q"],
            check=True, cwd=source, env={**os.environ, "PYTHONPATH": str(source)},
        )
        seconds = time.perf_counter() - began
        with Image.open(out) as picture:
            digest = hashlib.sha256(picture.convert("RGB").tobytes()).hexdigest()
    row = f"| {args.tag} | {commit} | {cpu_name()} | {digest} | {seconds:.0f} |"
    print(row)
    if not RESULTS.exists():
        RESULTS.write_text(
            "SHA-256 of the default picture's RGB pixels (benchmarks/identity.py): the same "
            "digest on one machine means the same picture.\n\n"
            "| tag | commit | CPU | pixels SHA-256 | seconds |\n|---|---|---|---|---|\n"
        )
    with RESULTS.open("a") as results:
        results.write(row + "\n")


if __name__ == "__main__":
    main()
