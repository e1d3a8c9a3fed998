"""Where a batch's jobs run: ``local`` (this machine, one job at a time or several
processes) or ``ray`` (tasks on a Ray cluster, the ``[ray]`` extra). Each takes
:class:`painterly.batch.Task` objects and hands back :class:`painterly.batch.Outcome`
objects; :mod:`painterly.batch` knows no backend's library."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..batch import Backend
from ..checks import check_whole, is_number
from ..errors import SettingsError

CLUSTERS = ("ray",)


@dataclass(frozen=True)
class BackendSettings:
    """Where and how many jobs run at once; shared by ``batch`` and ``sweep``."""

    jobs: int = field(default=1, metadata={"metavar": "N",
        "help": "jobs at once on this machine, each in its own process, the cores shared "
                "among them (default: 1, in this process)"})
    cluster: str | None = field(default=None, metadata={
        "help": "run the jobs as tasks on a cluster instead: ray (needs painterly[ray]) "
                "(default: none, this machine)"})
    address: str | None = field(default=None, metadata={
        "help": "the Ray cluster's address, HOST:PORT (default: RAY_ADDRESS, else a "
                "cluster started on this machine, else a new one for this batch)"})
    cpus_per_job: int | None = field(default=None, metadata={"metavar": "N",
        "help": "CPU cores each job gets, and its threads (default: 1 on a cluster; here "
                "the cores divided among --jobs)"})
    gpus_per_job: float = field(default=0.0, metadata={"metavar": "N",
        "help": "GPUs each job on a cluster gets; fractions share one (default: 0)"})
    retries: int = field(default=3, metadata={"metavar": "N",
        "help": "times a cluster job is run again when its worker dies (default: 3)"})

    def __post_init__(self) -> None:
        check_whole("jobs", self.jobs, 1)
        check_whole("retries", self.retries, 0)
        if self.cpus_per_job is not None:
            check_whole("cpus_per_job", self.cpus_per_job, 1)
        gpus = self.gpus_per_job
        if not (is_number(gpus) and math.isfinite(gpus) and gpus >= 0):
            raise SettingsError("gpus_per_job", f"must be a number >= 0, got {gpus!r}")
        if self.cluster is not None and self.cluster not in CLUSTERS:
            raise SettingsError("cluster", f"must be one of {', '.join(CLUSTERS)}, got "
                                f"{self.cluster!r}")
        if self.cluster is None:
            for name in ("address", "gpus_per_job"):
                if getattr(self, name):
                    raise SettingsError(name, "applies only to a cluster (--cluster ray)")


def make_backend(settings: BackendSettings) -> Backend:
    """The backend the settings ask for; a cluster's library is imported only here."""
    if settings.cluster == "ray":
        from .ray_cluster import RayBackend

        return RayBackend(settings.address, settings.cpus_per_job or 1,
                          settings.gpus_per_job, settings.retries)
    from .local import LocalBackend

    return LocalBackend(settings.jobs, settings.cpus_per_job)
