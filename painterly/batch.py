"""Many pictures, on whatever runs them: :class:`Batch` paints jobs (see
:mod:`painterly.jobs`) through a backend (see :mod:`painterly.backends`) and writes what
comes back.

The driver reads each job's files and sends their bytes as a :class:`Task`; a worker,
anywhere, paints it with :func:`paint_task` and sends back an :class:`Outcome` holding
the finished file (recipe inside), so no machine needs another's file system. The
driver writes each picture atomically as it arrives and keeps a report. A job whose
picture already exists with the same recipe (inputs by SHA-256, settings, weights) is
skipped, so a batch that was stopped goes on where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image

from .allocator import allocate_for
from .errors import PainterlyError
from .events import Interrupted, Progress, StopRequested
from .images import check_image_path, decode_image, encode_image, fit_long_side
from .jobs import Job
from .metrics import Distances, measure
from .outputs import atomic_write
from .recipes import encode, make_recipe, read_recipe
from .settings import TransferSettings
from .transfer import Inputs, paint
from .untrusted import regular_file

#: Distances are measured on the picture shrunk to at most this long side: the untiled
#: network over a print-size picture would need more memory than painting it did.
MEASURE_SIDE = 1024
#: The outcomes of a job, as the report words them.
PAINTED, SKIPPED, FAILED, STOPPED, CANCELLED = (
    "painted", "skipped", "failed", "stopped", "not started")


@dataclass(frozen=True)
class Task:
    """What a worker needs to paint one job: the files' bytes, never their paths."""

    index: int  # the job's place in the batch
    output: str  # its file name: the format of the picture sent back
    content: bytes
    styles: tuple[bytes, ...]
    names: tuple[str, ...]  # photo, then paintings, as messages show them
    settings: TransferSettings
    recipe: str  # stored in the picture
    start: bytes | None = None  # the image settings.init names, if any
    masks: tuple[bytes, ...] | None = None  # the images settings.masks names, if any
    threads: int = 0  # torch threads for this job (0: as the worker has them)
    history: bool = False  # send back every iteration's numbers (a sweep plots them)


@dataclass(frozen=True)
class Outcome:
    """What comes back from a worker: the picture as a file (PNG or JPEG bytes, recipe
    inside; the picture so far if the job was stopped), or the error that failed it."""

    index: int
    status: str  # PAINTED, STOPPED, CANCELLED or FAILED
    data: bytes | None = None
    seconds: float = 0.0
    distances: Distances | None = None
    error: PainterlyError | None = None
    worker: str = ""  # where it ran (the backend fills it in)
    history: tuple[Progress, ...] = ()

    def picture(self) -> Image.Image:
        """The picture sent back, decoded."""
        assert self.data is not None
        return decode_image(self.data, "the picture sent back")


def paint_task(task: Task, should_stop: Callable[[], bool] = lambda: False) -> Outcome:
    """Paint ``task`` where this runs: decode its bytes, paint, measure the distances to
    the photo and the first painting, and encode the picture. ``should_stop`` is asked
    after each iteration; once it says yes, the picture so far comes back (STOPPED).
    Bad input, and anything else that goes wrong, fails only this task."""
    if should_stop():
        return Outcome(task.index, CANCELLED)
    threads = torch.get_num_threads()
    torch.set_num_threads(task.threads or threads)
    try:
        return _paint_task(task, should_stop)
    finally:
        torch.set_num_threads(threads)  # a job in the caller's process leaves it as it was


