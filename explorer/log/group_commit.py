"""Group commit on a team log: the small appends of one machine's writers share one DuckLake commit.

A DuckLake commit costs its writer ~10 ms of CPU whatever it holds (five
catalog reads and a multi-statement write to PostgreSQL, bench/team_writes.py),
while the row it carries — a rating, a vote, an annotation — costs ~4 ms. With
16 reviewers' processes on one machine taking turns (:meth:`LakeConnection._turn
<explorer.log.lake.LakeConnection._turn>`), one commit per rating capped the
machine at ~35 ratings a second and queued a burst for hundreds of ms. So,
like PostgreSQL's own group commit, whoever gets the turn commits everyone's
waiting appends in one transaction:

- a writer puts its append as a JSON file in this machine's *spool* folder for
  the log (``<pid>-<row id>.req``), then, until it is answered, looks for its
  answer and tries to take the turn;
- the writer that takes the turn *leads*: it claims every waiting append
  (renames ``.req`` to ``.claimed``, up to :data:`MAX_BATCH`), inserts their
  rows with one statement per table, commits once, and answers each writer in
  a ``.done`` file (``{}``, or the error that append alone met);
- every check that reads the log (is there such a run? how many frames has
  it?) is made by the asking writer before it spools its append, so a leader
  reads nothing: the shared, one-at-a-time part of a write stays short. An
  entry a leader cannot use (a malformed file) is answered with its error and
  the others still commit; if the commit itself fails, every append is
  retried in a transaction of its own, so each writer gets its own answer.

An answer is written only after the commit, so a writer that returns has its
row in the log, as before. What the folder is for when things go wrong:

- **A writer killed while waiting**: its append is still committed (it was
  asked for, like a request already sent), and its answer file is removed by
  a later leader once that process is gone.
- **A leader killed mid-batch**: its claimed appends stay ``.claimed``. The
  next leader (it holds the turn, so the old one is dead) applies each again
  only if its row id is not in the log yet: committed or not, each lands
  exactly once.
- **A writer interrupted while waiting** (Ctrl-C) withdraws its append if no
  leader has claimed it yet; a claimed one lands.
- **A writer that waits past its timeout** withdraws its append (removes the
  ``.req``) if no leader has claimed it, then commits it itself without the
  turn; a claimed append is answered by its leader, however long that takes.
- **An interrupt while leading** (Ctrl-C) rolls the batch back and hands the
  other writers' appends back (``.claimed`` to ``.req``); the leader's own is
  dropped, as an interrupted call should be.

The spool is per Unix user (mode 0700): a leader writes other people's rows
with its own PostgreSQL credentials, so only one's own processes are batched
together; other users on the machine still take turns with them.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import duckdb

from explorer.log.connection import LogBusy, insert_rows
from explorer.log.recovery import process_alive

if TYPE_CHECKING:
    from explorer.log.lake import LakeConnection

MAX_BATCH = 64  # appends in one commit (~0.3 ms each beside the commit's ~10 ms); waiters beyond it take the next turn
FIRST_POLL_S = 0.0005  # a waiter looks for its answer (and the turn) this soon, then less often...
MAX_POLL_S = 0.005  # ...up to every 5 ms: a commit takes ~15 ms, so an answer is seen at most a third of a commit late
TABLES = ("ratings", "votes", "annotations")  # what can be appended: rows that are only ever added, each with its own id

Row = Callable[[duckdb.DuckDBPyConnection, dict], list]  # an entry's row, in its table's column order (raises before any write)


class GroupCommit:
    """One process's door to the spool of one team log on this machine; used by :class:`~explorer.log.lake.LakeConnection`."""

    def __init__(self, connection: "LakeConnection", folder: Path):
        self.connection = connection
        self.folder = folder

    @classmethod
    def open(cls, connection: "LakeConnection", key: str) -> "GroupCommit | None":
        """The spool for the log ``key`` names, made if needed; None where it cannot be (appends then commit alone)."""
        folder = Path(tempfile.gettempdir()) / "clip-explorer-team-log-turns" / f"{key}.spool-{os.getuid()}"
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if folder.stat().st_uid != os.getuid() or not os.access(folder, os.W_OK):
                return None  # someone else's folder under our name: never hand them our rows
        except OSError:
            return None
        return cls(connection, folder)

    def append(self, entry: dict, row: Row) -> None:
        """Append ``entry`` (a JSON-safe dict with ``table`` and ``id``) through the next leader; raise what it met."""
        if entry.get("table") not in TABLES:
            raise ValueError(f"group commit: cannot append to {entry.get('table')!r}")
        connection = self.connection
        try:
            text = json.dumps(entry)
        except (TypeError, ValueError):  # a value JSON cannot carry (a NumPy integer): alone, so it meets the same checks
            connection.transaction(lambda conn: insert_rows(conn, entry["table"], [row(conn, entry)]))
            return None
        name = f"{os.getpid()}-{entry['id']}"
        request, answer = self.folder / f"{name}.req", self.folder / f"{name}.done"
        _write_atomically(request, text)
        try:
            return self._wait(entry, row, request, answer)
        except BaseException:
            request.unlink(missing_ok=True)  # interrupted while waiting: withdrawn, unless a leader has it already
            raise

    def _wait(self, entry: dict, row: Row, request: Path, answer: Path) -> None:
        """Until ``request`` is answered: look for the answer, lead when the turn is free, withdraw past the timeout."""
        connection = self.connection
        deadline = time.monotonic() + connection.timeout
        wait = FIRST_POLL_S
        while True:
            outcome = _read_answer(answer)
            if outcome is not None:
                return _raise_if_failed(outcome)
            if connection._thread_lock.acquire(blocking=False):  # one leader per process: flock is per process, not per thread
                try:
                    if connection._take_turn():
                        team = connection._take_team_turn(deadline)  # before the spool is read: the batch grows meanwhile
                        try:
                            connection._turn_depth += 1
                            self._lead(row, own=request)
                        finally:
                            connection._turn_depth -= 1
                            if team:
                                connection._give_team_turn()
                            connection._give_turn()
                        continue  # our own answer is written now (unless the batch was full without it)
                finally:
                    connection._thread_lock.release()
            if time.monotonic() > deadline:
                try:
                    request.unlink()  # withdrawn: no leader has it, so it is ours to commit
                except FileNotFoundError:
                    deadline = float("inf")  # a leader has claimed it: its answer will come
                else:  # a stuck turn holder: go ahead without the turn
                    connection.transaction(lambda conn: insert_rows(conn, entry["table"], [row(conn, entry)]), turn=False)
                    return None
            time.sleep(wait * (0.5 + random.random()))
            wait = min(wait * 1.5, MAX_POLL_S)

    # -- leading ---------------------------------------------------------------------------------------------------------

    def _lead(self, row: Row, *, own: Path) -> None:
        """Holding the turn: commit every waiting append (and any a dead leader left claimed) once, and answer each."""
        orphans, waiting = self._scan()
        batch: list[tuple[Path, dict | None, bool]] = [(path, _read_entry(path), True) for path in orphans]
        for path in waiting[:max(0, MAX_BATCH - len(batch))]:
            claimed = path.with_suffix(".claimed")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # withdrawn by its writer
            batch.append((claimed, _read_entry(claimed), False))
        if not batch:
            return
        try:
            outcomes = self._commit(row, batch)
        except BaseException:
            for path, _, _ in batch:  # nothing committed: the others' appends wait for the next leader; ours is dropped
                try:
                    if path.stem == own.stem:
                        path.unlink()
                    else:
                        os.rename(path, path.with_suffix(".req"))
                except OSError:
                    pass
            raise
        for (path, _, _), outcome in zip(batch, outcomes):
            if _alive(path.name):  # nobody to read it otherwise
                _write_atomically(path.with_suffix(".done"), json.dumps(outcome))
            path.unlink(missing_ok=True)

    def _commit(self, row: Row, batch: list[tuple[Path, dict | None, bool]]) -> list[dict]:
        def work(conn: duckdb.DuckDBPyConnection, part=batch) -> list[dict]:
            outcomes, rows = [], {}
            for _, entry, orphan in part:
                if entry is None:
                    outcomes.append({"error": "LogError", "message": "group commit: an append's file could not be read"})
                    continue
                if orphan and _landed(conn, entry):
                    outcomes.append({})  # its leader died after committing it
                    continue
                try:
                    rows.setdefault(entry["table"], []).append(row(conn, entry))
                    outcomes.append({})
                except Exception as exc:  # a malformed entry: this append's own fault, found before any write
                    outcomes.append(_failure(exc))
            for table, values in rows.items():
                insert_rows(conn, table, values)  # one statement a table: ~5 ms for 15 rows against ~20 row by row
            return outcomes

        from explorer.log.log import LogUnavailable  # log.py imports this module's importer: here, not at the top

        try:
            return self.connection.transaction(work)
        except (LogBusy, LogUnavailable) as exc:  # the log's surroundings, not one append: the same answer for all
            return [_failure(exc)] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [_failure(exc)]
        answers = []  # one append may have broken the transaction: each alone, so each writer gets its own answer
        for item in batch:
            try:
                answers.extend(self.connection.transaction(lambda conn, one=[item]: work(conn, one)))
            except Exception as exc:
                answers.append(_failure(exc))
        return answers

    def _scan(self) -> tuple[list[Path], list[Path]]:
        """Appends claimed by a dead leader, appends waiting (oldest first); answers nobody will read are removed."""
        orphans, waiting = [], []
        with os.scandir(self.folder) as entries:
            for item in entries:
                suffix = Path(item.name).suffix
                if item.name.startswith(".tmp-"):
                    if not _alive(item.name[5:]):
                        Path(item.path).unlink(missing_ok=True)  # half-written by a process killed mid-write
                elif suffix == ".claimed":
                    orphans.append(Path(item.path))
                elif suffix == ".req":
                    waiting.append((item.stat().st_mtime_ns, Path(item.path)))
                elif suffix == ".done" and not _alive(item.name):
                    Path(item.path).unlink(missing_ok=True)
        return sorted(orphans), [path for _, path in sorted(waiting)]


