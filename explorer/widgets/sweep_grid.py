"""SweepGrid: axes over any request fields; headers at once, cells filling in as runs finish; reopenable from the log.

A grid is for comparing: one transport plays, steps and scrubs every cell on one clock; a cell's own
controls show on hover, and the stars under it rate that cell's run as ``lab.author`` (like ``lab.rate``).
"""

from __future__ import annotations

import json
import threading
import traceback
from typing import Any

import traitlets

from explorer.backends.base import RunControl
from explorer.review.taste import MIN_COMPARISONS, QUEUE_WAIT
from explorer.widgets._base import ExplorerWidget
from explorer.widgets.differences import describe_differences


class SweepGrid(ExplorerWidget):
    """``lab.ui.sweep("forest", {"seed": [1, 2, 3], "guidance": [3, 9]})``; ``lab.ui.sweep(None, None, sweep_id=…)`` reopens one.

    The first axis runs down the rows, the second across the columns; further
    axes multiply the rows. Each cell is a logged run; the sweep itself is
    logged with its axes, so it can be reopened later.

    ``workers="ray"`` (or ``"ray://HOST:PORT"``) makes the cells on Ray workers, one per device
    (``max_workers=`` caps them; :mod:`explorer.workers`): the grid fills as each worker finishes a cell,
    names the worker under each cell, and Cancel stops every worker at its next step.
    """

    _module = traitlets.Unicode("sweep_grid").tag(sync=True)
    sweep_id = traitlets.Unicode("").tag(sync=True)
    axes = traitlets.Dict().tag(sync=True)
    row_labels = traitlets.List().tag(sync=True)
    col_labels = traitlets.List().tag(sync=True)
    cells = traitlets.List().tag(sync=True)  # [{"row", "col", "cell", "status", "clip"?, "error"?, "my_rating", "worker"}]
    progress = traitlets.Dict().tag(sync=True)  # {"total", "done", "busy", "workers", "eta_s", …}: cells done of total, workers busy, ETA
    shared = traitlets.Unicode("").tag(sync=True)  # what every cell has in common (the axes say what differs)
    taste = traitlets.Dict().tag(sync=True)  # {"ranks": {run id: 1 = best predicted}, "note": what the taste model learnt from}
    running = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Any, base: Any, axes: dict[str, list] | None, *, sweep_id: str | None = None, run: bool = True,
                 name: str | None = None, workers: str | None = None, max_workers: int | None = None, **fields: Any):
        super().__init__(lab)
        self._control = RunControl()
        self._thread: threading.Thread | None = None
        self._cells_lock = threading.Lock()  # the worker fills cells while a star click rates one
        if sweep_id:
            self._reopen(sweep_id)
            return
        self._workers = None
        if workers is not None:  # checked and connected before the sweep is logged (explorer.workers imports Ray only here)
            from explorer.workers import connect

            self._workers = connect(lab, workers, max_workers=max_workers)
        elif max_workers is not None:
            from explorer.request import RequestError

            raise RequestError(["max_workers: only with workers='ray' or 'ray://HOST:PORT' (in the kernel, cells run one at a time)"])
        sweep_id, cells, requests = lab.plan_sweep(base, axes or {}, name=name, **fields)
        self.sweep_id, self.axes = sweep_id, {k: list(v) for k, v in axes.items()}
        self._layout(cells, [None] * len(cells))
        self.shared = describe_differences(requests)["shared"]
        self._requests = list(zip(cells, requests))
        self.progress = {"total": len(cells), "done": 0, "busy": 0, "workers": 0, "eta_s": None}
        if run:
            target = self._run if self._workers is None else self._run_on_workers
            self._thread = threading.Thread(target=target, name="explorer-sweep", daemon=True)
            self.running = True
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def cancel(self) -> None:
        self._control.cancel()

    def rate(self, run: Any, score: int) -> str:
        """Rate one cell's run 1–5 as ``lab.author`` (logged like ``lab.rate``); its stars show it."""
        run_id = self._lab.log.resolve(getattr(run, "id", run))
        rating_id = self._lab.rate(run_id, int(score))
        with self._cells_lock:
            self.cells = [{**c, "my_rating": int(score)} if (c.get("clip") or {}).get("id") == run_id else c for c in self.cells]
        self.message = f"rated {run_id} {int(score)}★"
        return rating_id

    def on_message(self, content: dict, buffers: list) -> None:
        kind = content.get("type")
        if kind == "cancel":
            self.cancel()
        elif kind == "rate":
            self._guard(self.rate, content.get("id"), content.get("score"))

    def _layout(self, cells: list[dict], runs: list[dict | None]) -> None:
        names = list(self.axes)
        row_axes, col_axis = ([names[0], *names[2:]], names[1]) if len(names) > 1 else (names, None)
        col_values = self.axes[col_axis] if col_axis else [None]
        self.col_labels = [f"{col_axis} = {_fmt(v)}" for v in col_values] if col_axis else [""]
        rows: list[tuple] = []
        out = []
        for cell, clip in zip(cells, runs):
            row_key = tuple(_key(cell[a]) for a in row_axes)
            if row_key not in rows:
                rows.append(row_key)
            out.append({"row": rows.index(row_key), "col": [_key(v) for v in col_values].index(_key(cell[col_axis])) if col_axis else 0,
                        "cell": cell, "status": clip["status"] if clip else "waiting", "clip": clip,
                        "my_rating": clip.get("my_rating", 0) if clip else 0, "worker": clip.get("worker") if clip else None})
        self.row_labels = [", ".join(f"{a} = {_fmt(cells_value)}" for a, cells_value in zip(row_axes, self._row_values(cells, rows, r, row_axes)))
                           for r in range(len(rows))]
        self.cells = out

    @staticmethod
    def _row_values(cells: list[dict], rows: list[tuple], index: int, row_axes: list[str]) -> list:
        for cell in cells:
            if tuple(_key(cell[a]) for a in row_axes) == rows[index]:
                return [cell[a] for a in row_axes]
        return []

    def _set_cell(self, index: int, **changes: Any) -> None:
        with self._cells_lock:
            cells = [dict(c) for c in self.cells]
            cells[index].update(changes)
            self.cells = cells

    def _run(self) -> None:
        import time

        total, started = len(self._requests), time.perf_counter()
        try:
            for index, (cell, request) in enumerate(self._requests):
                if self._control.cancelled:
                    self._set_cell(index, status="skipped")
                    continue
                self._set_cell(index, status="running")
                self.message = f"cell {index + 1} of {total}"
                self.progress = {**self.progress, "busy": 1, "workers": 1}
                run = self._lab.generate(request, progress=False, control=self._control, _sweep=(self.sweep_id, cell))
                self._set_cell(index, status=run.status, clip=self._clip(run.id) if run.ok else None, error=run.error)
                elapsed = time.perf_counter() - started
                self.progress = {"total": total, "done": index + 1, "busy": 0, "workers": 1, "elapsed_s": round(elapsed, 3),
                                 "eta_s": round(elapsed / (index + 1) * (total - index - 1), 1)}
            done = sum(c["status"] == "succeeded" for c in self.cells)
            self.message = f"sweep {self.sweep_id}: {done} of {len(self.cells)} cells done"
            self._rank_by_taste()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never lost in a thread
            self.message = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self.running = False

    def _run_on_workers(self) -> None:
        cells, requests = [c for c, _ in self._requests], [r for _, r in self._requests]

        def on_cell(index: int, info: dict) -> None:
            if info["status"] in ("running", "waiting"):
                self._set_cell(index, status=info["status"], worker=info.get("worker"), error=info.get("error"))
                return
            clip = self._clip(info["run_id"]) if info["status"] == "succeeded" and info.get("run_id") else None
            if clip is not None:
                self._lab.log.connection.release()  # give a file log back at once: the workers write to it between our reads
            self._set_cell(index, status=info["status"], clip=clip, error=info.get("error"), worker=info.get("worker"))

        def on_progress(progress: Any) -> None:
            self.progress = progress.to_dict()
            self.message = progress.line()

        try:
            report = self._workers.run(self.sweep_id, cells, requests, progress=False, control=self._control,
                                       on_cell=on_cell, on_progress=on_progress)
            done = report.counts.get("succeeded", 0)
            self.message = f"sweep {self.sweep_id}: {done} of {len(self.cells)} cells done on {len(report.workers)} worker(s)"
            self._rank_by_taste()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never lost in a thread
            self.message = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self.running = False

    def _reopen(self, sweep_id: str) -> None:
        sweep = self._lab.sql("SELECT * FROM sweeps WHERE starts_with(id, ?)", [sweep_id])
        if len(sweep) != 1:
            raise ValueError(f"sweep_id: no single sweep matches {sweep_id!r}")
        self.sweep_id = str(sweep["id"][0])
        self.axes = json.loads(sweep["axes"][0])
        runs = self._lab.sql("SELECT id, status, sweep_cell, backend_info FROM runs WHERE sweep_id = ? ORDER BY created_at", [self.sweep_id])
        by_cell = {json.dumps(json.loads(c), sort_keys=True): (i, s, _worker(b))
                   for i, s, c, b in zip(runs["id"], runs["status"], runs["sweep_cell"], runs["backend_info"])}
        import itertools

        names = list(self.axes)
        cells = [dict(zip(names, values)) for values in itertools.product(*(self.axes[n] for n in names))]
        mine_sql = ("SELECT run_id, score FROM ratings WHERE author = ? AND run_id IN (SELECT id FROM runs WHERE sweep_id = ?) "
                    "QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY created_at DESC, id DESC) = 1")
        mine = {r: int(score) for r, score in self._lab.sql(mine_sql, [self._lab.author, self.sweep_id]).itertuples(index=False)}
        clips = []
        for cell in cells:
            found = by_cell.get(json.dumps(cell, sort_keys=True))
            clips.append({**self._clip(found[0]), "status": found[1], "my_rating": mine.get(found[0], 0), "worker": found[2]} if found else None)
        self._layout(cells, clips)
        base = json.loads(sweep["base_request"][0])
        self.shared = describe_differences([{**base, **cell} for cell in cells])["shared"]
        self.message = f"sweep {self.sweep_id} reopened from the log"
        self._rank_by_taste(wait=QUEUE_WAIT)  # the kernel waits at most that long for a refit

    def _rank_by_taste(self, wait: float | None = None) -> None:
        """Each finished cell's rank by the team's taste model (explorer.review.taste), once the model is ready."""
        from explorer.review.taste import predicted_taste, taste_model

        ids = [c["clip"]["id"] for c in self.cells if c.get("clip") and c["status"] == "succeeded"]
        try:
            model = taste_model(self._lab, wait=wait)
            if not model.ready:
                learnt = model.votes + model.star_pairs
                self.taste = {"ranks": {}, "note": f"taste model: not ready ({learnt} of {MIN_COMPARISONS} comparisons learnt)"}
                return
            predicted = predicted_taste(self._lab, ids, wait=wait).dropna().sort_values(ascending=False, kind="stable")
        except Exception as exc:  # noqa: BLE001 - a hint beside the grid: the sweep and its message stand without it
            self.taste = {"ranks": {}, "note": f"taste model: {type(exc).__name__}: {exc}"}
            return
        self.taste = {"ranks": {run_id: rank for rank, run_id in enumerate(predicted.index, 1)}, "note": model.describe()}


def _worker(backend_info: Any) -> str | None:
    """The worker named in a run's ``backend_info`` (a sweep made on Ray workers), as the grid shows it; None in the kernel."""
    try:
        worker = json.loads(backend_info).get("worker") if isinstance(backend_info, str) else None
    except (ValueError, AttributeError):
        return None
    if not worker:
        return None
    from explorer.workers import label

    return label(worker)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _fmt(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