def _paint_task(task: Task, should_stop: Callable[[], bool]) -> Outcome:
    began = time.perf_counter()
    history: list[Progress] = []

    def follow(progress: Progress) -> None:
        if task.history:
            history.append(progress.numbers())
        if should_stop():
            raise StopRequested

    status = PAINTED
    try:
        inputs = _decoded(task)
        try:
            # No one reads a job's plan's time: no timed pass for it.
            picture = paint(inputs, task.settings, follow, on_plan=allocate_for,
                            time_plan=False)
        except Interrupted as stop:
            picture, status = stop.picture, STOPPED
        distances = measure(fit_long_side(picture, min(MEASURE_SIDE, max(picture.size))),
                            inputs.photo, inputs.paintings[0],
                            settings=replace(TransferSettings(), device=task.settings.device))
        data = encode_image(picture, Path(task.output).suffix, task.recipe)
    except PainterlyError as error:
        return Outcome(task.index, FAILED, seconds=time.perf_counter() - began, error=error)
    except (MemoryError, torch.OutOfMemoryError):
        error = PainterlyError("out of memory; try a smaller size", setting="size")
        return Outcome(task.index, FAILED, seconds=time.perf_counter() - began, error=error)
    return Outcome(task.index, status, data, time.perf_counter() - began, distances,
                   history=tuple(history))


def _decoded(task: Task) -> Inputs:
    limit = task.settings.max_input_pixels
    photo_name, *painting_names = task.names
    start = decode_image(task.start, "the start image", limit) if task.start else None
    masks = None
    if task.masks is not None:
        names = task.settings.masks or ["the mask"] * len(task.masks)
        masks = [decode_image(data, name, limit) for data, name in zip(task.masks, names)]
    return Inputs(decode_image(task.content, photo_name, limit),
                  [decode_image(data, name, limit) for data, name in zip(task.styles,
                                                                          painting_names)],
                  photo_name, painting_names, start, masks)


class Backend(Protocol):
    """Where tasks run: local processes, a Ray cluster (:mod:`painterly.backends`)."""

    def run(self, tasks: Iterable[Task], on_outcome: Callable[[Outcome], None],
            should_stop: Callable[[], bool]) -> None:
        """Run every task, calling ``on_outcome`` (in this thread) as each comes back.
        Once ``should_stop()`` says yes, take no new task, and let those under way send
        back their pictures so far."""


@dataclass
class Record:
    """A job's line in the report."""

    job: Job
    status: str = ""
    seconds: float | None = None
    distances: Distances | None = None
    error: PainterlyError | None = None
    worker: str = ""
    history: tuple[Progress, ...] = field(default=(), repr=False)
    picture: Path | None = None  # where it was written


