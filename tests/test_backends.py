"""Where jobs run: the settings, and local worker processes painting exactly what this
process paints."""

from __future__ import annotations

import numpy as np
import pytest

from painterly.backends import BackendSettings, make_backend
from painterly.backends.local import LocalBackend
from painterly.batch import PAINTED, Batch
from painterly.errors import SettingsError
from painterly.images import load_image
from painterly.jobs import every_pair
from painterly.settings import TransferSettings


@pytest.mark.parametrize(("values", "message"), [
    ({"jobs": 0}, "jobs: must be a whole number >= 1"),
    ({"retries": -1}, "retries: must be a whole number >= 0"),
    ({"cpus_per_job": 0}, "cpus_per_job: must be a whole number >= 1"),
    ({"cpus_per_job": True}, "cpus_per_job: must be a whole number >= 1"),
    ({"gpus_per_job": float("nan"), "cluster": "ray"}, "gpus_per_job: must be a number"),
    ({"cluster": "slurm"}, "cluster: must be one of ray"),
    ({"address": "10.0.0.1:6379"}, "address: applies only to a cluster"),
])
def test_bad_backend_settings_name_the_field(values, message):
    with pytest.raises(SettingsError, match=message):
        BackendSettings(**values)


def test_the_local_backend_by_default():
    backend = make_backend(BackendSettings(jobs=2, cpus_per_job=1))
    assert isinstance(backend, LocalBackend) and (backend.jobs, backend.threads) == (2, 1)


def test_worker_processes_paint_what_this_process_paints(tmp_path, inputs):
    content, style = inputs
    settings = TransferSettings(size=64, iterations=3, scales=())
    jobs = every_pair([str(content)], [str(style), str(content), str(style)], settings)
    here = Batch(jobs, tmp_path / "here")
    (tmp_path / "here").mkdir()
    assert all(r.status == PAINTED for r in here.run(LocalBackend(1), threads=1))
    there = Batch(jobs, tmp_path / "there")
    (tmp_path / "there").mkdir()
    records = there.run(LocalBackend(2, threads=1))
    assert all(r.status == PAINTED for r in records)
    assert len({r.worker for r in records}) == 2  # both processes painted
    for job in jobs:
        assert np.array_equal(np.asarray(load_image(tmp_path / "here" / job.output)),
                              np.asarray(load_image(tmp_path / "there" / job.output)))
