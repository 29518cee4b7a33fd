"""The worker: a Ray actor that keeps its backends (and their loaded pipelines) and runs cells, one at a time.

A plain class, made a Ray actor by :mod:`explorer.workers.pool`, so this module imports no Ray. Each cell goes
through ``Lab.generate``, exactly as in the kernel. Who writes the rows depends on the log:

- a team log: the worker opens it once and logs each cell itself as it finishes;
- a file log: the worker never opens it (one process at a time may hold the file; passing it between the workers
  and the kernel cost ~110 ms a cell). It writes the clip into the log's media folder and hands the run's rows back
  to the kernel, which started the run when it handed the cell out and writes them (:mod:`explorer.workers.rows`).

Either way a run names its worker: host and pid (the run's ``host``/``pid`` columns), device (``device``), name and
GPUs in ``backend_info.worker``. The actor is threaded (:data:`CONCURRENCY` calls at once): ``cancel``, ``describe``
and ``stats`` answer while a cell runs, so Cancel reaches a busy worker and stops it at the cell's next step; ``run``
itself takes one cell at a time (the driver never hands a worker two, and a lock makes sure). Not concurrency
groups: the Ray client cannot choose one per call.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from explorer.backends.base import RunControl

CONCURRENCY = 4  # a cell, plus cancel / describe / stats arriving meanwhile


class CellWorker:
    """One worker: ``name`` as the grid shows it, the sweep's log, and (a file log) where its clips go.

    ``media``: ``(folder, group_shared)`` of a file log's media store, whose rows the driver writes; None for a team
    log, which the worker opens and writes itself.
    """

    def __init__(self, name: str, db: str, storage: str | None, author: str, media: tuple[str, bool] | None = None):
        started = time.perf_counter()
        from explorer.lab import Lab
        from explorer.log import Log, LogMissing
        from explorer.log.recovery import this_host

        self.name, self.db, self.author, self.media = name, db, author, media
        if media is None:
            # create=False: the driver made the log; a worker that finds none (another machine, another path) must say so, not make one.
            self.lab: Lab | None = Lab.on(Log(db, storage=storage, create=False), author)
            self.lab.log.connection.prepare_writes()  # the team turn's connection now, not in the first cell
        else:
            # Not opened (the driver holds it), but there: a worker that sees another file system must say so.
            if not Path(db).is_file():
                raise LogMissing(f"no Clip Explorer log at {db} (a worker of a file log must be on the kernel's machine and see its files)")
            self.lab = None
        self.cells = 0
        self._lock = threading.Lock()  # guards the current control and the cancelled sweeps
        self._one_cell = threading.Lock()  # one cell at a time, whatever arrives
        self._control: RunControl | None = None
        self._cancelled: set[str] = set()
        self._attributed: dict[str, _Attributed] = {}
        gpus, node = _placement()
        self.identity = {"name": name, "host": this_host(), "pid": os.getpid(), "node": node, "gpus": gpus,
                         "device": f"GPU {','.join(gpus)}" if gpus else "CPU"}
        self.open_s = time.perf_counter() - started

    def describe(self) -> dict[str, Any]:
        """Who this worker is (name, host, pid, node, GPUs) and how long opening the log took."""
        return {**self.identity, "open_s": self.open_s, "cells": self.cells}

    def run(self, sweep_id: str, index: int, cell: dict, request: dict, measure: bool = True, run_id: str | None = None) -> dict[str, Any]:
        """Make one cell (and log it, on a team log); the outcome as a small dict (a failure is an outcome, not an exception).

        ``measure``: the kernel's ``lab.compute_metrics`` (clip metrics after each run, :mod:`explorer.metrics`).
        ``run_id``: on a file log, the run the driver started for this cell; the outcome then carries its ``rows``.
        """
        with self._one_cell:
            return self._run(sweep_id, index, cell, request, measure, run_id)

    def _run(self, sweep_id: str, index: int, cell: dict, request: dict, measure: bool, run_id: str | None) -> dict[str, Any]:
        from explorer.lab import Lab
        from explorer.request import Request
        from explorer.workers.rows import DeferredLog

        started = time.perf_counter()
        control = RunControl()
        with self._lock:
            self._control = control
            if sweep_id in self._cancelled:
                control.cancel()  # a Cancel that overtook this cell: logged as cancelled at its first step
        result: dict[str, Any] = {"index": index, "worker": self.identity, "run_id": None, "load_s": None}
        deferred = None
        if run_id is not None:  # a file log: Lab.generate on a log that keeps its writes for the driver
            deferred = DeferredLog(self.db, *self.media, run_id=run_id)  # type: ignore[misc]  # set whenever the driver sends a run id
            lab = Lab.on(deferred, self.author)  # type: ignore[arg-type]  # DeferredLog has what generate uses of a Log
        else:
            lab = self.lab
        try:
            lab.compute_metrics = measure
            req = Request.from_dict(request)
            backend = self._attribute(req.backend)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a failed cell is reported to the driver, not printed here
                run = lab.generate(req, progress=False, control=control, _sweep=(sweep_id, cell))
            result.update(run_id=run.id, status=run.status, error=run.error, hint=run.hint, sha256=run.sha256,
                          media=str(run.media) if run.media else None, duration_s=run.duration_s,
                          load_s=backend.last_info.get("load_s") if backend is not None else None)
        except Exception as exc:  # noqa: BLE001 - refused before a run row existed (e.g. a model folder missing on this machine)
            result.update(status="failed", error=f"{type(exc).__name__}: {exc}", hint=None)
        finally:
            with self._lock:
                self._control = None
        if deferred is not None:
            result["rows"] = deferred.rows()  # None when generate stopped before its finish: the driver fails the run
        self.cells += 1
        result["cell_s"] = time.perf_counter() - started
        return result

    def cancel(self, sweep_id: str) -> None:
        """Stop this worker's cell of ``sweep_id`` at its next step (and any later one it is handed)."""
        with self._lock:
            self._cancelled.add(sweep_id)
            if self._control is not None:
                self._control.cancel()

    def stats(self) -> dict[str, Any]:
        """Cells made, and pipelines loaded per backend (a diffusers backend counts its cache's loads)."""
        loads = {name: getattr(getattr(b.inner, "cache", None), "loads", None) for name, b in self._attributed.items()}
        return {**self.describe(), "pipeline_loads": loads}

    def _attribute(self, name: str) -> _Attributed | None:
        """Have backend ``name`` record this worker in each run's ``backend_info`` (once per backend per worker)."""
        from explorer import backends

        if name not in self._attributed:
            inner = backends.get(name)  # one instance per process: its pipeline cache lives as long as this worker
            wrapped = _Attributed(inner, self.identity)
            backends.register(name, lambda: wrapped)
            self._attributed[name] = wrapped
        return self._attributed[name]


class _Attributed:
    """A backend as seen on a worker: the same backend, whose ``info`` also names the worker (and remembers the last one)."""

    def __init__(self, inner: Any, worker: dict[str, Any]):
        self.inner, self.worker, self.last_info = inner, worker, {}

    def info(self, request: Any) -> dict[str, Any]:
        info = {**self.inner.info(request), "worker": {k: self.worker[k] for k in ("name", "host", "pid", "node", "gpus")}}
        self.last_info = info
        return info

    def __getattr__(self, name: str) -> Any:  # generate, check, hint, parameters, the diffusers cache…
        return getattr(self.inner, name)


def _placement() -> tuple[list[str], str | None]:
    """The GPUs Ray gave this worker (as the machine numbers them) and its node id; none outside Ray."""
    try:
        import ray

        context = ray.get_runtime_context()
        return [str(g) for g in context.get_accelerator_ids().get("GPU", [])], context.get_node_id()
    except Exception:  # noqa: BLE001 - run outside Ray (a unit test): no placement to report
        return [], None