@dataclass
class Batch:
    """A batch's jobs in a directory, its report, and what has happened to each job."""

    jobs: list[Job]
    directory: Path
    report: Path | None = None
    describe: Callable[[PainterlyError], str] = str  # an error in the user's words
    records: list[Record] = field(init=False)
    _recipes: dict[int, str] | None = field(init=False, default=None)  # jobs left to paint

    def __post_init__(self) -> None:
        self.records = [Record(job) for job in self.jobs]

    def prepare(self, on_record: Callable[[Record], None] = lambda r: None) -> int:
        """Settle what needs no work: refused jobs fail, finished ones are skipped, each
        told to ``on_record``. Returns how many jobs are left to paint."""
        self._recipes = {}
        for index, record in enumerate(self.records):
            job = record.job
            try:
                if job.error is not None:
                    raise job.error
                check_image_path(self.directory / job.output)
                recipe = job_recipe(job)
            except PainterlyError as error:
                record.status, record.error = FAILED, error
            else:
                if _is_done(self.directory / job.output, recipe):
                    record.status, record.picture = SKIPPED, self.directory / job.output
                else:
                    self._recipes[index] = encode(recipe)
                    continue
            on_record(record)
        self.write_report()
        return len(self._recipes)

    def run(self, backend: Backend, on_record: Callable[[Record], None] = lambda r: None,
            should_stop: Callable[[], bool] = lambda: False, threads: int = 0,
            history: bool = False) -> list[Record]:
        """Paint every job left by :meth:`prepare` (called here if it was not): each
        picture is written as it arrives, the report after every job. ``on_record``
        follows each job as it is settled; once ``should_stop()`` says yes, no new job
        starts and those under way keep their pictures so far (NAME.partial.png)."""
        if self._recipes is None:
            self.prepare(on_record)
        recipes, self._recipes = self._recipes or {}, None

        def tasks() -> Iterator[Task]:
            for index, recipe in recipes.items():
                task = self._task(index, recipe, threads, history)
                if task is None:  # an input vanished or changed type since it was hashed
                    on_record(self.records[index])
                    continue
                yield task

        def arrived(outcome: Outcome) -> None:
            self._keep(outcome)
            on_record(self.records[outcome.index])

        backend.run(tasks(), arrived, should_stop)
        self.write_report()
        return self.records

    def _task(self, index: int, recipe: str, threads: int, history: bool) -> Task | None:
        job = self.records[index].job
        try:
            start, masks = job.settings.init_file(), job.settings.masks
            return Task(index, job.output, read_input(job.content),
                        tuple(read_input(path) for path in job.styles),
                        (job.content, *job.styles), job.settings, recipe,
                        read_input(start) if start else None,
                        tuple(read_input(path) for path in masks) if masks else None,
                        threads, history)
        except PainterlyError as error:
            self.records[index].status, self.records[index].error = FAILED, error
            return None

    def _keep(self, outcome: Outcome) -> None:
        """Write what came back: the picture, or the picture so far beside it."""
        record = self.records[outcome.index]
        record.status, record.seconds, record.worker = outcome.status, outcome.seconds, outcome.worker
        record.distances, record.error, record.history = (
            outcome.distances, outcome.error, outcome.history)
        final = self.directory / record.job.output
        if outcome.data is not None:
            target = final if outcome.status == PAINTED else partial_path(final)
            record.picture = atomic_write(target, lambda handle: handle.write(outcome.data))
            if outcome.status == PAINTED:
                partial_path(final).unlink(missing_ok=True)
        self.write_report()

    def write_report(self) -> None:
        """The report (CSV, or JSONL by its suffix), rewritten atomically."""
        if self.report is None:
            return
        rows = [self._row(index, record) for index, record in enumerate(self.records)]
        if self.report.suffix.lower() == ".jsonl":
            text = "".join(json.dumps(row) + "\n" for row in rows)
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            text = buffer.getvalue()
        atomic_write(self.report, lambda handle: handle.write(text.encode()))

    def _row(self, index: int, record: Record) -> dict[str, object]:
        job, distances = record.job, record.distances
        return {
            "job": index + 1,
            "output": str(record.picture) if record.picture else "",
            "status": record.status or "waiting",
            "seconds": round(record.seconds, 2) if record.seconds is not None else "",
            "content_distance": round(distances.content, 5) if distances else "",
            "style_distance": round(distances.style, 6) if distances else "",
            "content": job.content,
            "style": ";".join(job.styles),
            "worker": record.worker,
            "error": self.describe(record.error) if record.error else "",
        }


def job_recipe(job: Job) -> dict:
    """The recipe a job's picture will carry (its inputs hashed now)."""
    for path in (job.content, *job.styles):
        regular_file(path, "image file")
    inputs: dict[str, list[object]] = {"content": [job.content], "style": list(job.styles)}
    for role, paths in job.settings.input_files().items():
        inputs[role] = [regular_file(path, "image file") for path in paths]
    return make_recipe("transfer", job.settings, inputs)


def _is_done(picture: Path, recipe: dict) -> bool:
    """Whether ``picture`` is this job's, finished: the same settings, inputs by SHA-256
    and weights (paths may differ: the folder may have moved)."""
    if not picture.exists():
        return False
    try:
        made = read_recipe(picture)
    except PainterlyError:
        return False

    def digests(r: dict) -> dict:
        return {role: [entry.get("sha256") for entry in entries]
                for role, entries in r["inputs"].items()}

    return (made["settings"] == recipe["settings"] and digests(made) == digests(recipe)
            and made["weights"]["sha256"] == recipe["weights"]["sha256"])


def partial_path(final: Path) -> Path:
    """Where a stopped job's picture so far goes: NAME.partial.png beside NAME.png."""
    return final.with_name(f"{final.stem}.partial{final.suffix}")


def read_input(path: str | os.PathLike[str]) -> bytes:
    """An input image file's bytes, to travel to a worker (a regular file only)."""
    return regular_file(path, "image file").read_bytes()
