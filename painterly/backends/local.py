"""Jobs on this machine: one after another in this process (the network loaded once),
or several at once in worker processes that each load it once and share the cores."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from ..batch import FAILED, Outcome, Task, paint_task
from ..errors import PainterlyError

#: How often the driver looks for a stop while jobs run, seconds.
POLL = 0.2

_stop_event = None  # a worker process's view of the driver's stop


class LocalBackend:
    """``jobs`` at once: 1 runs them in this process; more, in as many processes, each
    with ``threads`` torch threads (default: the cores divided among them)."""

    def __init__(self, jobs: int = 1, threads: int | None = None) -> None:
        self.jobs = jobs
        self.threads = threads or max(1, (os.cpu_count() or 1) // jobs)

    def run(self, tasks: Iterable[Task], on_outcome: Callable[[Outcome], None],
            should_stop: Callable[[], bool]) -> None:
        if self.jobs == 1:
            here = f"{socket.gethostname()}:{os.getpid()}"
            for task in tasks:
                if should_stop():
                    return
                on_outcome(replace(paint_task(task, should_stop), worker=here))
            return
        self._run_in_processes(iter(tasks), on_outcome, should_stop)

    def _run_in_processes(self, tasks: Iterator[Task], on_outcome: Callable[[Outcome], None],
                          should_stop: Callable[[], bool]) -> None:
        # spawn, not fork: a forked copy of a process whose OpenMP pool has started hangs.
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        running: dict[Future, int] = {}
        with ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_worker_started,
                                 initargs=(stop,)) as pool:
            while True:
                # A few queued beyond the workers, so none waits; not all: each holds files.
                while not stop.is_set() and len(running) < 2 * self.jobs:
                    task = next(tasks, None)
                    if task is None:
                        break
                    task = replace(task, threads=task.threads or self.threads)
                    running[pool.submit(_paint_here, task)] = task.index
                if not running:
                    return
                done, _ = wait(running, timeout=POLL, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    if not future.cancelled():
                        on_outcome(_outcome(future, index))
                if should_stop() and not stop.is_set():
                    stop.set()  # those under way send their pictures so far
                    for future in running:
                        future.cancel()  # those not started stay waiting


def _outcome(future: Future, index: int) -> Outcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return Outcome(index, FAILED, error=PainterlyError(
            "its worker process died (out of memory, or killed)"))


def _worker_started(stop: object) -> None:
    """In each worker: Ctrl-C and SIGTERM are the driver's to handle (it sets ``stop``)."""
    global _stop_event
    _stop_event = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _paint_here(task: Task) -> Outcome:
    outcome = paint_task(task, _stop_event.is_set if _stop_event is not None else lambda: False)
    return replace(outcome, worker=f"{socket.gethostname()}:{os.getpid()}")
