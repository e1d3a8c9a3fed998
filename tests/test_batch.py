"""Batches: jobs painted from their files' bytes, written by the driver, skipped by
recipe, stopped with their pictures so far, reported."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from dataclasses import replace

import numpy as np
import pytest

from painterly.backends.local import LocalBackend
from painterly.batch import FAILED, PAINTED, SKIPPED, STOPPED, Batch, Task, paint_task
from painterly.images import load_image
from painterly.jobs import Job, every_pair
from painterly.recipes import encode, make_recipe, read_recipe
from painterly.settings import TransferSettings
from painterly.transfer import Inputs, paint

SETTINGS = TransferSettings(size=64, iterations=3, scales=())


def _task(content, style, settings=SETTINGS, index=0):
    recipe = encode(make_recipe("transfer", settings, {"content": [content], "style": [style]}))
    return Task(index, "out.png", content.read_bytes(), (style.read_bytes(),),
                (str(content), str(style)), settings, recipe)


def test_a_task_paints_what_paint_paints(inputs):
    content, style = inputs
    outcome = paint_task(_task(content, style))
    assert outcome.status == PAINTED and outcome.error is None
    expected = paint(Inputs(load_image(content), [load_image(style)]), SETTINGS)
    assert np.array_equal(np.asarray(outcome.picture()), np.asarray(expected))
    assert outcome.distances.content > 0 and outcome.distances.style > 0
    assert outcome.seconds > 0


def test_a_tiled_task_gives_large_blocks_back_where_its_plan_counts_on_it(inputs, monkeypatch):
    """As the command line does: where the limit leaves no room to keep what a tiled run
    frees, its memory estimate counts on the blocks going back."""
    import painterly.allocator

    calls = []
    monkeypatch.setattr(painterly.allocator, "return_large_blocks", lambda: calls.append(1))
    content, style = inputs
    assert paint_task(_task(content, style)).status == PAINTED
    roomy = TransferSettings(size=160, iterations=2, scales=(), tile=64, max_memory=8.0)
    assert paint_task(_task(content, style, roomy)).status == PAINTED
    assert calls == []  # untiled, and tiled with room to keep what it frees
    tight = replace(roomy, max_memory=1.5)  # KEPT_BYTES would not fit
    assert paint_task(_task(content, style, tight)).status == PAINTED
    assert calls == [1]


def test_a_bad_input_fails_its_task_with_the_reason_and_travels(inputs, tmp_path):
    content, style = inputs
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    outcome = pickle.loads(pickle.dumps(paint_task(_task(broken, style))))
    assert outcome.status == FAILED and outcome.data is None
    assert str(outcome.error) == f"{broken}: not an image file Pillow can read"


def _batch(tmp_path, jobs, report="report.csv"):
    return Batch(jobs, tmp_path / "out", tmp_path / report)


def test_a_batch_paints_then_skips_what_is_done(tmp_path, inputs):
    content, style = inputs
    (tmp_path / "out").mkdir()
    jobs = every_pair([str(content)], [str(style)], SETTINGS)
    jobs.append(Job("weighted.png", str(content), (str(style),),
                    TransferSettings(size=64, iterations=3, scales=(), style_weight=20.0)))
    records = _batch(tmp_path, jobs).run(LocalBackend())
    assert [r.status for r in records] == [PAINTED, PAINTED]
    with open(tmp_path / "report.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["painted", "painted"]
    assert rows[0]["output"] == str(tmp_path / "out" / "photo_painting.png")
    # The weighted job ran with its own weight: pulled further from the photo. (After 3
    # iterations the style distance is not yet ordered by the weight; the content is.)
    assert float(rows[1]["content_distance"]) > float(rows[0]["content_distance"])
    assert read_recipe(tmp_path / "out" / "weighted.png")["settings"]["style_weight"] == 20.0

    again = _batch(tmp_path, jobs).run(LocalBackend())
    assert [r.status for r in again] == [SKIPPED, SKIPPED]

    # The same files elsewhere are the same inputs (by SHA-256); other bytes are not.
    moved = tmp_path / "moved"
    shutil.copytree(content.parent, moved, ignore=shutil.ignore_patterns("out", "moved"))
    jobs = every_pair([str(moved / content.name)], [str(moved / style.name)], SETTINGS)
    assert _batch(tmp_path, jobs).run(LocalBackend())[0].status == SKIPPED
    load_image(content).rotate(180).save(moved / content.name)
    assert _batch(tmp_path, jobs).run(LocalBackend())[0].status == PAINTED


def test_a_stopped_batch_keeps_the_picture_so_far_and_goes_on_later(tmp_path, inputs):
    content, style = inputs
    (tmp_path / "out").mkdir()
    jobs = every_pair([str(content)], [str(style), str(content)], SETTINGS)
    asked = []

    def stop_in_the_second_iteration() -> bool:
        asked.append(1)
        return len(asked) > 2  # asked before the job, then after each iteration

    batch = _batch(tmp_path, jobs, "report.jsonl")
    records = batch.run(LocalBackend(), should_stop=stop_in_the_second_iteration)
    assert [r.status for r in records] == [STOPPED, ""]
    partial = tmp_path / "out" / "photo_painting.partial.png"
    assert records[0].picture == partial and load_image(partial).size == (64, 48)
    assert not (tmp_path / "out" / "photo_painting.png").exists()
    rows = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert [row["status"] for row in rows] == ["stopped", "waiting"]

    records = _batch(tmp_path, jobs).run(LocalBackend())
    assert [r.status for r in records] == [PAINTED, PAINTED]
    assert not partial.exists()  # the finished picture replaces the picture so far


def test_refused_jobs_fail_before_any_work(tmp_path, inputs):
    content, style = inputs
    (tmp_path / "out").mkdir()
    jobs = every_pair([str(tmp_path / "missing.jpg"), str(content)], [str(style)], SETTINGS)
    seen = []
    batch = _batch(tmp_path, jobs)
    assert batch.prepare(seen.append) == 1
    assert [r.status for r in seen] == [FAILED]
    assert str(seen[0].error) == f"{tmp_path / 'missing.jpg'}: no such file"
    assert [r.status for r in batch.run(LocalBackend())] == [FAILED, PAINTED]
