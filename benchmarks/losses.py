"""The style losses side by side: every bundled photo in every bundled painting, with each
``--style-loss``, measured by four distances (issue 17).

    python benchmarks/losses.py [--size 512] [--quality normal] [--losses gram,w2,swd]
                                [--style-weights w2=9,swd=30] [--tag _epyc_avx2]
                                [--baseline results/losses_512_h100.json:gram]

For each photo x painting x loss: the wall time, the content and style (Gram) distances
of painterly.metrics.measure, and the distribution and palette distances of
painterly.metrics.distribution_distances. Writes benchmarks/results/losses<tag>.json
after every picture (a rerun skips the pictures already measured), then losses<tag>.md
(a table per pair, each loss's means, and the best loss per distance) and a contact
sheet losses<tag>.jpg (photo, painting, then each loss's picture). ``--baseline
FILE:LOSS,...`` adds those losses' rows from an earlier run's JSON to the report (named
"LOSS (baseline)", its machine in the header), to compare without painting them again.
Run nothing else heavy beside it: the times are wall time on the whole machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speed import keep_memory_as_the_cli, machine  # benchmarks/speed.py, beside this script

from painterly import PainterlyError, TransferSettings, __version__, stylize
from painterly.devices import resolve_device
from painterly.images import fit_long_side, load_image
from painterly.metrics import distribution_distances, measure

PHOTOS = sorted((ROOT / "examples" / "content").glob("*.jpg"))
PAINTINGS = sorted((ROOT / "examples" / "style").glob("*.jpg"))
RESULTS = ROOT / "benchmarks" / "results"
THUMB = 192
DISTANCES = ("content", "style", "distribution", "palette")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--quality", default="normal")
    parser.add_argument("--losses", default="gram,w2,swd")
    parser.add_argument("--style-weights", default="",
                        help="loss=weight pairs; a loss not named keeps the default weight")
    parser.add_argument("--tag", default="")
    parser.add_argument("--baseline", default="",
                        help="FILE:LOSS,...: those losses' rows of an earlier run, to compare")
    args = parser.parse_args()
    keep_memory_as_the_cli()
    losses = args.losses.split(",")
    weights = dict(pair.split("=") for pair in args.style_weights.split(",") if pair)
    store = RESULTS / f"losses{args.tag}.json"
    done = json.loads(store.read_text()) if store.exists() else {"rows": []}
    done.update(version=__version__, machine=machine(resolve_device("auto")),
                size=args.size, quality=args.quality, style_weights=weights)
    measured = {(r["photo"], r["painting"], r["loss"]) for r in done["rows"]}
    pictures = RESULTS / f"losses{args.tag}"
    pictures.mkdir(parents=True, exist_ok=True)
    for photo in PHOTOS:
        for painting in PAINTINGS:
            for loss in losses:
                if (photo.stem, painting.stem, loss) in measured:
                    continue
                extra = {"style_weight": float(weights[loss])} if loss in weights else {}
                settings = TransferSettings(size=args.size, quality=args.quality,
                                            style_loss=loss, **extra)
                done["rows"].append(_paint_and_measure(photo, painting, settings, pictures))
                store.write_text(json.dumps(done, indent=1) + "\n")
                print(done["rows"][-1], flush=True)
    if args.baseline:
        done, losses = _with_baseline(done, losses, args.baseline)
    _report(done, losses, args.tag, pictures)


def _with_baseline(done: dict, losses: list[str], baseline: str) -> tuple[dict, list[str]]:
    """This run's rows and the named losses' rows of an earlier run's JSON, renamed
    "LOSS (baseline)" (the first of them is then what the others are compared with)."""
    path, _, names = baseline.rpartition(":")
    earlier = json.loads(Path(path).read_text())
    rows = [{**row, "loss": f"{row['loss']} (baseline)"} for row in earlier["rows"]
            if row["loss"] in names.split(",")]
    machine = f"{done['machine']}; baseline rows from {earlier['machine']}"
    added = [f"{name} (baseline)" for name in names.split(",")]
    # The baseline's pictures, beside its JSON, for the contact sheet.
    sources = {label: (Path(path).with_suffix(""), name)
               for label, name in zip(added, names.split(","))}
    return ({**done, "rows": rows + done["rows"], "machine": machine, "sources": sources},
            added + losses)


def _paint_and_measure(photo: Path, painting: Path, settings: TransferSettings,
                       pictures: Path) -> dict:
    row = {"photo": photo.stem, "painting": painting.stem, "loss": settings.style_loss,
           "style_weight": settings.style_weight}
    began = time.perf_counter()
    try:
        picture = stylize(photo, painting, settings)
    except PainterlyError as error:  # a loss that fails on a pair is a result too
        return {**row, "error": str(error)}
    seconds = time.perf_counter() - began
    out = pictures / f"{photo.stem}_{painting.stem}_{settings.style_loss}.png"
    picture.save(out)
    near = measure(out, photo, painting)
    spread = distribution_distances(out, painting)
    # The repository keeps a small copy; the full picture is measured, then shrunk.
    fit_long_side(picture, THUMB * 2).save(out.with_suffix(".jpg"), quality=88)
    out.unlink()
    return {**row, "seconds": round(seconds, 1), "content": near.content, "style": near.style,
            "distribution": spread.distribution, "palette": spread.palette}


def _report(done: dict, losses: list[str], tag: str, pictures: Path) -> None:
    rows = {(r["photo"], r["painting"], r["loss"]): r for r in done["rows"]}
    pairs = sorted({(r["photo"], r["painting"]) for r in done["rows"]})
    lines = [(f"painterly {done['version']} on {done['machine']}; {done['size']} px, quality "
              f"{done['quality']}, style weights {done['style_weights'] or 'default'}; lower is "
              "closer on every distance (content: to the photo; style, distribution, palette: "
              "to the painting)"), "",
             "| photo | painting | loss | seconds | content | style | distribution | palette |",
             "|---|---|---|---|---|---|---|---|"]
    for photo, painting in pairs:
        for loss in losses:
            r = rows.get((photo, painting, loss))
            if r and "error" in r:
                lines.append(f"| {photo} | {painting} | {loss} | failed: {r['error']} |||||")
            elif r:
                lines.append(f"| {photo} | {painting} | {loss} | {r['seconds']} | "
                             f"{r['content']:.3f} | {r['style']:.4f} | "
                             f"{r['distribution']:.3f} | {r['palette']:.1f} |")
    first = losses[0]  # what the others are compared with
    lines += ["", ("Means over the pairs (and, for distribution and palette, on how many "
                   f"pairs the loss is at least as close as {first}):"), "",
              ("| loss | pairs | seconds | content | style | distribution | palette "
               f"| distribution <= {first} | palette <= {first} |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for loss in losses:
        mine = [rows[(p, q, loss)] for p, q in pairs
                if "error" not in rows.get((p, q, loss), {"error": ""})]
        if not mine:
            continue
        means = {key: sum(r[key] for r in mine) / len(mine) for key in ("seconds", *DISTANCES)}
        wins = {key: sum(rows[(r["photo"], r["painting"], loss)][key]
                         <= rows[(r["photo"], r["painting"], first)][key] + 1e-12
                         for r in mine if "error" not in rows.get((r["photo"], r["painting"],
                                                                   first), {"error": ""}))
                for key in ("distribution", "palette")}
        lines.append(f"| {loss} | {len(mine)} | {means['seconds']:.1f} | {means['content']:.3f} "
                     f"| {means['style']:.4f} | {means['distribution']:.3f} | "
                     f"{means['palette']:.1f} | {wins['distribution']} | {wins['palette']} |")
    (RESULTS / f"losses{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sources = {loss: done.get("sources", {}).get(loss, (pictures, loss)) for loss in losses}
    _contact_sheet(pairs, sources, RESULTS / f"losses{tag}.jpg")


def _contact_sheet(pairs: list[tuple[str, str]], losses: dict[str, tuple[Path, str]],
                   out: Path) -> None:
    """A row per pair: the photo, the painting, then each loss's picture (``losses``:
    label -> the folder of its pictures and the loss in their names), labelled."""
    columns = 2 + len(losses)
    height = THUMB * 3 // 4
    sheet = Image.new("RGB", (columns * THUMB, (len(pairs) + 1) * height), "white")
    draw = ImageDraw.Draw(sheet)
    for index, label in enumerate(["photo", "painting", *losses]):
        draw.text((index * THUMB + 8, height // 2), label, fill="black")
    for row, (photo, painting) in enumerate(pairs, start=1):
        sources = [ROOT / "examples" / "content" / f"{photo}.jpg",
                   ROOT / "examples" / "style" / f"{painting}.jpg",
                   *(folder / f"{photo}_{painting}_{loss}.jpg"
                     for folder, loss in losses.values())]
        for column, source in enumerate(sources):
            if source.exists():
                thumb = load_image(source).copy()
                thumb.thumbnail((THUMB - 4, height - 4))
                sheet.paste(thumb, (column * THUMB + 2, row * height + 2))
    sheet.save(out, quality=85)


if __name__ == "__main__":
    main()