def _landed(conn: duckdb.DuckDBPyConnection, entry: dict) -> bool:
    table = entry.get("table")
    if table not in TABLES:
        return False
    return conn.execute(f"SELECT count(*) FROM {table} WHERE id = ?", [entry["id"]]).fetchone()[0] > 0


def _failure(exc: BaseException) -> dict:
    return {"error": type(exc).__name__, "message": str(exc)}


def _raise_if_failed(outcome: dict) -> None:
    if "error" not in outcome:
        return None
    from explorer.log.log import LogError, LogMissing, LogUnavailable
    from explorer.request import RequestError

    kind = {"LogError": LogError, "LogMissing": LogMissing, "LogUnavailable": LogUnavailable, "LogBusy": LogBusy}.get(outcome["error"])
    if outcome["error"] == "RequestError":
        raise RequestError(outcome["message"].split("; "))
    raise (kind or LogError)(outcome["message"])


def _read_entry(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_answer(path: Path) -> dict | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return json.loads(text)


def _write_atomically(path: Path, text: str) -> None:
    """Write, then rename into place: a reader sees the whole file or none (a process killed between leaves a .tmp- file)."""
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    temporary.write_text(text)
    os.rename(temporary, path)


def _alive(name: str) -> bool:
    """Whether the process whose pid starts ``name`` (``<pid>-...``) still runs on this machine."""
    try:
        return process_alive(int(name.split("-", 1)[0]))
    except ValueError:
        return False
