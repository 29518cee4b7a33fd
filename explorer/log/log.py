"""The log: every run, rating, vote and annotation, as rows in one DuckDB file.

Runs are written twice (``running`` when they start, their outcome when they
end) inside short transactions, so a reader sees either state, never half of
one. Reviewer rows (ratings, votes, annotations) are append-only: a changed
rating is a new row and the latest row per (run, author) counts.
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import duckdb

from explorer.log.clock import utcnow
from explorer.log.connection import LogBusy, LogConnection, records
from explorer.log.lake import LakeConnection, TeamAddress, is_team_address
from explorer.log.recovery import clean_temp_files, reap, this_host
from explorer.log.migrations import MIGRATIONS, applied, migrate
from explorer.media import MediaStore, StoredClip
from explorer.request import Request, RequestError, check, check_tags, check_text, shown

if TYPE_CHECKING:  # pandas (~0.6 s to import) only where a DataFrame is asked for: the CLI's commands need none
    import pandas as pd

RUN_STATUSES = ("running", "succeeded", "failed", "cancelled", "interrupted")  # interrupted: its process died (recovery.py)
DEFAULT_DB = "explorer.duckdb"

__all__ = ["Log", "LogBusy", "LogError", "LogMissing", "LogUnavailable", "default_author", "default_db_path", "new_id"]


class LogError(ValueError):
    """A log that cannot be opened, or a write that names something the log does not hold."""


class LogMissing(LogError):
    """No log at the path given, where one must already exist (``create=False``)."""


class LogUnavailable(LogError):
    """The log's surroundings, not the input, stop the work: a read-only file or folder, a full disk, a path that cannot hold a log.

    The CLI exits 1 for it (the environment), not 2 (bad input).
    """


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def default_author() -> str:
    """``EXPLORER_AUTHOR``, else the JupyterHub user, else the login name."""
    for variable in ("EXPLORER_AUTHOR", "JUPYTERHUB_USER"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


def default_db_path(db: str | os.PathLike | None = None) -> Path | str:
    """``db`` if given, else ``EXPLORER_DB``, else ``explorer.duckdb`` in the working folder; a team log's URL stays a string."""
    target = db or os.environ.get("EXPLORER_DB") or DEFAULT_DB
    return target if is_team_address(target) else Path(target)


def media_folder_for(db_path: Path) -> Path:
    """Clips live beside the log: ``team.duckdb`` keeps them in ``team-media/``."""
    return db_path.with_name(db_path.stem + "-media")


# -- what a path must be before DuckDB sees it ----------------------------------------------------------------

