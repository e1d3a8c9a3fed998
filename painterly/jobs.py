"""A batch's jobs: which photo is painted in which paintings, with which settings, to
which file. From folders and globs (every photo in every painting) or from a manifest
(CSV or JSONL, one job per row, with optional per-job settings).

A manifest is untrusted: its size is bounded, its paths are taken relative to its own
folder, its output names must stay inside the batch's directory, and a row with a bad
setting becomes a job that fails with the reason while the other rows go on.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import PainterlyError
from .images import IMAGE_SUFFIXES, OUTPUT_FORMATS
from .settings import TransferSettings
from .settings_text import read_setting
from .untrusted import regular_file, shown

#: A manifest is a list of jobs, not a data set: bounded before it is read.
MAX_MANIFEST_BYTES = 20_000_000
MAX_JOBS = 100_000
#: Manifest columns that are not settings.
CONTENT, STYLE, OUTPUT = "content", "style", "output"


@dataclass(frozen=True)
class Job:
    """One picture to paint: ``output`` is a file name inside the batch's directory.
    A job whose row could not be read carries the reason in ``error`` and is not run."""

    output: str
    content: str
    styles: tuple[str, ...]
    settings: TransferSettings
    error: PainterlyError | None = None


def expand_inputs(patterns: Sequence[str], role: str) -> list[str]:
    """Files named by ``patterns``: a folder gives its images (sorted), a glob its
    matches, a path itself (checked when its job runs). PainterlyError if a folder or
    glob names no image at all."""
    files: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(str(p) for p in Path(pattern).iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif glob.has_magic(pattern):
            found = sorted(glob.glob(pattern))
        else:
            found = [pattern]
        if not found:
            raise PainterlyError(f"{shown(pattern)}: names no {role} image")
        files.extend(found)
    return files


def every_pair(contents: Sequence[str], styles: Sequence[str],
               settings: TransferSettings, suffix: str = ".png") -> list[Job]:
    """Each photo in each painting, named PHOTO_PAINTING.png (numbered where names meet)."""
    jobs = [Job(_name([content, style], suffix), content, (style,), settings)
            for content in contents for style in styles]
    return unique_names(jobs)


def read_manifest(path: str | os.PathLike[str], base: TransferSettings,
                  suffix: str = ".png") -> list[Job]:
    """The jobs of a CSV or JSONL manifest: columns ``content``, ``style`` (several
    paintings separated by ``;`` in CSV, a list in JSONL), an optional ``output`` file
    name, and any transfer setting (empty: ``base``'s value)."""
    manifest = regular_file(path, "manifest", MAX_MANIFEST_BYTES)
    try:
        text = manifest.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PainterlyError(f"{shown(path)}: not a UTF-8 text file") from None
    rows = _jsonl_rows(text, path) if manifest.suffix.lower() == ".jsonl" else _csv_rows(text, path)
    if not rows:
        raise PainterlyError(f"{shown(path)}: lists no jobs")
    if len(rows) > MAX_JOBS:
        raise PainterlyError(f"{shown(path)}: {len(rows)} jobs, over the {MAX_JOBS} a batch may have")
    folder = manifest.parent
    return unique_names([_row_job(row, number, folder, base, suffix, path)
                         for number, row in enumerate(rows, start=1)])


def _csv_rows(text: str, path: object) -> list[dict[str, object]]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = [dict(row) for row in reader]
    except csv.Error as error:
        raise PainterlyError(f"{shown(path)}: not a CSV file ({error})") from None
    if reader.fieldnames is None or CONTENT not in reader.fieldnames:
        raise PainterlyError(f"{shown(path)}: a manifest's first line names its columns, "
                             f"'content' and 'style' among them")
    # Extra cells on a row land under the key None (a row longer than the header).
    return [{k: v for k, v in row.items() if v not in (None, "")} for row in rows]


def _jsonl_rows(text: str, path: object) -> list[dict[str, object]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise PainterlyError(f"{shown(path)}: line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise PainterlyError(f"{shown(path)}: line {number} is not a JSON object")
        rows.append(row)
    return rows


def _row_job(row: dict, number: int, folder: Path, base: TransferSettings, suffix: str,
             path: object) -> Job:
    """One manifest row as a job; a row that cannot be read is a job carrying why."""
    where = f"{shown(path)} row {number}"
    content = row.get(CONTENT)
    styles = row.get(STYLE)
    if isinstance(styles, str):
        styles = [s.strip() for s in styles.split(";") if s.strip()]
    placeholder = Job(f"row{number:05d}{suffix}", str(content), (), base)
    try:
        if not isinstance(content, str) or not content:
            raise PainterlyError("no content (the photo's path)")
        if not isinstance(styles, list) or not styles or not all(
                isinstance(s, str) and s for s in styles):
            raise PainterlyError("no style (the painting's path, several separated by ;)")
        if None in row:
            raise PainterlyError("more cells than the header has columns")
        contents, paintings = str(folder / content), tuple(str(folder / s) for s in styles)
        output = row.get(OUTPUT, _name([contents, *paintings], suffix))
        given = {k: read_setting(TransferSettings, k, v)
                 for k, v in row.items() if k not in (CONTENT, STYLE, OUTPUT)}
        settings = replace(base, **given)
        # Files the row's settings name (a start image, masks) are relative to it too.
        files: dict[str, object] = {}
        if "init" in given and settings.init_file():
            files["init"] = str(folder / settings.init)
        if "masks" in given and settings.masks:
            files["masks"] = tuple(str(folder / mask) for mask in settings.masks)
        return Job(_checked_output(output), contents, paintings, replace(settings, **files))
    # A setting is named as the manifest's column is: by its field.
    except (PainterlyError, TypeError) as error:  # TypeError: a JSON value no field takes
        return replace(placeholder, error=PainterlyError(f"{where}: {error}"))


def _checked_output(name: object) -> str:
    """A manifest's output name: a plain file name, .png or .jpg, nothing else."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise PainterlyError(f"output {shown(name)} must be a file name, without folders")
    if Path(name).suffix.lower() not in OUTPUT_FORMATS:
        raise PainterlyError(f"output {shown(name)} must end in .png or .jpg")
    return name


def _name(paths: Iterable[str], suffix: str) -> str:
    return "_".join(Path(p).stem for p in paths)[:200] + suffix


def unique_names(jobs: list[Job]) -> list[Job]:
    """The jobs with NAME_2, NAME_3 ... where outputs would meet (case-blind, as some
    file systems are)."""
    seen: set[str] = set()
    named = []
    for job in jobs:
        name, number = job.output, 1
        while name.lower() in seen:
            number += 1
            stem, dot, ext = job.output.rpartition(".")
            name = f"{stem}_{number}{dot}{ext}"
        seen.add(name.lower())
        named.append(replace(job, output=name))
    return named
