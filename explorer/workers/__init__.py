"""Sweeps on Ray actors: one per device, each keeping its backend and pipeline loaded, pulling cells until the sweep is done.

``lab.sweep(base, axes, workers="ray")`` (or ``lab.ui.sweep(…, workers=…)``, or ``explorer sweep … --workers ray``)
comes here; ``workers=None`` never does, and nothing in this package imports Ray until a sweep asks for workers::

    pool = connect(lab, "ray", max_workers=2)          # checks and connects before anything is logged
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2, 3, 4]})
    report = pool.run(sweep_id, cells, requests)        # every cell logged as it finishes, naming its worker

- :mod:`~explorer.workers.cluster`: what ``workers=`` means, connecting to Ray, which machines the workers may be on,
  and the check that a file log is never handed to workers on other machines.
- :mod:`~explorer.workers.actor`: the worker (a Ray actor): keeps backends loaded, runs one cell at a time, and logs it
  itself on a team log.
- :mod:`~explorer.workers.rows`: a file log's rows, which the kernel writes for its workers (they never open the file).
- :mod:`~explorer.workers.pool`: one actor per device, kept between sweeps of the same log, replaced when one dies.
- :mod:`~explorer.workers.dispatch`: hands out cells as workers free up, cancel, the retry of a dead worker's cell.
- :mod:`~explorer.workers.progress`: cells done of total, workers busy, ETA (terminal bar and the grid widget).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.lab import Lab
    from explorer.workers.dispatch import Workers

__all__ = ["WorkersUnavailable", "connect", "label", "shutdown"]


class WorkersUnavailable(RuntimeError):
    """Ray is missing, cannot be reached, or no worker could start: the environment, not the input (the CLI exits 1)."""


def connect(lab: Lab, workers: Any, *, max_workers: Any = None) -> Workers:
    """Check ``workers`` (``"ray"`` or ``"ray://HOST:PORT"``) against ``lab``'s log, connect to Ray, and return the workers.

    Raises :class:`~explorer.request.RequestError` for a bad value (a file log with workers on other machines
    included) and :class:`WorkersUnavailable` when Ray is not installed or cannot be reached. Nothing is logged.
    """
    from explorer.workers.cluster import check_workers, open_cluster
    from explorer.workers.dispatch import Workers

    target = check_workers(workers, max_workers)
    cluster = open_cluster(target)
    cluster.check_log(lab.log)
    return Workers(lab, cluster, max_workers=max_workers)


def label(worker: dict[str, Any] | None) -> str | None:
    """How a worker is named to people (the grid, the CLI): ``w1 · gpu-node-2 · GPU 3``, from what it logs in ``backend_info.worker``."""
    if not worker or not worker.get("name"):
        return None
    gpus = worker.get("gpus") or []
    return f"{worker['name']} · {worker.get('host', '?')} · {'GPU ' + ','.join(map(str, gpus)) if gpus else 'CPU'}"


def shutdown() -> None:
    """Stop this process's workers (their loaded pipelines are freed); the next sweep starts new ones. Ray stays connected."""
    import sys

    pool = sys.modules.get("explorer.workers.pool")
    if pool is not None:
        pool.release()
