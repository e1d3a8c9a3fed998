"""Pictures of several quality.py runs side by side, one row per painting, captioned with
each run's time and distances.

    python benchmarks/side_by_side.py OUT.png TAG=LABEL [TAG=LABEL ...]

Each TAG names a run's results (``results/quality{TAG}.json`` and its pictures), LABEL
heads its column.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quality import PAINTINGS  # benchmarks/quality.py, beside this script

from painterly.sheets import contact_sheet

RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    out, runs = Path(sys.argv[1]), [arg.split("=", 1) for arg in sys.argv[2:]]
    cells = {}
    for column, (tag, _) in enumerate(runs):
        rows = {row["painting"]: row for row in
                json.loads((RESULTS / f"quality{tag}.json").read_text())["rows"]}
        for row_index, (name, painting) in enumerate(PAINTINGS.items()):
            row = rows[painting]
            picture = Image.open(RESULTS / f"quality_{name}{tag}.png").convert("RGB")
            caption = f"{row['seconds']:.0f} s: {row['content']:.3f} / {row['style']:.4f}"
            cells[(row_index, column)] = (picture, caption)
    sheet = contact_sheet(cells, list(PAINTINGS), [label for _, label in runs],
                          title="time: content / style distance (lower is better)")
    sheet.save(out)
    print(out)


if __name__ == "__main__":
    main()
