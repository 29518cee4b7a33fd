"""Running a planned sweep on the workers: cells handed out as workers free up, cancel, and a dead worker's cell.

The kernel (the *driver*) keeps the queue of cells and gives the next one to whichever worker answers first, so a
fast worker makes more cells. Who logs a cell depends on the log's home:

- a team log: each worker logs its cells itself, as they finish;
- a file log: the driver, which holds the file, logs each run ``running`` as it hands the cell out (naming the
  worker's host and pid), keeps its heartbeat, and writes the rows the worker hands back; the workers never open
  the file, so they never wait for it (:mod:`explorer.workers.rows`: why, and who writes what).

Either way the driver also writes what no worker can:

- a cell that was never started because the sweep was cancelled: ``cancelled`` ("cancelled before it started");
- a worker that died mid-cell (its process killed, its machine lost): its run is marked ``interrupted`` at once (the
  log's reaper would take up to a minute for another machine) and the cell is run again on another worker, once;
  if that worker dies too, the second run is marked ``failed`` with the reason, and the cell is not tried again;
- a cell a worker refused before its run began (say, a model folder missing on that machine): ``failed``.

A dead worker is replaced by a new one (a new process, which loads its pipeline again). A cell that fails (bad
input for the pipeline, out of memory) fails alone: its worker goes on with the next cell.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from explorer.backends.base import RunControl
from explorer.log.clock import utcnow
from explorer.request import RequestError
from explorer.workers.progress import SweepProgress, estimate, terminal_bar

if TYPE_CHECKING:
    from explorer.lab import Lab
    from explorer.request import Request
    from explorer.workers.cluster import Cluster
    from explorer.workers.pool import Worker

ATTEMPTS = 2  # a cell whose worker dies is run once more, on another worker
WAIT_S = 0.2  # how often the driver looks at Cancel while no worker answers
DIED_HINT = "a cell that kills its worker twice: look at that worker's log (ray logs, or the Ray dashboard); running out of host memory is a common cause"


@dataclass
class Cell:
    index: int
    cell: dict
    request: Request
    attempts: int = 0
    tried_on: list[str] = field(default_factory=list)
    outcome: dict | None = None
    run_id: str | None = None  # a file log: the run the driver started for the attempt under way
    heartbeat: Any = None  # … and the heartbeat that keeps it alive meanwhile


@dataclass
class SweepReport:
    """What a sweep on workers did: each cell's final outcome, the workers, and the timings that make up latency."""

    sweep_id: str
    cells: list[dict]
    workers: list[dict]
    timings: dict[str, float | None]
    cancelled: bool = False

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell["status"]] = counts.get(cell["status"], 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        return all(cell["status"] == "succeeded" for cell in self.cells)


class Workers:
    """A sweep's workers on one cluster, for one lab (from :func:`explorer.workers.connect`)."""

    def __init__(self, lab: Lab, cluster: Cluster, *, max_workers: int | None = None):
        self.lab, self.cluster, self.max_workers = lab, cluster, max_workers

    def __repr__(self) -> str:
        return f"<Workers {self.cluster.describe()} max_workers={self.max_workers}>"

    def start(self, n: int | None = None, *, timeout: float = 300.0) -> list[dict]:
        """Start ``n`` workers (default: one per device, capped by ``max_workers``) and wait until each is up.

        Optional: a sweep starts what it needs. Starting first keeps the start (Ray's worker processes, opening the
        log) out of the first cell's time, and a sweep that follows finds every worker idle. Returns what each worker
        says about itself; a worker that cannot start raises :class:`~explorer.workers.WorkersUnavailable`.
        """
        import ray

        from explorer.workers import WorkersUnavailable
        from explorer.workers.pool import pool_for

        pool = pool_for(self.cluster, self.lab.log, self.lab.author)
        wanted = min(pool.devices, n or self.max_workers or pool.devices)
        infos = []
        for worker in pool.grow(wanted):
            try:
                worker.info = ray.get(worker.ready, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - GetTimeoutError or the actor's own failure, as one line
                pool.drop(worker)
                raise WorkersUnavailable(f"workers: {worker.name} did not start: {reason(exc)}") from None
            if worker.up_s is None:
                worker.up_s = time.perf_counter() - worker.created
            infos.append({**worker.info, "label": worker.label, "up_s": worker.up_s})
        return infos

    def run(self, sweep_id: str, cells: list[dict], requests: list[Request], *, progress: bool = True,
            control: RunControl | None = None, on_cell: Callable[[int, dict], None] | None = None,
            on_progress: Callable[[SweepProgress], None] | None = None) -> SweepReport:
        """Make every cell of a planned sweep (:meth:`Lab.plan_sweep`) on the workers; returns when each one is logged.

        ``control.cancel()`` stops every worker at its next step. ``on_cell(index, info)`` hears each cell start
        (``status`` "running", with its ``worker``) and finish; ``on_progress`` hears the counts and the ETA.
        A kernel interrupt cancels the sweep, waits for the workers to log their cells, then is raised again.
        """
        from explorer.workers.pool import pool_for

        bar = terminal_bar(len(cells), f"sweep {sweep_id} on {self.cluster.describe()}") if progress else None
        run = _Run(self, pool_for(self.cluster, self.lab.log, self.lab.author), sweep_id,
                   [Cell(i, c, r) for i, (c, r) in enumerate(zip(cells, requests))], control or RunControl(), on_cell,
                   [f for f in (on_progress, bar) if f is not None])
        try:
            report = run.go()
        finally:
            if bar is not None:
                bar.close()
        missed = [c for c in report.cells if c["status"] == "failed"]
        if missed:  # the workers keep quiet about their failures (a warning per cell on each machine); one here says it
            warnings.warn(f"sweep {sweep_id}: {len(missed)} of {len(report.cells)} cells failed (first: {missed[0]['error']})",
                          RuntimeWarning, stacklevel=2)
        return report


class _Run:
    """One sweep's dispatch loop (the state of :meth:`Workers.run`)."""

    def __init__(self, workers: Workers, pool: Any, sweep_id: str, cells: list[Cell], control: RunControl,
                 on_cell: Callable[[int, dict], None] | None, listeners: list[Callable[[SweepProgress], None]]):
        self.lab, self.pool, self.cluster, self.sweep_id = workers.lab, pool, workers.cluster, sweep_id
        self.cells, self.control, self.on_cell, self.listeners = cells, control, on_cell, listeners
        self.max_workers = workers.max_workers
        self.writes = not self.lab.log.is_team  # a file log: the driver writes every row (explorer.workers.rows)
        self.queue: deque[Cell] = deque(cells)
        self.idle: deque[Worker] = deque()
        self.busy: dict[Any, tuple[Worker, Cell]] = {}
        self.starting: dict[Any, Worker] = {}
        self.used: dict[str, Worker] = {}
        self.cancelling = False
        self.interrupted = False
        self.last_problem: str | None = None
        self.started = time.perf_counter()
        self.first_handout: float | None = None
        self._emitted: tuple[Any, float] = (None, 0.0)
        self.timings: dict[str, float | None] = {"connect_s": self.cluster.connect_s, "worker_up_s": None, "first_cell_s": None,
                                                 "first_load_s": None, "total_s": None}

    # -- the loop ----------------------------------------------------------------------------------------------------

    def go(self) -> SweepReport:
        import ray

        wanted = min(self.pool.devices, self.max_workers or len(self.cells), len(self.cells))
        for worker in self.pool.grow(wanted):
            if worker.info is not None:  # kept from an earlier sweep: still there?
                worker.ready = worker.actor.describe.remote()
            self.starting[worker.ready] = worker
        self._emit()
        try:
            while True:
                try:
                    if not self._step(ray):
                        break
                except KeyboardInterrupt:  # the first interrupt cancels the sweep and waits for the workers to log it
                    if self.interrupted:
                        raise  # a second one stops waiting (the workers still stop at their next step)
                    self.interrupted = True
                    self.control.cancel()
        except BaseException:
            self._cancel_busy()  # the driver itself failed (or a second interrupt): stop the workers at their next step
            self._abandon_busy()
            raise
        self.timings["total_s"] = time.perf_counter() - self.started
        self._emit()
        report = SweepReport(self.sweep_id, [self._final(c) for c in self.cells],
                             [{**w.info, "label": w.label, "up_s": w.up_s} for w in self.used.values() if w.info],
                             self.timings, cancelled=self.cancelling)
        if self.interrupted:
            raise KeyboardInterrupt
        return report

    def _step(self, ray: Any) -> bool:
        """One turn of the loop: cancel if asked, hand out cells, wait (briefly) for an answer; False when the sweep is done."""
        if self.control.cancelled and not self.cancelling:
            self._cancel()
        while self.idle and self.queue and not self.cancelling:
            worker = self.idle.popleft()
            if not self._hand_out(worker, self.queue.popleft()):
                self.idle.appendleft(worker)  # the cell was refused before it reached the worker
        if not self.busy and not self.queue:
            return False
        if not self.busy and not self.starting:  # cells left and nobody to make them
            self._give_up(self.last_problem or "no worker is left")
            return False
        ready, _ = ray.wait([*self.busy, *self.starting], num_returns=1, timeout=WAIT_S)
        for ref in ready:
            if ref in self.starting:
                self._up(ref)
            else:
                self._done(ref)
        self._emit()
        return True

    def _hand_out(self, worker: Worker, cell: Cell) -> bool:
        """Give ``cell`` to ``worker`` (on a file log, after logging its run); False if the cell was refused first."""
        request = cell.request
        if self.writes:
            try:  # what the worker's Lab.generate would do first: the parent as a full id of a run in this log
                request = self.lab._with_parent(request)
            except RequestError as exc:
                error = f"RequestError: {exc}"
                self._finish(cell, {"status": "failed", "run_id": self._log_cell(cell, "failed", error), "worker": None, "error": error})
                return False
            from explorer.log.recovery import Heartbeat
            from explorer.workers.rows import start

            cell.run_id = start(self.lab.log, request, author=self.lab.author, sweep_id=self.sweep_id, cell=cell.cell, worker=worker.info)
            cell.heartbeat = Heartbeat(self.lab.log, cell.run_id).__enter__()
        cell.attempts += 1
        cell.tried_on.append(worker.name)
        ref = worker.actor.run.remote(self.sweep_id, cell.index, cell.cell, request.to_dict(), getattr(self.lab, "compute_metrics", True),
                                      cell.run_id)
        self.busy[ref] = (worker, cell)
        self.used[worker.name] = worker
        if self.first_handout is None:
            self.first_handout = time.perf_counter()
        self._tell(cell, {"status": "running", "worker": worker.label, "attempt": cell.attempts})
        return True

    def _up(self, ref: Any) -> None:
        import ray

        worker = self.starting.pop(ref)
        try:
            info = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - an actor that could not start, or one that died since the last sweep
            if worker.info is not None:
                self._replace(worker)  # died between sweeps: start another in its place
                return
            self.last_problem = f"worker {worker.name} could not start: {reason(exc)}"
            warnings.warn(self.last_problem, RuntimeWarning, stacklevel=2)
            self.pool.drop(worker)
            return
        if worker.info is None:
            worker.up_s = time.perf_counter() - worker.created
            if self.timings["worker_up_s"] is None:
                self.timings["worker_up_s"] = time.perf_counter() - self.started
        worker.info = info
        self.idle.append(worker)

    def _done(self, ref: Any) -> None:
        import ray

        worker, cell = self.busy.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self._died(worker, cell, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the worker lives but the call failed (e.g. an answer it could not send back)
            result = {"index": cell.index, "status": "failed", "run_id": None, "error": f"{type(exc).__name__}: {reason(exc)}", "hint": None}
        self.idle.append(worker)  # free before the rows are written: the next cell goes out on this turn of the loop
        if cell.run_id is not None:  # a file log: the driver writes the rows the worker handed back
            from explorer.workers.rows import finish

            run_id = self._end_attempt(cell)
            finish(self.lab.log, run_id, result.get("rows"), error=result.get("error"), hint=result.get("hint"))
            result["run_id"] = run_id
            if result.get("rows") is None:
                result["status"] = "failed"
        elif result.get("run_id") is None:  # refused before a run row existed: the driver logs the failure
            result["run_id"] = self._log_cell(cell, result["status"], result.get("error"), result.get("hint"))
        result.pop("rows", None)
        if self.timings["first_cell_s"] is None:
            self.timings["first_cell_s"] = time.perf_counter() - self.started
            self.timings["first_load_s"] = result.get("load_s")
        self._finish(cell, {**result, "worker": worker.label})

    def _died(self, worker: Worker, cell: Cell, exc: BaseException) -> None:
        """``worker`` died making ``cell``: mark its run, run the cell again on another worker once, replace the worker."""
        why = f"worker {worker.label} died while making this cell ({reason(exc)})"
        if cell.run_id is not None:  # a file log: the driver started the run, and only the driver writes to it
            from explorer.workers.rows import remove_temp_files

            row: tuple | None = (self._end_attempt(cell), "running", None)
            if worker.info:  # the clip it was writing will never be finished
                remove_temp_files(self.lab.log.media.root, worker.info["host"], worker.info["pid"])
        else:
            row = self._row_of(worker, cell)
        self._replace(worker)
        if row is not None and row[1] != "running":  # it logged the cell, then died: the cell is done
            self._finish(cell, {"status": row[1], "run_id": row[0], "worker": worker.label, "error": row[2]})
            return
        if self.cancelling:
            run_id = self._end_row(row, cell, "cancelled", f"cancelled; {why}")
            self._finish(cell, {"status": "cancelled", "run_id": run_id, "worker": worker.label, "error": why})
        elif cell.attempts < ATTEMPTS:
            if row is not None:
                _mark_interrupted(self.lab, row[0], f"interrupted: {why}; the cell was run again on another worker")
            self.queue.appendleft(cell)
            self._tell(cell, {"status": "waiting", "worker": None, "error": why})
        else:
            error = f"{why}; its first worker ({cell.tried_on[0]}) had died too, so it is not tried again"
            run_id = self._end_row(row, cell, "failed", error, DIED_HINT)
            self._finish(cell, {"status": "failed", "run_id": run_id, "worker": worker.label, "error": error, "hint": DIED_HINT})

    def _replace(self, worker: Worker) -> None:
        fresh = self.pool.replace(worker)
        if worker in self.idle:
            self.idle.remove(worker)
        if fresh is not None:
            self.starting[fresh.ready] = fresh

    def _cancel(self) -> None:
        """Stop every busy worker at its next step; cells not started yet are logged cancelled."""
        self.cancelling = True
        self._cancel_busy()
        while self.queue:
            cell = self.queue.popleft()
            run_id = self._log_cell(cell, "cancelled", "cancelled before it started")
            self._finish(cell, {"status": "cancelled", "run_id": run_id, "worker": None, "error": "cancelled before it started"})

    def _cancel_busy(self) -> None:
        for worker, _ in self.busy.values():
            try:
                worker.actor.cancel.remote(self.sweep_id)
            except Exception:  # noqa: BLE001 - a worker already gone has nothing to stop
                pass

    def _end_attempt(self, cell: Cell) -> str:
        """A file log: the attempt under way is over; stop its heartbeat and return its run id."""
        run_id, cell.run_id = cell.run_id, None
        if cell.heartbeat is not None:
            cell.heartbeat.__exit__()
            cell.heartbeat = None
        return run_id  # type: ignore[return-value]  # called only while an attempt is under way

    def _abandon_busy(self) -> None:
        """The driver stops waiting (it failed, or a second interrupt): on a file log nobody else will end these runs."""
        for cell in self.cells:
            if cell.run_id is not None:
                try:
                    _mark_interrupted(self.lab, self._end_attempt(cell), "interrupted: the kernel stopped waiting for this cell "
                                      "(a second interrupt, or a fault in the sweep's driver)")
                except Exception:  # noqa: BLE001 - the driver is failing already: its own error is the one to raise
                    pass

    def _give_up(self, why: str) -> None:
        while self.queue:
            cell = self.queue.popleft()
            error = f"not run: {why}"
            self._finish(cell, {"status": "failed", "run_id": self._log_cell(cell, "failed", error), "worker": None, "error": error})

    # -- the log and the listeners ------------------------------------------------------------------------------------

    def _log_cell(self, cell: Cell, status: str, error: str | None, hint: str | None = None) -> str:
        """A run row for a cell no worker logged (cancelled before it started, refused, or never handed out)."""
        log = self.lab.log
        run_id = log.start_run(cell.request, author=self.lab.author, sweep_id=self.sweep_id, sweep_cell=cell.cell)
        log.finish_run(run_id, status, error=error, hint=hint, duration_s=0.0)
        return run_id

    def _end_row(self, row: tuple | None, cell: Cell, status: str, error: str, hint: str | None = None) -> str:
        if row is None:
            return self._log_cell(cell, status, error, hint)
        self.lab.log.finish_run(row[0], status, error=error, hint=hint)
        return row[0]

    def _row_of(self, worker: Worker, cell: Cell) -> tuple | None:
        """The run (id, status, error) a dead worker made for ``cell``, if it got as far as starting one."""
        if not worker.info:
            return None
        with self.lab.log.connection.session() as conn:
            row = conn.execute(
                "SELECT id, status, error FROM runs WHERE sweep_id = ? AND host = ? AND pid = ? AND CAST(sweep_cell AS VARCHAR) = ? "
                "ORDER BY created_at DESC LIMIT 1",
                [self.sweep_id, worker.info["host"], worker.info["pid"], json.dumps(cell.cell)]).fetchone()
        return row

    def _finish(self, cell: Cell, outcome: dict) -> None:
        cell.outcome = outcome
        self._tell(cell, outcome)

    def _final(self, cell: Cell) -> dict:
        outcome = cell.outcome or {"status": "failed", "run_id": None, "error": "not run"}
        return {"index": cell.index, "cell": cell.cell, "status": outcome["status"], "run_id": outcome.get("run_id"),
                "worker": outcome.get("worker"), "error": outcome.get("error"), "attempts": cell.attempts}

    def _tell(self, cell: Cell, info: dict) -> None:
        if self.on_cell is not None:
            try:
                self.on_cell(cell.index, info)
            except Exception:  # noqa: BLE001 - a listener's fault (a closed widget) must not stop the sweep
                pass

    def _emit(self) -> None:
        """Tell the listeners when a count changed, and each second for the ETA (a widget's trait is a message each time)."""
        if not self.listeners:
            return
        done = sum(c.outcome is not None for c in self.cells)
        now = time.perf_counter()
        state = (done, len(self.busy), len(self.idle), len(self.starting), self.timings["total_s"] is not None)
        if state == self._emitted[0] and now - self._emitted[1] < 1.0:
            return
        self._emitted = (state, now)
        progress = SweepProgress(
            total=len(self.cells), done=done, succeeded=sum(c.outcome is not None and c.outcome["status"] == "succeeded" for c in self.cells),
            busy=len(self.busy), workers=len(self.busy) + len(self.idle), starting=len(self.starting), elapsed_s=now - self.started,
            eta_s=estimate(len(self.cells), done, now - self.first_handout) if self.first_handout else None)
        for listener in self.listeners:
            try:
                listener(progress)
            except Exception:  # noqa: BLE001 - as above
                pass


def _mark_interrupted(lab: Lab, run_id: str, why: str) -> None:
    """What the log's reaper would write a minute later (explorer.log.recovery), written now by the driver that saw the death."""
    lab.log.connection.transaction(lambda conn: conn.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE id = ? AND status = 'running'", [utcnow(), why, run_id]))


def reason(exc: BaseException) -> str:
    """One line out of a Ray error: the original exception's last line where there is one (an actor's __init__ raising)."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Missing|Unavailable|Busy|Exit)\b.*?:", line)
              and not line.startswith(("ray.exceptions", "The actor"))]
    if raised:
        return raised[-1][:300]
    detail = re.search(r"Worker exit detail: (.+?)(?:\. |\.?$)", text, re.MULTILINE)
    if detail:  # a worker process that ended: Ray's words for how (killed, out of memory, lost node)
        return f"its process ended: {detail.group(1)}"[:300]
    died = next((line for line in lines if "died" in line or "exit" in line.lower()), None)
    return (died or (lines[0] if lines else type(exc).__name__))[:300]
