"""The runs a listing shows, mirrored in this process: a page, a total or a search's rows with no log statement when nothing changed.

Why: a review panel's request (a page of runs and the total) cost 2–4 log
statements (the page, the count, the rating summary's "anything new?") plus
the rating summary's own lookups. On a file log that was ~70 ms at 1M runs (the
page and the count each scan the filtered column); on a team log every
statement is also a few catalog round trips to PostgreSQL and a scan of Parquet
on one thread (``threads = 1``): ~1 s. Targets: a page of 50 ≤ 30 ms, a search
≤ 50 ms, on both homes.

Decision: :class:`RunsIndex` keeps, per log and process (:func:`runs_index_for`,
the pattern of :mod:`~explorer.log.summary` and :mod:`~explorer.log.search`),
the columns a listing shows (``queries.RUN_COLUMNS``, plus ``host``, ``pid`` and
``heartbeat_at`` for crash recovery) of every run as an Arrow table sorted
newest first, with each filterable column (author, backend, model, status,
parent, sweep) dictionary-encoded into a NumPy array. A filter is a vectorised
compare over 1M small integers (~1 ms), a page a slice of the matching
positions, the total their count; only the page's 50 rows become Python values.
Not an in-memory DuckDB like the summary's: measured at 1M runs on this
machine, a filtered count there took ~20 ms and a 50-id lookup ~6 ms, already
the whole budget. The cost is memory: the listed columns of every run (prompts
included) stay in each process that lists runs.

"What changed?" costs at most one cheap look per request, and none in
SQL on a file log:

- **team log**: the current DuckLake snapshot id (``current_snapshot()``, one
  catalog round trip, ~4 ms). Unchanged: nothing to read. Changed: one
  ``ducklake_table_changes`` over the runs table since the last snapshot seen
  gives the inserted rows and the post-images of updated ones (status,
  heartbeat, finish), whoever wrote them. If the lake cannot answer (snapshots
  expired, a compaction), everything is read again.
- **file log**: ``os.stat`` of the database file and its write-ahead log (size
  and mtime). Every commit, by any process, appends to the WAL or (at a
  checkpoint) rewrites the file, so an unchanged pair means an unchanged log.
  (A commit appends to the WAL, so its size moves even within one tick of the
  kernel's coarse mtime clock; a checkpoint removes the WAL.)
  Changed: runs added since (``rowid > mark``; runs are never deleted) and a
  fresh read of every run the mirror holds as ``running`` or ``interrupted``.

Runs rows are updated in place by exactly these statements (``grep "UPDATE
runs"``): ``Log.finish_run`` (status, error, hint, duration, media),
``recovery.reap`` and ``workers.dispatch`` (running → interrupted) and the
``Heartbeat`` (heartbeat of a running run). All of them touch a run that is
``running``, or ``interrupted`` (a late finish of a run reaped while merely
slow), which is why those are the runs re-read on a file log; a team log gets
every update from the lake itself. One more, ``Log.keep`` (a live take kept,
:mod:`explorer.live`), updates a finished run: on a file log the kept runs are
found by ``kept_at >=`` the latest seen, a column that is mostly NULL. So the mirror shows a status change at the
first request after its commit: never staler than the log, and fresher than
:data:`~explorer.log.recovery.REAP_EVERY_S` requires. Runs logged by this
process show at once for the same reason (their commit changes the token).

Crash recovery: :func:`explorer.log.queries.runs` used to call
``log.recover(every=REAP_EVERY_S)`` (a scan of every run's status) before each
listing. The mirror holds every running run's host, pid and heartbeat, so
:meth:`RunsIndex.suspects` answers "is one of them gone?" in process (the same
:func:`~explorer.log.recovery.gone` test), and the reaper runs only then.

New runs are kept in a small *tail* (Python dicts, matched by a plain loop) and
merged into the sorted base by reading everything again once the tail passes
:data:`REBUILD_TAIL` runs. A listing with no ``limit`` (a notebook's
``lab.runs()``) or a deep page goes to the log as before: the mirror is for
pages.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from explorer.log.per_log import PerLog

if TYPE_CHECKING:
    import pyarrow as pa

REBUILD_TAIL = 5_000  # new runs held unsorted until this many, then the base is read again
MAX_PAGE_END = 20_000  # offset + limit beyond this: the log answers (a deep page is rare; merging it in Python is not free)
MUTABLE = ("running", "interrupted")  # the statuses an UPDATE runs may still change (see the module docstring)
FILTERS = ("author", "backend", "model", "status", "parent_id", "sweep_id")
SHOWN = ("id", "created_at", "author", "status", "backend", "model", "prompt", "negative_prompt", "seed", "frames", "fps",
         "width", "height", "steps", "guidance", "parent_id", "sweep_id", "duration_s", "error", "hint", "media_sha256", "live", "kept_at")
KEPT = SHOWN + ("host", "pid", "heartbeat_at")  # the last three for crash recovery (suspects), never shown
_COLUMNS = ", ".join(KEPT)


class RunsIndex:
    """One log's runs, as a listing needs them, in this process; thread-safe."""

    def __init__(self, log: Any):
        self.log = log
        self._lock = threading.RLock()
        self._token: Any = None  # what the log looked like at the last refresh (snapshot id, or file stats)
        self._base: pa.Table | None = None  # KEPT columns, newest first (created_at DESC, id)
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._created: np.ndarray = np.zeros(0, dtype="int64")
        self._oldest: np.ndarray = np.zeros(0, dtype="int64")  # base positions, oldest first (created_at ASC, id)
        self._codes: dict[str, np.ndarray] = {}
        self._hidden: np.ndarray = np.zeros(0, dtype=bool)  # base positions of live takes not kept (explorer.live)
        self._hidden_tail: set[str] = set()  # tail runs that are
        self._kept_mark: Any = None  # the latest kept_at seen (file log: a keep updates a finished run)
        self._vocab: dict[str, dict[Any, int]] = {}
        self._tail: dict[str, dict] = {}  # runs added since the base was read
        self._over: dict[str, dict] = {}  # base runs updated since (their whole row)
        self._mutable: set[str] = set()  # runs whose status an update may change (file log: re-read on every change)
        self._mark = -1  # the greatest runs rowid held (file log)
        self._run_count = 0
        self.builds = 0  # full reads of the runs (tests and benchmarks read it)
        self.changes = 0  # refreshes that found the log changed
        self.inserts = 0  # runs taken in since the first build (the prompt index needs a refresh only after one)
        self._last: tuple | None = None  # the last filters' matches, until the next change (select)

    # -- freshness ----------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Bring the mirror up to the log's current state; False (and no log statement on a file log) if nothing changed."""
        with self._lock:
            token = self._look()
            if token is not None and token == self._token:
                return False
            if self._base is None or len(self._tail) >= REBUILD_TAIL:
                self._build()
            elif not self._apply_changes(token):
                self._build()
            self._token = token
            self.changes += 1
            return True

    def _look(self) -> Any:
        if self.log.is_team:
            from explorer.log.lake import CATALOG

            with self.log.connection.session() as conn:
                return ("snapshot", conn.execute(f"SELECT * FROM {CATALOG}.current_snapshot()").fetchone()[0])
        path = str(self.log.path)
        stats = []
        for name in (path, path + ".wal"):
            try:
                s = os.stat(name)
                stats.append((s.st_size, s.st_mtime_ns, s.st_ino))
            except FileNotFoundError:
                stats.append(None)
        return ("file", *stats)

    def _build(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        with self.log.connection.session() as conn:
            rows = conn.execute(f"SELECT rowid AS rid, {_COLUMNS} FROM runs").to_arrow_table()
        order = pc.sort_indices(rows, sort_keys=[("created_at", "descending"), ("id", "ascending")])
        base = rows.take(order)
        self._mark = max(-1, pc.max(base.column("rid")).as_py() or -1) if base.num_rows else -1
        base = base.drop_columns(["rid"])
        created = base.column("created_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
        self._ids = base.column("id").to_pylist()
        self._pos = {run_id: i for i, run_id in enumerate(self._ids)}
        self._created = created
        self._oldest = _oldest_order(created)
        self._codes, self._vocab = {}, {}
        for name in FILTERS:
            encoded = pc.dictionary_encode(base.column(name)).combine_chunks()
            self._codes[name] = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int32")
            self._vocab[name] = {value: i for i, value in enumerate(encoded.dictionary.to_pylist())}
        live = base.column("live").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        self._hidden = live & base.column("kept_at").is_null().to_numpy(zero_copy_only=False).astype(bool)
        self._hidden_tail = set()
        self._kept_mark = pc.max(base.column("kept_at")).as_py() if base.num_rows else None
        self._base = base
        self._tail, self._over = {}, {}
        self._mutable = {self._ids[i] for i in np.flatnonzero(np.isin(self._codes["status"], [self._vocab["status"].get(s, -2) for s in MUTABLE]))}
        self._run_count = base.num_rows
        self.builds += 1
        self.inserts += 1

    def _apply_changes(self, token: Any) -> bool:
        """Fold in what changed since the last refresh; False if it cannot be (then everything is read again)."""
        import duckdb

        if self.log.is_team:
            from explorer.log.lake import CATALOG

            if self._token is None or token[0] != "snapshot":
                return False
            try:
                with self.log.connection.session() as conn:
                    changed = conn.execute(
                        f"""SELECT rowid AS rid, change_type, {_COLUMNS}
                            FROM ducklake_table_changes('{CATALOG}', 'main', 'runs', ?, ?)
                            WHERE change_type IN ('insert', 'update_postimage', 'delete') ORDER BY snapshot_id, rowid""",
                        [self._token[1] + 1, token[1]]).to_arrow_table().to_pylist()
            except duckdb.Error:
                return False  # e.g. the snapshots were expired: read everything
            if any(row["change_type"] == "delete" for row in changed):
                return False  # runs are never deleted by us; someone did: read everything
        else:
            with self.log.connection.session() as conn:
                changed = conn.execute(f"SELECT rowid AS rid, {_COLUMNS} FROM runs WHERE rowid > ?", [self._mark]).to_arrow_table().to_pylist()
                mutable = sorted(self._mutable)
                if mutable:
                    where = f"id IN ({', '.join('?' * len(mutable))})" if len(mutable) <= 1_000 else "id IN (SELECT unnest(?))"
                    changed += conn.execute(f"SELECT rowid AS rid, {_COLUMNS} FROM runs WHERE {where}",
                                            mutable if len(mutable) <= 1_000 else [mutable]).to_arrow_table().to_pylist()
                # A keep (Log.keep) updates a finished run: found by its kept_at (mostly NULL: row groups skipped by their statistics)
                if self._kept_mark is None:
                    changed += conn.execute(f"SELECT rowid AS rid, {_COLUMNS} FROM runs WHERE kept_at IS NOT NULL").to_arrow_table().to_pylist()
                else:
                    changed += conn.execute(f"SELECT rowid AS rid, {_COLUMNS} FROM runs WHERE kept_at >= ?", [self._kept_mark]).to_arrow_table().to_pylist()
        for row in changed:
            row.pop("change_type", None)
            self._mark = max(self._mark, row.pop("rid"))
            self._take(row)
        return True

    def _take(self, row: dict) -> None:
        run_id = row["id"]
        hidden = bool(row["live"]) and row["kept_at"] is None
        if row["kept_at"] is not None and (self._kept_mark is None or row["kept_at"] > self._kept_mark):
            self._kept_mark = row["kept_at"]
        if run_id in self._pos:
            self._over[run_id] = row
            self._set_code("status", self._pos[run_id], row["status"])
            self._hidden[self._pos[run_id]] = hidden
        else:
            if run_id not in self._tail:
                self._run_count += 1
                self.inserts += 1
            self._tail[run_id] = row
            (self._hidden_tail.add if hidden else self._hidden_tail.discard)(run_id)
        if row["status"] in MUTABLE:
            self._mutable.add(run_id)
        else:
            self._mutable.discard(run_id)

    def _set_code(self, name: str, position: int, value: Any) -> None:
        vocab = self._vocab[name]
        if value not in vocab:
            vocab[value] = len(vocab)
        self._codes[name][position] = vocab[value] if value is not None else -1

    # -- crash recovery -----------------------------------------------------------------------------

    def suspects(self) -> bool:
        """Whether a run the mirror holds as running looks gone (dead pid here, or a stale heartbeat): time to reap."""
        from explorer.log.clock import utcnow
        from explorer.log.recovery import gone

        with self._lock:
            now = utcnow()
            for run_id in self._mutable:
                row = self._row(run_id)
                if row["status"] == "running" and gone(row["host"], row["pid"], row["heartbeat_at"], now):
                    return True
        return False

    # -- answering ----------------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return self._run_count

    def hidden(self) -> int:
        """How many live takes are not kept (listings leave them out)."""
        with self._lock:
            return int(self._hidden.sum()) + len(self._hidden_tail)

    def select(self, filters: dict, *, found: list[str] | None, sort: str, offset: int, limit: int | None) -> tuple[list[str], int]:
        """Ids of one page of runs matching ``filters`` (and among ``found``, when given) in ``sort`` order; and how many match.

        ``filters``: author, backend, model, status, parent, sweep (equality, as queries' SQL), ids (a list) and live
        (False: leave out live takes not kept; None: no such filter).
        ``sort``: newest or oldest. ``limit=0`` asks for the total only.
        """
        with self._lock:
            key = (self.changes, tuple(sorted((k, v) for k, v in filters.items() if k != "ids" and v is not None)), sort)
            last = self._last
            if found is None and filters.get("ids") is None and last is not None and last[0][:2] == key[:2] and (limit == 0 or last[0] == key):
                positions, tail = self._last[1]  # the same filters since the last change: a panel asks for the page, then the total
            else:
                positions, tail = self._matching(filters, found, sort)
                if found is None and filters.get("ids") is None:
                    self._last = (key, (positions, tail))
            total = int(len(positions)) + len(tail)
            if limit == 0:
                return [], total
            end = offset + limit if limit is not None else None
            head = positions[:end]
            if not tail:
                return [self._ids[p] for p in head[offset:]], total
            keyed = [(int(self._created[p]), self._ids[p]) for p in head] + [(_micros(r["created_at"]), r["id"]) for r in tail]
            keyed.sort(key=lambda k: k[1])
            keyed.sort(key=lambda k: k[0], reverse=sort != "oldest")  # stable: id ascending within a created_at
            return [i for _, i in keyed[offset:end]], total

    def _matching(self, filters: dict, found: list[str] | None, sort: str) -> tuple[np.ndarray, list[dict]]:
        """Base positions matching, in ``sort`` order, and the tail's matching rows (unordered)."""
        mask = self._mask(filters)
        ids_filter = filters.get("ids")
        wanted = None if ids_filter is None else set(ids_filter)
        if found is not None:
            wanted = set(found) if wanted is None else wanted & set(found)
        if wanted is not None:
            positions = np.fromiter((self._pos[i] for i in wanted if i in self._pos), dtype="int64")
            positions.sort()  # newest order
            if mask is not None:
                positions = positions[mask[positions]]
            if sort == "oldest":
                positions = _by_oldest(positions, self._created)
        elif sort == "oldest":
            positions = self._oldest if mask is None else self._oldest[mask[self._oldest]]
        else:
            positions = np.arange(len(self._ids)) if mask is None else np.flatnonzero(mask)
        tail = [row for run_id, row in self._tail.items() if (wanted is None or run_id in wanted) and _matches(row, filters)]
        return positions, tail

    def rows(self, run_ids: list[str]) -> list[dict]:
        """The shown columns of ``run_ids`` (those held), as dicts, in that order."""
        with self._lock:
            from_base = [self._pos[i] for i in run_ids if i in self._pos and i not in self._over and i not in self._tail]
            fetched = dict(zip((self._ids[p] for p in from_base), self._base.take(from_base).to_pylist())) if from_base else {}
            out = []
            for run_id in run_ids:
                row = self._tail.get(run_id) or self._over.get(run_id) or fetched.get(run_id)
                if row is not None:
                    out.append({k: row[k] for k in SHOWN})
            return out

    def holds(self, run_ids: list[str]) -> bool:
        with self._lock:
            return all(i in self._pos or i in self._tail for i in run_ids)

    def schema(self) -> pa.Schema:
        """The Arrow types of the shown columns (what the log returns for them)."""
        with self._lock:
            return self._base.select(list(SHOWN)).schema

    def _row(self, run_id: str) -> dict:
        row = self._tail.get(run_id) or self._over.get(run_id)
        if row is None:
            row = self._base.slice(self._pos[run_id], 1).to_pylist()[0]
        return row

    def _mask(self, filters: dict) -> np.ndarray | None:
        mask = None
        for name, column in (("author", "author"), ("backend", "backend"), ("model", "model"), ("status", "status"),
                             ("parent", "parent_id"), ("sweep", "sweep_id")):
            value = filters.get(name)
            if value is None:
                continue
            this = self._codes[column] == self._vocab[column].get(value, -2)
            mask = this if mask is None else mask & this
        if filters.get("live") is False:
            mask = ~self._hidden if mask is None else mask & ~self._hidden
        return mask


_FILTER_COLUMNS = {"author": "author", "backend": "backend", "model": "model", "status": "status", "parent": "parent_id", "sweep": "sweep_id"}


def _matches(row: dict, filters: dict) -> bool:
    if filters.get("live") is False and row["live"] and row["kept_at"] is None:
        return False
    return all(row[column] == filters[name] for name, column in _FILTER_COLUMNS.items() if filters.get(name) is not None)


def _micros(value: datetime) -> int:
    """A naive UTC timestamp as microseconds since the epoch (what the base's ``created_at`` holds as int64)."""
    delta = value - datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _oldest_order(created: np.ndarray) -> np.ndarray:
    """Positions of a newest-first base (created_at DESC, id ASC) in oldest-first order (created_at ASC, id ASC)."""
    order = np.arange(len(created) - 1, -1, -1, dtype="int64")
    return _fix_ties(order, created)


def _by_oldest(positions: np.ndarray, created: np.ndarray) -> np.ndarray:
    return _fix_ties(positions[::-1].copy(), created)


def _fix_ties(order: np.ndarray, created: np.ndarray) -> np.ndarray:
    """``order`` reverses newest-first positions: runs created at the same instant came out id DESC; put them id ASC."""
    if len(order) < 2:
        return order
    values = created[order]
    same = np.flatnonzero(values[1:] == values[:-1])
    if len(same) == 0:
        return order
    # tie groups: maximal runs of equal neighbours, found from the indices where a value repeats the next one
    breaks = np.flatnonzero(np.diff(same) != 1)
    for first, last in zip(np.r_[0, breaks + 1], np.r_[breaks, len(same) - 1]):
        start, stop = same[first], same[last] + 2
        order[start:stop] = order[start:stop][::-1]
    return order


_indexes: PerLog[RunsIndex] = PerLog(RunsIndex)


def runs_index_for(log: Any) -> RunsIndex:
    """The runs index of ``log`` in this process (made on first use, dropped with the log)."""
    return _indexes.get(log)
