"""A file log's rows, written by the kernel: a worker makes the clip and hands the rows it would have written back.

Why: a file log is one DuckDB file that one process holds at a time (:mod:`explorer.log.connection` leases it).
When each worker wrote its own rows, the two workers and the kernel passed that lease back and forth, and each turn
cost an open and a close (a checkpoint): ~110 ms per cell, enough to miss issue 11's 1.8× at 2 workers with 0.8 s
cells (bench/README.md: "Sweeps on Ray workers"). A shorter lease only moved the cost around.

The decision: on a file log the workers never open the log. They are on this machine (a file log is refused, before
anything runs, for a cluster with other machines: :meth:`~explorer.workers.cluster.Cluster.check_log`), so each
writes its clip straight into the log's media folder (atomic: temporary file, then rename) and returns the rows; the
kernel (the driver), which holds the log anyway, writes them. A team log has no lease to share: its workers write
their own rows, as before.

One cell on a file log, and who writes what:

- hand-out (driver): :func:`start` logs the run ``running``, with the worker's host and pid (the columns say who
  makes it, as when the worker wrote it), and the driver's heartbeat keeps it alive while the worker works;
- the worker runs ``Lab.generate`` itself, the kernel's own code, on a :class:`DeferredLog`: the same backend
  calls, the same clip (the recipe inside the MP4 names the run the driver started), the same metrics, but every
  write is kept instead of made: the run's finish (``Log.finish_run``'s arguments) and the other statements
  (the clip metrics) — :meth:`DeferredLog.rows`;
- the result back (driver): :func:`finish` makes those writes on the real log, through the same ``Log.finish_run``,
  so the rows equal the kernel's; a cell the worker refused before it began is finished ``failed``;
- a worker that dies (driver): the run is marked (``interrupted``, or ``failed`` on its second death, or
  ``cancelled`` while the sweep is being cancelled), never left ``running``, and the dead worker's temporary media
  files are removed at once (:func:`remove_temp_files`); a clip it had completed stays as any crash leaves one, for
  ``explorer doctor`` to find.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from explorer.log import Log
    from explorer.request import Request


class DeferredLog:
    """What ``Lab.generate`` needs of a log, on a worker of a file log: one run, whose writes are kept, not made.

    ``start_run`` hands back the run the driver started; ``finish_run`` and every statement sent through
    ``connection`` are kept for :meth:`rows`. Nothing is read: the driver resolved the request's parent already.
    """

    is_team = False

    def __init__(self, db: str, media_root: str, group_shared: bool, run_id: str):
        from explorer.media import MediaStore

        self.path = Path(db)
        self.location, self.name = str(self.path), self.path.name
        self.address = self.storage = None
        self.media = MediaStore(media_root, group_shared=group_shared)
        self.connection = _Recorder()
        self.run_id = run_id
        self._finish: dict[str, Any] | None = None

    def start_run(self, request: Request, *, author: str, run_id: str | None = None, sweep_id: str | None = None,
                  sweep_cell: dict | None = None, live: bool = False) -> str:
        return self.run_id  # logged by the driver when it handed the cell out (a sweep's cell is never a live take)

    def finish_run(self, run_id: str, status: str, **fields: Any) -> None:
        self._finish = {"status": status, **fields}

    def resolve(self, run_id: str) -> str:
        return run_id  # the driver resolved the parent (a prefix, or a run this log does not hold) before the hand-out

    def recover(self, *, every: float = 0.0) -> list[str]:
        return []

    def rows(self) -> dict[str, Any] | None:
        """The writes the driver makes for this run: ``{"finish": finish_run's arguments, "statements": [(sql, params)…]}``."""
        if self._finish is None:
            return None
        return {"finish": self._finish, "statements": list(self.connection.statements)}


class _Recorder:
    """A log connection that keeps each statement (the clip metrics, a heartbeat) instead of running it."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list | None]] = []

    @contextmanager
    def session(self) -> Iterator[_RecordingConnection]:
        yield _RecordingConnection(self.statements)

    def transaction(self, work: Any, *, begin: bool = True) -> Any:
        return work(_RecordingConnection(self.statements))

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _RecordingConnection:
    def __init__(self, statements: list):
        self.statements = statements

    def execute(self, sql: str, params: Any = None) -> _RecordingConnection:
        if "heartbeat_at" not in sql:  # the driver keeps the run's heartbeat: the worker's would be stale by then
            self.statements.append((sql, list(params) if params is not None else None))
        return self

    def fetchone(self) -> Any:
        raise RuntimeError("a worker of a file log reads nothing from the log: the driver holds it")

    fetchall = fetchdf = fetchone


# -- the driver's side ---------------------------------------------------------------------------------------------

def start(log: Log, request: Request, *, author: str, sweep_id: str, cell: dict, worker: dict) -> str:
    """Log a cell's run ``running`` as made by ``worker`` (its host and pid); returns the run id for the worker."""
    with log.connection.session() as conn:  # one lease: no other process reads the row before it names its worker
        run_id = log.start_run(request, author=author, sweep_id=sweep_id, sweep_cell=cell)
        conn.execute("UPDATE runs SET host = ?, pid = ? WHERE id = ?", [worker["host"], worker["pid"], run_id])
    return run_id


def finish(log: Log, run_id: str, rows: dict[str, Any] | None, *, error: str | None = None, hint: str | None = None) -> None:
    """Make the writes a worker kept for ``run_id`` (:meth:`DeferredLog.rows`); without them, the run ``failed`` with ``error``."""
    with log.connection.session():
        if rows is None:  # refused before generate logged anything (a model folder missing on the worker, say)
            log.finish_run(run_id, "failed", error=error or "the worker returned no outcome", hint=hint, duration_s=0.0)
            return
        fields = dict(rows["finish"])
        log.finish_run(run_id, fields.pop("status"), **fields)
        statements = rows["statements"]
        if statements:  # what Lab.generate writes after the finish (the clip metrics), in its order
            log.connection.transaction(lambda conn: [conn.execute(sql, params) for sql, params in statements])


def remove_temp_files(media_root: Path, host: str, pid: int) -> int:
    """Remove the temporary media files of a worker that died (``host``, ``pid``): it will never finish them."""
    from explorer.log.recovery import TEMP_PREFIX

    prefix = f"{TEMP_PREFIX}{host.replace('-', '_')}-{pid}-"  # as explorer.log.recovery.temp_prefix names them
    removed = 0
    if not media_root.is_dir():
        return 0
    for folder in [media_root, *(f for f in media_root.iterdir() if f.is_dir() and len(f.name) == 2)]:
        for path in folder.glob(f"{prefix}*"):
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed
