"""Jobs as tasks on a Ray cluster (the ``[ray]`` extra): each job a task with its CPUs
and GPUs, run again on another worker if its worker dies; the inputs travel in the
task, the picture in its result, so the nodes share no file system.

A stop reaches the tasks under way through a small actor they ask once a second, without
waiting for its answer; they then send back their pictures so far, as local jobs do.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from ..batch import FAILED, Outcome, Task, paint_task
from ..errors import PainterlyError, first_line
from ..openmp import wait_settings

try:
    import ray
    from ray.exceptions import RayError
except ImportError:  # pragma: no cover - the message says what to install
    raise PainterlyError("--cluster ray needs Ray: pip install 'painterly[ray]'",
                         setting="cluster") from None

#: How often the driver looks for a stop, and a task asks whether there is one, seconds.
POLL = 0.25
ASK_EVERY = 1.0


@ray.remote(num_cpus=0)
class StopFlag:
    """Set by the driver once the batch is asked to stop."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped


@ray.remote
def paint_remote(task: Task, flag: ray.actor.ActorHandle) -> Outcome:
    """:func:`painterly.batch.paint_task` on a worker; the worker keeps the network for
    its later tasks (the extractor is cached per process)."""
    outcome = paint_task(task, _Asking(flag).stopped)
    context = ray.get_runtime_context()
    node = f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"
    return replace(outcome, worker=f"{node}:{os.getpid()}")


class _Asking:
    """Whether the batch is stopping, asked of the flag at most once a second and never
    waited for: a task blocked in ray.get gives its CPUs back to Ray, which would start
    another job on them (two paintings on one core, each at half speed). The question
    is sent, and its answer read on a later call, once it is there."""

    def __init__(self, flag: ray.actor.ActorHandle) -> None:
        self.flag = flag
        self.pending: ray.ObjectRef | None = None
        self.asked = 0.0
        self.answer = False

    def stopped(self) -> bool:
        if self.answer:
            return True
        if self.pending is not None:
            ready, _ = ray.wait([self.pending], timeout=0)
            if ready:  # a ready answer is read without blocking
                self.answer, self.pending = bool(ray.get(ready[0])), None
        now = time.monotonic()
        if self.pending is None and now - self.asked >= ASK_EVERY:
            self.pending, self.asked = self.flag.is_set.remote(), now
        return self.answer


class RayBackend:
    """Tasks on the cluster at ``address`` (None: RAY_ADDRESS, a cluster started on
    this machine, or a new local one), each with ``cpus`` cores (its torch threads) and
    ``gpus`` GPUs, retried ``retries`` times if its worker dies."""

    def __init__(self, address: str | None, cpus: int = 1, gpus: float = 0.0,
                 retries: int = 3) -> None:
        self.address, self.cpus, self.gpus, self.retries = address, cpus, gpus, retries

    def run(self, tasks: Iterable[Task], on_outcome: Callable[[Outcome], None],
            should_stop: Callable[[], bool]) -> None:
        started = self._connect()
        try:
            self._run(iter(tasks), on_outcome, should_stop)
        finally:
            if started:
                ray.shutdown()

    def _connect(self) -> bool:
        """Join the cluster; True if this call did (and so leaves it at the end)."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            ray.init(address=self.address, logging_level="ERROR", log_to_driver=False,
                     include_dashboard=False)
        except (ConnectionError, RayError, ValueError, RuntimeError) as error:
            where = self.address or "this machine"
            reason = first_line(error)
            if "auth" in str(error).lower():  # seen with Ray 2.60: a token a local Ray left
                reason += ("; a ~/.ray/auth_token left by a one-machine Ray is a known cause: "
                           "remove it, or give the cluster's token (RAY_AUTH_TOKEN)")
            raise PainterlyError(f"cannot join the Ray cluster at {where}: {reason}",
                                 setting="address") from None
        return True

    def task_options(self) -> dict:
        """Each task's resources and retries; its workers' OpenMP threads wait as this
        process's do (painterly.openmp: 13% of an iteration without bf16), which a
        worker on a node started elsewhere would not inherit."""
        options = {"num_cpus": self.cpus, "num_gpus": self.gpus, "max_retries": self.retries,
                   "retry_exceptions": False}
        settings = wait_settings()
        if settings:
            options["runtime_env"] = {"env_vars": settings}
        return options

    def _run(self, tasks: Iterator[Task], on_outcome: Callable[[Outcome], None],
             should_stop: Callable[[], bool]) -> None:
        flag = StopFlag.remote()
        remote = paint_remote.options(**self.task_options())
        # Enough queued to keep every worker busy, not every job's files at once.
        window = max(4, 2 * int(ray.cluster_resources().get("CPU", 1) // self.cpus))
        running: dict[ray.ObjectRef, int] = {}
        stopping = False
        while True:
            while not stopping and len(running) < window:
                task = next(tasks, None)
                if task is None:
                    break
                running[remote.remote(replace(task, threads=self.cpus), flag)] = task.index
            if not running:
                return
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL)
            for ref in ready:
                on_outcome(_outcome(ref, running.pop(ref)))
            if should_stop() and not stopping:
                stopping = True
                flag.set.remote()


def _outcome(ref: ray.ObjectRef, index: int) -> Outcome:
    try:
        return ray.get(ref)
    except RayError as error:  # the worker died more often than the retries allow
        return Outcome(index, FAILED,
                       error=PainterlyError(f"the cluster lost it: {first_line(error)}"))
