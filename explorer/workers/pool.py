"""One worker per device: started on demand, kept between sweeps of the same log, replaced when one dies.

A device is a GPU where the cluster has GPUs (``num_gpus=1`` per worker), else a CPU (``num_cpus=1``). A sweep
wants ``min(devices, max_workers, cells)`` workers; the pool starts what is missing and keeps the workers (and the
pipelines they loaded) for the next sweep on the same log by the same author, so a notebook's second sweep starts at
once. A sweep on another log, or another cluster, stops them first: each device holds one worker.
:func:`explorer.workers.shutdown` stops them by hand.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.log import Log
    from explorer.workers.cluster import Cluster

_current: Pool | None = None
_remote_class: Any = None


@dataclass
class Worker:
    """One actor: its handle, and what it said about itself once it was up (``info``, None while starting)."""

    name: str
    actor: Any
    ready: Any  # the ObjectRef of its first describe(): resolves when the actor is up (or raises if it could not start)
    created: float = field(default_factory=time.perf_counter)
    info: dict | None = None
    up_s: float | None = None  # seconds from asking for it to its first answer

    @property
    def label(self) -> str:
        """How the grid and the CLI name it: ``w1 · host · GPU 3``."""
        from explorer.workers import label

        return label(self.info) or self.name


class Pool:
    """The workers of one (cluster, log, author)."""

    def __init__(self, key: tuple, cluster: Cluster, log: Log, author: str):
        self.key, self.cluster, self.author = key, cluster, author
        self.db = log.location
        self.storage = str(log.storage) if log.storage else None
        # A file log's workers write clips only (into its media folder); the driver writes the rows (explorer.workers.rows).
        self.media = None if log.is_team else (str(log.media.root), bool(log.media.group_shared))
        self.workers: list[Worker] = []
        self._names = itertools.count()

    @property
    def devices(self) -> int:
        return self.cluster.gpus or max(1, self.cluster.cpus)

    def grow(self, wanted: int) -> list[Worker]:
        """Start workers until ``wanted`` exist (started or starting); returns the ones to use for a sweep."""
        while len(self.workers) < wanted:
            self.workers.append(self._start())
        return self.workers[:wanted]

    def replace(self, dead: Worker) -> Worker | None:
        """Drop a dead worker and start another in its place (None if nothing can be asked of Ray)."""
        self.drop(dead)
        try:
            worker = self._start()
        except Exception:  # noqa: BLE001 - a cluster going away: the sweep goes on with the workers it has
            return None
        self.workers.append(worker)
        return worker

    def drop(self, worker: Worker) -> None:
        import ray

        if worker in self.workers:
            self.workers.remove(worker)
        if not ray.is_initialized():  # Ray shut down: its workers went with it (and ray.kill would start a new Ray)
            return
        try:
            ray.kill(worker.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def shutdown(self) -> None:
        for worker in list(self.workers):
            self.drop(worker)

    def _start(self) -> Worker:
        options: dict[str, Any] = {"num_gpus": 1} if self.cluster.gpus else {"num_cpus": 1}
        # max_restarts=0: a dead worker is replaced by the dispatcher, which knows which cell it was making
        name = f"w{next(self._names)}"
        actor = _actor_class().options(max_restarts=0, **options).remote(name, self.db, self.storage, self.author, self.media)
        return Worker(name, actor, ready=actor.describe.remote())


def pool_for(cluster: Cluster, log: Log, author: str) -> Pool:
    """This process's pool for ``log`` on ``cluster``: the current one if it fits, else a new one (the old one stopped)."""
    global _current
    key = (str(cluster.target), cluster.session, cluster.gpus > 0, log.location, str(log.storage), author)
    if _current is not None and _current.key == key:
        return _current
    release()
    _current = Pool(key, cluster, log, author)
    return _current


def release() -> None:
    """Stop the current pool's workers."""
    global _current
    if _current is not None:
        try:
            _current.shutdown()
        finally:
            _current = None


def _actor_class() -> Any:
    global _remote_class
    if _remote_class is None:
        import ray

        from explorer.workers.actor import CONCURRENCY, CellWorker

        _remote_class = ray.remote(max_concurrency=CONCURRENCY)(CellWorker)
    return _remote_class