# Files people mistake for a log, by their first bytes, so the error says what the file is. A DuckDB file has
# "DUCK" at offset 8 (after its header's checksum); nothing else reaches DuckDB, which would try to load a
# scanner extension for some (SQLite) and would block on others (a named pipe).
_KNOWN_FORMATS = [
    (0, b"SQLite format 3\0", "a SQLite database"),
    (0, b"PAR1", "a Parquet file"),
    (0, b"ARROW1", "an Arrow file"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"\x1f\x8b", "a gzip file"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (4, b"ftyp", "an MP4 video"),
    (0, b"RIFF", "a RIFF file (WebP, WAV or AVI)"),
]
_SPECIAL_FILES = [(stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket")]


def _check_log_path(path: Path, *, create: bool) -> None:
    """Refuse a path that cannot hold a log, reading at most its first bytes: nothing is created or locked yet."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not create:
            raise LogMissing(f"no Clip Explorer log at {path}") from None
        _check_can_create(path)
        return
    except NotADirectoryError:
        raise LogError(f"{path}: {_first_file_above(path)} is a file, not a folder") from None
    except OSError as exc:
        raise LogUnavailable(f"{path} cannot be reached ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise LogError(f"{path} is a folder; give the path of a .duckdb file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(mode)), "a special file")
        raise LogUnavailable(f"{path} is {kind}, not a regular file; a log is a .duckdb file")
    head = _read_head(path)
    if head[8:12] != b"DUCK":
        kind = "an empty file" if not head else next((name for at, magic, name in _KNOWN_FORMATS if head[at:at + len(magic)] == magic), None)
        if kind:
            raise LogError(f"{path} is {kind}, not a Clip Explorer log; choose another --db")
        raise LogError(f"{path} cannot be opened as a Clip Explorer log: it is not a DuckDB database; choose another --db")
    # Written in place, with DuckDB's write-ahead log and our lock file beside it: the file and its folder must be writable.
    if _read_only_mount(path):
        raise LogUnavailable(f"{path} is on a read-only file system; a log must be writable (copy it to a writable folder)")
    if not os.access(path, os.W_OK):
        raise LogUnavailable(f"{path} is read-only; a log must be writable (check its permissions)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LogUnavailable(f"{path} cannot be written: its folder {path.parent} is read-only (the log keeps {path.name}.wal beside it)")


def _check_can_create(path: Path) -> None:
    folder = path.parent
    while not folder.exists():  # the folders still to be made: the first one that exists must take them
        folder = folder.parent
    if not folder.is_dir():
        raise LogError(f"{path}: {folder} is a file, not a folder")
    kernel = _kernel_file_system(folder)
    if kernel:
        where = "a kernel file system" if kernel == folder else f"in {kernel}, a kernel file system"
        raise LogUnavailable(f"cannot create a log at {path}: {folder} is {where}, not storage")
    if _read_only_mount(folder):
        raise LogUnavailable(f"cannot create a log at {path}: {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LogUnavailable(f"cannot create a log at {path}: {folder} is not writable (permission denied)")


def _read_head(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # some kernel files (/proc/kmsg) block a plain read
    except OSError as exc:
        raise LogUnavailable(f"{path} cannot be read ({exc.strerror})") from None
    try:
        return os.read(fd, 16)
    except OSError as exc:
        raise LogUnavailable(f"{path} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _kernel_file_system(folder: Path) -> Path | None:
    """``/proc`` or ``/sys`` when ``folder`` lies on one (same device): they hold no files, for root or anyone else."""
    try:
        device = folder.stat().st_dev
        return next((Path(root) for root in ("/proc", "/sys") if os.path.isdir(root) and os.stat(root).st_dev == device), None)
    except OSError:
        return None


def _first_file_above(path: Path) -> Path:
    return next((p for p in reversed(path.parents) if p.is_file()), path.parent)


def _team_storage(storage: str | os.PathLike | None) -> Path:
    """The team log's shared folder: given, else ``EXPLORER_STORAGE``; it must exist (a missing mount must not split the team)."""
    storage = storage or os.environ.get("EXPLORER_STORAGE")
    if not storage:
        raise LogError("storage: a team log needs the shared folder that holds its clips and data files "
                       "(--storage, EXPLORER_STORAGE, or explorer.open(url, storage=...))")
    folder = Path(storage).expanduser().resolve()
    if not folder.is_dir():
        raise LogUnavailable(f"storage: {folder} is not a folder; create it, or mount the team's shared folder there")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LogUnavailable(f"storage: {folder} is not writable")
    return folder


def _check_storage_marker(log: "Log", new: bool) -> None:
    """The storage folder holds ``.clip-explorer-team-log`` naming the log's id: a wrong folder is refused, not filled."""
    from explorer.log.lake import MARKER

    (identity,) = log.query("SELECT id FROM log_identity ORDER BY created_at LIMIT 1").id.tolist() or [None]
    marker = log.storage / MARKER
    try:
        found = marker.read_text().split()[0] if marker.exists() else None
    except (OSError, IndexError):
        found = None
    if found == identity:
        return
    if found is None and (new or not any(log.storage.iterdir())):
        marker.write_text(f"{identity}\nClip Explorer team log {log.address.url}\n")
        return
    what = f"belongs to another team log (id {found})" if found else "is not empty and is not this team log's folder"
    raise LogError(f"storage: {log.storage} {what}; give the folder this log was created with (id {identity})")


class Log:
    """One log file and its media folder.

    >>> log = Log("/tmp/doc-log.duckdb")
    >>> log.path.name
    'doc-log.duckdb'
    """

    def __init__(self, target: str | os.PathLike, *, storage: str | os.PathLike | None = None, create: bool = True,
                 linger: float = 0.5, timeout: float = 60.0, shared: bool = False):
        if is_team_address(target):
            # A team log: DuckLake, its catalog in PostgreSQL, its files (and the clips) in a folder every machine mounts.
            if shared:
                raise LogError("shared: only a file log is shared through a Unix group; a team log is shared by its "
                               "PostgreSQL database and storage folder already")
            self.address: TeamAddress | None = TeamAddress.parse(str(target))
            self.path: Path | None = None
            self.location, self.name = self.address.url, self.address.database
            self.storage: Path | None = _team_storage(storage)
            self.media = MediaStore(self.storage / "media")
            self.connection: LogConnection | LakeConnection = LakeConnection(self.address, self.storage, timeout=timeout)
        else:
            if storage is not None:
                raise LogError("storage: only a team log (postgresql://…) takes a storage folder; a file log keeps its clips beside it")
            self.address, self.storage = None, None
            self.path = Path(target).expanduser().resolve()
            self.location, self.name = str(self.path), self.path.name
            # Checked before anything touches the disk: a typo, a pipe or another program's file must leave nothing behind.
            _check_log_path(self.path, create=create)
            # Shared with a Unix group: a new log on request, an existing one when its file is group-writable (connection.py).
            if shared and self.path.exists() and not self.path.stat().st_mode & stat.S_IWGRP:
                raise LogError(f"{self.path} exists and is not shared with a group; share it by hand (README: "
                               "\"Sharing a log with your group\"), or open it without shared=True")
            self.connection = LogConnection(self.path, linger=linger, timeout=timeout, shared=shared)
            self.media = MediaStore(media_folder_for(self.path), group_shared=self.connection.shared)
        self._known_runs: set[str] = set()  # full ids of runs this process has seen in the log
        self._open(create)
        self._reaped_at = 0.0
        self.recover()

    def recover(self, *, every: float = 0.0) -> list[str]:
        """Mark runs whose process is gone as interrupted, and drop this machine's dead temporary files (at most every ``every`` s)."""
        if time.monotonic() - self._reaped_at < every:
            return []
        self._reaped_at = time.monotonic()
        clean_temp_files(self)
        return reap(self)

    @property
    def is_team(self) -> bool:
        """Whether this is a team log (PostgreSQL + shared folder) rather than a file."""
        return self.address is not None

    def _open(self, create: bool) -> None:
        if self.is_team:
            self._open_team(create)
            return
        # A rejected open removes the lock file (and a database) it created: see LogConnection.opening.
        try:
            with self.connection.opening() as conn:
                self._check_schema(conn)
                migrate(conn)
        except duckdb.Error as exc:  # disk faults arrive as LogUnavailable; whatever else DuckDB says means it cannot be read
            raise LogError(f"{self.path} cannot be opened as a Clip Explorer log: it is not a DuckDB database or is damaged ({_first_line(exc)})") from None

    def _open_team(self, create: bool) -> None:
        # Several processes may open a new team log at once: a migration that loses the race is retried, and then skipped.
        def check_and_migrate(conn: duckdb.DuckDBPyConnection) -> bool:
            new = self._check_schema(conn)
            if new and not create:
                raise LogMissing(f"no Clip Explorer log in {self.location} (its catalog database holds no tables)")
            migrate(conn, lake=True)
            return new

        new = self.connection.transaction(check_and_migrate, begin=False)
        _check_storage_marker(self, new)

    def _check_schema(self, conn: duckdb.DuckDBPyConnection) -> bool:
        """Refuse another application's DuckDB database, and a log written by a newer Clip Explorer; True for a new log."""
        tables = [t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY table_name").fetchall()]
        if not tables:
            return True  # a new log
        columns = {c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = 'main' "
            "AND table_name = 'schema_migrations'").fetchall()}
        done = applied(conn) if {"name", "applied_at"} <= columns else []
        # Every log records our first migration with its schema; another application's schema_migrations holds none of ours.
        if MIGRATIONS[0][0] not in done:
            raise LogError(f"{self.location} is a DuckDB database of another application, not a Clip Explorer log "
                           f"(it holds tables {', '.join(tables[:5])}); choose another --db")
        unknown = sorted(set(done) - {name for name, _ in MIGRATIONS})
        if unknown:
            raise LogError(f"{self.location} was written by a newer Clip Explorer (schema {unknown[-1]}); upgrade clip-explorer to open it")
        return False

    def close(self) -> None:
        self.connection.close()

    # -- runs --------------------------------------------------------------

    def start_run(self, request: Request, *, author: str, run_id: str | None = None, sweep_id: str | None = None, sweep_cell: dict | None = None,
                  live: bool = False) -> str:
        """Log a run as running; ``live``: a live mode take, hidden from listings and review until :meth:`keep`."""
        check(author=author)
        if not isinstance(live, bool):
            raise RequestError([f"live: must be True or False (got {shown(live)})"])
        run_id = run_id or new_id()
        r = request
        now = utcnow()
        self.connection.transaction(lambda conn: conn.execute(
                """INSERT INTO runs (id, created_at, author, status, backend, model, prompt, negative_prompt, seed, frames, fps,
                                     width, height, steps, guidance, parent_id, request, sweep_id, sweep_cell, host, pid, heartbeat_at, live)
                   VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [run_id, now, author, r.backend, r.model, r.prompt, r.negative_prompt, r.seed, r.frames, r.fps,
                 r.width, r.height, r.steps, r.guidance, r.parent, json.dumps(r.to_dict()), sweep_id,
                 json.dumps(sweep_cell) if sweep_cell is not None else None, this_host(), os.getpid(), now, live],
            ))
        self._known_runs.add(run_id)
        return run_id

    def finish_run(self, run_id: str, status: str, *, clip: StoredClip | None = None, error: str | None = None, hint: str | None = None,
                   duration_s: float | None = None, timings: dict | None = None, device: str | None = None,
                   versions: dict | None = None, backend_info: dict | None = None, metrics: dict[str, float] | None = None) -> None:
        """Record a run's outcome (and its clip's metrics, in the same commit)."""
        if status not in RUN_STATUSES[1:4]:
            raise LogError(f"status: must be one of {', '.join(RUN_STATUSES[1:4])} (got {status!r})")
        def write(conn: duckdb.DuckDBPyConnection) -> None:
            if clip is not None:
                row = clip.to_row(self.media.root)
                # Two runs can make the same clip: its row is written once (no ON CONFLICT: a team log has no keys).
                conn.execute(
                    """INSERT INTO media (sha256, path, poster, thumb, bytes, frames, width, height, fps, created_at)
                       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM media WHERE sha256 = ?)""",
                    [*row.values(), utcnow(), clip.sha256],
                )
            conn.execute(
                """UPDATE runs SET status = ?, finished_at = ?, error = ?, hint = ?, duration_s = ?, timings = ?, device = ?,
                                   versions = ?, backend_info = ?, media_sha256 = ?
                   WHERE id = ?""",
                [status, utcnow(), error, hint, duration_s, _json(timings), device, _json(versions), _json(backend_info),
                 clip.sha256 if clip else None, run_id],
            )
            if metrics:
                from explorer.metrics import insert

                insert(conn, run_id, metrics)

        self.connection.transaction(write)

    def keep(self, run_id: str) -> bool:
        """Keep a live take: from now on it is listed and reviewed like any run. False if it was not a live take or was kept already.

        The one UPDATE of a finished run: the runs index finds it by ``kept_at`` (explorer/log/runs_index.py).
        """
        with self.connection.session() as conn:
            run_id = self._resolve(conn, run_id)
        def write(conn: duckdb.DuckDBPyConnection) -> bool:
            # RETURNING is not on DuckLake: look, then write, in one transaction
            hidden = conn.execute("SELECT count(*) FROM runs WHERE id = ? AND live AND kept_at IS NULL", [run_id]).fetchone()[0]
            if hidden:
                conn.execute("UPDATE runs SET kept_at = ? WHERE id = ? AND live AND kept_at IS NULL", [utcnow(), run_id])
            return bool(hidden)

        return self.connection.transaction(write)

    def add_sweep(self, base: Request, axes: dict[str, list], *, author: str, name: str | None = None) -> str:
        check(author=author, name=name)
        sweep_id = new_id()
        self.connection.transaction(lambda conn: conn.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?)",
                                    [sweep_id, utcnow(), author, name, json.dumps(base.to_dict()), json.dumps(axes)]))
        return sweep_id

    # -- reviewer rows (append-only) ----------------------------------------

    def rate(self, run_id: str, score: int, *, author: str, tags: Iterable[str] = (), note: str | None = None) -> str:
        """Append a rating. Values outside :mod:`explorer.limits` raise :class:`RequestError` before anything is written."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise LogError(f"score: must be a whole number from 1 to 5 (got {shown(score)})")
        check(author=author, note=note)
        tags = _clean_tags(tags)
        with self.connection.session() as conn:
            run = self._resolve(conn, run_id)
        return self._append("ratings", run=run, author=author, score=score, tags=tags, note=note or None)

    def vote(self, winner: str, loser: str, *, author: str, tie: bool = False) -> str:
        check(author=author)
        if not isinstance(tie, bool):  # "yes" or 0.5 is not a tie; strict, like the REST API
            raise RequestError([f"tie: must be True or False (got {shown(tie)})"])
        with self.connection.session() as conn:
            won, lost = self._resolve(conn, winner), self._resolve(conn, loser)
        if won == lost:
            raise LogError(f"a vote needs two different runs (got {won} twice)")
        return self._append("votes", winner=won, loser=lost, author=author, tie=tie)

    def annotate(self, run_id: str, text: str, *, author: str, frame: int = 0, end_frame: int | None = None,
                 region: dict[str, float] | None = None) -> str:
        check(author=author)
        check_text("text", text)
        if not text.strip():
            raise LogError("text: an annotation needs some text")
        if region is not None:
            _check_region(region)
        with self.connection.session() as conn:
            run = self._resolve(conn, run_id)
            frames, fps = conn.execute("SELECT frames, fps FROM runs WHERE id = ?", [run]).fetchone()
        for name, value in (("frame", frame), ("end_frame", end_frame)):
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < frames):
                raise LogError(f"{name}: must be a frame number from 0 to {frames - 1} (got {shown(value)})")
        if end_frame is not None and end_frame < frame:
            raise LogError(f"end_frame: must not come before frame {frame} (got {end_frame})")
        return self._append("annotations", run=run, author=author, frame=frame, end_frame=end_frame, time_s=frame / fps,
                            end_time_s=None if end_frame is None else end_frame / fps, region=region, text=text.strip())

    def _append(self, table: str, **fields: Any) -> str:
        """Append one reviewer row, checked and with its runs found already (runs are never deleted: it stays true).

        On a team log another process may commit it (explorer/log/group_commit.py): the row travels as JSON, its time
        taken here, when it was asked for, and everything that reads the log was done here, off the shared commit.
        """
        row_id = new_id()
        self.connection.append({"table": table, "id": row_id, "created_at": utcnow().isoformat(), **fields}, _append_row)
        return row_id

    def bulk_insert(self, table: str, rows: pd.DataFrame) -> int:
        """Append a DataFrame to a log table by column name (an import: ~10⁶ rows/s, unlike row-by-row inserts)."""
        if table not in {"runs", "media", "ratings", "votes", "annotations", "sweeps"}:
            raise LogError(f"table: not a log table: {table!r}")
        def write(conn: duckdb.DuckDBPyConnection) -> None:
            conn.register("_explorer_import", rows)
            try:
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _explorer_import")
            finally:
                conn.unregister("_explorer_import")

        self.connection.transaction(write)
        return len(rows)

    # -- reading -------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """The full id of a run given its id or a unique prefix (like git)."""
        with self.connection.session() as conn:
            return self._resolve(conn, run_id)

    def _resolve(self, conn: duckdb.DuckDBPyConnection, run_id: str) -> str:
        if not isinstance(run_id, str) or not run_id:
            raise LogError(f"run id: expected a run id string (got {shown(run_id)})")
        check(run_id=run_id)
        if run_id in self._known_runs:
            return run_id  # runs are never deleted: a full id seen once needs no lookup (~10 catalog round trips on a team log)
        matches = [i for (i,) in conn.execute("SELECT id FROM runs WHERE starts_with(id, ?) LIMIT 2", [run_id]).fetchall()]
        if not matches:
            raise LogError(f"run id: no run {run_id!r} in {self.name}")
        if len(matches) > 1:
            raise LogError(f"run id: {run_id!r} matches several runs; give more characters")
        self._known_runs.add(matches[0])
        return matches[0]

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL against the log and return a DataFrame (the connection is held only for the query)."""
        with self.connection.session() as conn:
            return conn.execute(sql, params or []).df()

    def records(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        """:meth:`query` as a list of dicts of Python values (no pandas: what the CLI prints)."""
        with self.connection.session() as conn:
            return records(conn.execute(sql, params or []))

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as a dict, with its request parsed and its media paths resolved."""
        with self.connection.session() as conn:
            run_id = self._resolve(conn, run_id)
            row = records(conn.execute("SELECT * FROM runs WHERE id = ?", [run_id]))[0]
        for key in ("request", "timings", "versions", "backend_info", "sweep_cell"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
        row["media"] = str(self.media.path(row["media_sha256"])) if row.get("media_sha256") else None
        return row


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _append_row(conn: duckdb.DuckDBPyConnection, entry: dict) -> list:
    """The row of one :meth:`Log._append` entry, in its table's column order (no reads: the asker checked it)."""
    at = datetime.fromisoformat(entry["created_at"])
    table = entry["table"]
    if table == "ratings":
        return [entry["id"], entry["run"], entry["author"], at, entry["score"], entry["tags"], entry["note"]]
    if table == "votes":
        return [entry["id"], entry["winner"], entry["loser"], entry["tie"], entry["author"], at]
    if table == "annotations":
        return [entry["id"], entry["run"], entry["author"], at, entry["frame"], entry["end_frame"], entry["time_s"], entry["end_time_s"],
                _json(entry["region"]), entry["text"]]
    raise LogError(f"table: cannot append to {table!r}")


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    tags = list(tags)
    check_tags([t for t in tags if isinstance(t, str)])  # count, length, valid text: before anything else
    cleaned = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise LogError(f"tags: each tag must be non-empty text (got {shown(tag)})")
        tag = tag.strip().lower()
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def _check_region(region: dict[str, float]) -> None:
    keys = {"x", "y", "w", "h"}
    if not isinstance(region, dict) or set(region) != keys:
        raise LogError(f"region: must be a dict with keys x, y, w, h as fractions of the frame (got {shown(region)})")
    for key, value in region.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise LogError(f"region.{key}: must be between 0 and 1 (got {shown(value)})")
    if region["x"] + region["w"] > 1.0001 or region["y"] + region["h"] > 1.0001:
        raise LogError(f"region: the box reaches outside the frame (got {region!r})")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
