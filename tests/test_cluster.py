"""Batches on a real Ray cluster on loopback: a head and a second node joined to it, so
work crosses nodes. CI installs the [ray] extra and sets PAINTERLY_REQUIRE_RAY=1, so
these run there rather than skip."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("PAINTERLY_REQUIRE_RAY") != "1":
    pytest.importorskip("ray")
import ray

from painterly.backends.local import LocalBackend
from painterly.backends.ray_cluster import RayBackend
from painterly.batch import PAINTED, SKIPPED, Batch
from painterly.images import load_image
from painterly.jobs import every_pair
from painterly.recipes import read_recipe
from painterly.settings import TransferSettings

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _node(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([RAY, "start", "--block", "--num-cpus", "1",
                             "--node-ip-address", "127.0.0.1", "--disable-usage-stats", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_nodes(count: int, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while len([n for n in ray.nodes() if n["Alive"]]) < count:
        assert time.monotonic() < deadline, "the cluster's nodes did not come up"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node of one CPU each, on 127.0.0.1; stopped at the end."""
    port = _free_port()
    # Ray's sockets live under the temp dir, whose path must stay short.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    head = _node("--head", "--port", str(port), "--temp-dir", temp,
                 "--include-dashboard", "false")
    nodes = [head]
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                ray.init(address=f"127.0.0.1:{port}", logging_level="ERROR", log_to_driver=False)
                break
            except (ConnectionError, RuntimeError):
                assert head.poll() is None and time.monotonic() < deadline, "no head node"
                time.sleep(1)
        nodes.append(_node("--address", f"127.0.0.1:{port}"))
        _wait_for_nodes(2)
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)  # a blocking `ray start` stops its node's processes
        for node in nodes:
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
        shutil.rmtree(temp, ignore_errors=True)


SETTINGS = TransferSettings(size=64, iterations=3, scales=())


def _jobs(inputs, tmp_path, count):
    """``count`` jobs: the photo and painting, and rotated copies (all distinct)."""
    content, style = inputs
    photos = []
    for turn in range(count // 2):
        photo = tmp_path / f"photo{turn}.png"
        load_image(content).rotate(turn * 7, expand=False).save(photo)
        photos.append(str(photo))
    return every_pair(photos, [str(style), str(content)], SETTINGS)


def _pixels(path):
    return np.asarray(load_image(path))


def test_a_batch_on_the_cluster_paints_what_the_local_backend_paints(cluster, tmp_path, inputs):
    jobs = _jobs(inputs, tmp_path, 8)
    (tmp_path / "ray").mkdir()
    (tmp_path / "local").mkdir()
    on_ray = Batch(jobs, tmp_path / "ray").run(RayBackend(cluster, cpus=1))
    assert [r.status for r in on_ray] == [PAINTED] * 8, [str(r.error) for r in on_ray]
    nodes = {r.worker.split(":")[0] for r in on_ray}
    assert len(nodes) == 2, f"all the work ran on one node: {nodes}"
    here = Batch(jobs, tmp_path / "local").run(LocalBackend(2, threads=1))
    assert [r.status for r in here] == [PAINTED] * 8
    for job in jobs:  # bit for bit, on the CPU
        assert np.array_equal(_pixels(tmp_path / "ray" / job.output),
                              _pixels(tmp_path / "local" / job.output)), job.output


def _painting_workers() -> list[int]:
    """Process ids of Ray workers running a painting task now (by their process title)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::paint_remote"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_worker_s_job_is_run_again_and_written_once(cluster, tmp_path, inputs):
    settings = TransferSettings(size=128, iterations=40, scales=())
    content, style = inputs
    jobs = every_pair([str(content)], [str(style), str(content)], settings)
    (tmp_path / "out").mkdir()
    batch = Batch(jobs, tmp_path / "out")
    done = threading.Event()
    result = []
    thread = threading.Thread(target=lambda: (result.append(batch.run(RayBackend(cluster))),
                                              done.set()))
    thread.start()
    deadline = time.monotonic() + 120
    while not _painting_workers():
        assert time.monotonic() < deadline and not done.is_set(), "no task started"
        time.sleep(0.05)
    time.sleep(1.0)  # mid-job: the network loaded, iterations under way
    victim = _painting_workers()[0]
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=300)
    assert done.is_set()
    records = result[0]
    assert [r.status for r in records] == [PAINTED, PAINTED], [str(r.error) for r in records]
    assert all(r.worker.rsplit(":", 1)[1] != str(victim) for r in records)  # it sent nothing
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == sorted(job.output for job in jobs)  # each once; no temporary left
    for job in jobs:
        assert load_image(tmp_path / "out" / job.output).size == (128, 96)
        assert read_recipe(tmp_path / "out" / job.output)["settings"]["iterations"] == 40


def test_a_stopped_cluster_batch_paints_only_what_is_missing_when_run_again(
        cluster, tmp_path, inputs):
    jobs = _jobs(inputs, tmp_path, 6)
    (tmp_path / "out").mkdir()
    settled = []
    first = Batch(jobs, tmp_path / "out").run(
        RayBackend(cluster), on_record=settled.append, should_stop=lambda: len(settled) >= 2)
    finished = [r.job.output for r in first if r.status == PAINTED]
    assert 2 <= len(finished) < 6
    again = Batch(jobs, tmp_path / "out").run(RayBackend(cluster))
    assert {r.job.output for r in again if r.status == SKIPPED} == set(finished)
    assert all(r.status in (PAINTED, SKIPPED) for r in again)
    assert not list((tmp_path / "out").glob("*.partial.png"))


def test_a_sweep_spreads_over_the_cluster(cluster, small_content, small_style):
    from painterly.experiments import sweep

    axes = {"style_weight": [1.0, 30.0], "seed": [0, 1]}
    _, there = sweep(small_content, small_style, SETTINGS, axes, backend=RayBackend(cluster))
    _, here = sweep(small_content, small_style, SETTINGS, axes,
                    backend=LocalBackend(2, threads=1))
    assert [p.values for p in there] == [p.values for p in here]
    for a, b in zip(there, here):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert a.history[-1].total == b.history[-1].total


def test_the_workers_threads_wait_as_the_driver_s_do(cluster, monkeypatch):
    """The nodes were started without the driver's environment; its OpenMP wait settings
    (painterly.openmp) travel with each task."""
    monkeypatch.setenv("GOMP_SPINCOUNT", "12345")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)

    @ray.remote
    def environment(name):
        return os.environ.get(name)

    options = RayBackend(cluster).task_options()
    assert ray.get(environment.options(**options).remote("GOMP_SPINCOUNT")) == "12345"
    assert ray.get(environment.remote("GOMP_SPINCOUNT")) != "12345"  # not the node's own
