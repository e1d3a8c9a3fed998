"""``painterly batch``: many pictures, on this machine or a Ray cluster, resumable."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from ..backends import BackendSettings, make_backend
from ..batch import FAILED, PAINTED, SKIPPED, STOPPED, Batch, Record
from ..errors import PainterlyError
from ..jobs import every_pair, expand_inputs, read_manifest
from ..outputs import check_output_path, make_output_dir
from ..settings import TransferSettings
from .options import EXIT_USAGE, add_settings_options, describe, given_settings
from .signals import STOP


def register(commands: argparse._SubParsersAction) -> None:
    batch = commands.add_parser(
        "batch",
        help="paint many pictures: photos x paintings, or a manifest; resumable",
        description="Paint every photo in every painting (--content, --style: files, "
        "folders or globs), or the jobs a manifest lists, into DIR. A job whose picture "
        "is already there with the same recipe is skipped, so running the same command "
        "again finishes a stopped batch. A job with bad input fails alone; the report "
        "says why.",
    )
    batch.add_argument("--content", metavar="PHOTO", nargs="+",
                       help="photos: files, folders (their images) or globs")
    batch.add_argument("--style", metavar="PAINTING", nargs="+",
                       help="paintings: files, folders or globs")
    batch.add_argument(
        "--manifest", metavar="FILE",
        help="jobs from a CSV or JSONL file instead: columns content, style (several "
        "separated by ;), optional output (a file name) and any transfer setting by its "
        "name (style_weight, size, ...); paths relative to the manifest")
    batch.add_argument("-o", "--output", metavar="DIR", required=True,
                       help="directory for the pictures (created if missing)")
    batch.add_argument("--report", metavar="FILE",
                       help="each job's output, seconds, distances or error, .csv or .jsonl "
                       "(default: DIR/report.csv)")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    add_settings_options(batch, BackendSettings, title="where the jobs run")
    add_settings_options(batch, TransferSettings)
    batch.set_defaults(run=_batch)


def _batch(args: argparse.Namespace) -> int:
    base = TransferSettings(**given_settings(TransferSettings, args))
    backend = make_backend(BackendSettings(**given_settings(BackendSettings, args)))
    if args.manifest:
        if args.content or args.style:
            raise PainterlyError("give --manifest, or --content and --style, not both")
        jobs = read_manifest(args.manifest, base)
    elif args.content and args.style:
        jobs = every_pair(expand_inputs(args.content, "photo"),
                          expand_inputs(args.style, "painting"), base)
    else:
        raise PainterlyError("give --content and --style (or --manifest FILE)")
    report = check_output_path(args.report, (".csv", ".jsonl")) if args.report else None
    directory = make_output_dir(args.output)
    batch = Batch(jobs, directory, report or directory / "report.csv", describe)
    began = time.perf_counter()
    to_paint = batch.prepare(lambda record: _say(record, args.quiet))
    if not args.quiet:
        skipped = sum(r.status == SKIPPED for r in batch.records)
        print(f"painterly: {len(jobs)} jobs: {to_paint} to paint, {skipped} already done",
              file=sys.stderr)
    with _JobsBar(to_paint, args.quiet) as bar:
        STOP.running = True  # the first signal stops the batch gently, at any moment

        def settled(record: Record) -> None:
            bar.update(record)
            _say(record, args.quiet, bar)

        batch.run(backend, settled, should_stop=lambda: STOP.signal is not None)
    return _closing(batch, began)


def _say(record: Record, quiet: bool, bar: _JobsBar | None = None) -> None:
    """A failed or stopped job gets its own line, whatever the bar shows."""
    if record.status == FAILED:
        # A manifest row that could not be read names itself in its error.
        job = "" if record.job.error is not None else f"{record.job.output}: "
        line = f"painterly: {job}failed: {describe(record.error)}"
    elif record.status == STOPPED and not quiet:
        line = f"painterly: {record.job.output}: stopped; the picture so far is {record.picture}"
    else:
        return
    if bar is not None:
        bar.write(line)
    else:
        print(line, file=sys.stderr)


def _closing(batch: Batch, began: float) -> int:
    """The closing line, and the exit status: 0 if every job has its picture."""
    counts = Counter(record.status or "not started" for record in batch.records)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"painterly: {len(batch.records)} jobs in {time.perf_counter() - began:.1f} s: "
          f"{summary}; pictures in {batch.directory}, report in {batch.report}",
          file=sys.stderr)
    if STOP.signal is not None:
        print("painterly: stopped; run the same command again to paint the rest",
              file=sys.stderr)
        return STOP.exit_status()
    return 0 if all(r.status in (PAINTED, SKIPPED) for r in batch.records) else EXIT_USAGE


class _JobsBar:
    """A bar over the jobs to paint, with the time left."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.bar = None
        if not quiet and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="job", file=sys.stderr, dynamic_ncols=True)

    def __enter__(self) -> _JobsBar:
        return self

    def update(self, record: Record) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{record.job.output} {record.status}", refresh=False)
            self.bar.update(1)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()
