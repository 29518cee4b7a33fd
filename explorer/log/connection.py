"""Sharing one DuckDB file between kernels, servers and CLIs: a lease on the connection.

DuckDB lets one process hold a file at a time, and opening plus closing a
connection costs ~20 ms (the checkpoint on close). So each process *leases*
the file: it opens a connection when it needs one, keeps it while it works
(single writes then take ~1 ms), and gives it back

- after ``linger`` seconds without use, or
- at the end of the current session when another process is waiting.

Processes coordinate through two lock files beside the database (``flock``,
released by the kernel even if a process is killed):

- ``<db>.lock``: held exclusively by whoever has the connection open;
- ``<db>.wait``: held *shared* by every process waiting for it, so the holder
  can tell, with one non-blocking call, that someone is queueing.

A busy file is retried with backoff up to ``timeout`` seconds, then
:class:`LogBusy` says who holds it. Why not one long-lived owner process?
Two Jupyter servers on one log (two reviewers) must both write, and a CLI
must work with no server running; a lease gives both with one code path.

A log shared by a Unix group
----------------------------

Two users of one machine share a log through a group, the way
``git init --shared=group`` shares a repository: the log is *group-shared*
when the log file itself is group-writable, and the file's mode is the only
record of it (``Log(path, shared=True)`` creates a new log so; an existing
log is shared by hand with ``chgrp``/``chmod``, and opening it needs no flag).
A process that opens a shared log makes every file it creates for it
readable and writable by the group, whatever its umask, and gives it the
group of the folder it is made in (what a setgid folder does): the lock and
wait files (``fchmod`` right after creating them), the database, and
DuckDB's write-ahead log. "Other" permissions are never widened.

DuckDB creates ``<db>.wal`` itself, with the process's umask, at the first
write after each checkpoint, and deletes it at the checkpoint (on close, and
mid-session past its size threshold). Two ways to make it group-writable:

- clear the group bits from the process umask while a shared log is leased:
  the umask is process-wide, so a Jupyter server or kernel would make every
  unrelated file it writes meanwhile group-writable too (and another log's
  files, for a process with two logs), and it cannot set the file's group;
- chmod (and chgrp) the WAL at the end of every session, still holding the
  lock, when this process owns it: it touches the log's files only, costs
  one ``stat`` a session, and no other user can reach the WAL before it is
  done, since they need the lock first.

We do the second. It leaves one window: a process killed between a write and
the end of that session leaves a WAL only its user may write, and DuckDB
then refuses every later write by the others ("Cannot open file …wal:
Permission denied", measured with DuckDB 1.5). So whoever opens the log
next, holding the lock, *adopts* such a WAL: copies it to a file of its own,
group-writable, and renames that over it (the folder of a shared log is
group-writable; DuckDB replays the same bytes).

The folder of a shared log must be group-writable and should not be sticky
(``/tmp`` itself is): in a sticky folder only a file's owner may delete or
rename it, so DuckDB could not remove another user's WAL at a checkpoint.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
import random
import shutil
import stat
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import duckdb


# A log path must never make DuckDB fetch or load an extension (a SQLite file would ask for sqlite_scanner,
# offline that fails as if the file were damaged); the log needs none, JSON is built in.
CONNECT_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
MAX_BACKOFF_S = 0.01  # waiters poll at most 10 ms apart: a turn costs ~20 ms, so a slower poll wastes turns
CHECKPOINT_THRESHOLD = "2MB"  # DuckDB's default is 16 MB: up to ~3 s of replay after a crash
COURTESY_S = 0.015  # after yielding to a waiter, wait this long before asking for the file again


T = TypeVar("T")


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[list]) -> None:
    """Insert ``rows`` (lists of column values, in the table's order) with one statement: ~5 ms for 15 on a team log, not ~20."""
    if rows:
        marks = "(" + ", ".join("?" * len(rows[0])) + ")"
        conn.execute(f"INSERT INTO {table} VALUES " + ", ".join([marks] * len(rows)), [value for row in rows for value in row])


class LogBusy(TimeoutError):
    """The log stayed locked by another process for longer than the timeout."""


class LogConnection:
    """A leased DuckDB connection to one file; use :meth:`session` for every access (:meth:`opening` for the first)."""

    def __init__(self, path: str | os.PathLike, *, linger: float = 0.5, timeout: float = 60.0, shared: bool = False):
        self.path = Path(path)
        self.shared = shared or group_shared(self.path)  # a new log shared on request; an existing one when its file says so
        self.linger = linger
        self.timeout = timeout
        self._thread_lock = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock_fd: int | None = None
        self._depth = 0
        self._last_used = 0.0
        self._closer: threading.Thread | None = None
        self._closed = False
        self._courtesy_until = 0.0
        self._broken = False
        self._opening = False
        self._made: list[Path] = []  # what the opening created: folders, the lock file, the database and its WAL
        _open_connections.add(self)

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, held for the duration of the ``with`` block (re-entrant within a thread).

        A write the disk refuses (full, read-only) raises :class:`~explorer.log.LogUnavailable`; its
        transaction is rolled back whole, and the next session reconnects.
        """
        with self._thread_lock:
            if self._closed:
                raise RuntimeError(f"log {self.path} is closed")
            if self._conn is None:
                self._acquire()
            self._depth += 1
            try:
                yield self._conn
            except duckdb.Error as exc:
                fault = write_fault(exc, self.path)
                if fault is None:
                    raise
                self._broken = True  # DuckDB may have invalidated the connection after a failed commit
                raise _unavailable(f"log {self.path}: {fault}") from None
            finally:
                self._depth -= 1
                self._last_used = time.monotonic()
                if self._depth == 0 and not self._opening:
                    self._settle()

    @contextmanager
    def opening(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The first session, in which the file is checked and migrated.

        If it fails, this object closes and the files the opening created go again (the lock file, and
        the database and its WAL where there was no database), so a rejected path leaves nothing beside
        it. They are removed while the lock is still ours, so never what another process made or holds.
        """
        with self._thread_lock:
            self._opening = True
            try:
                with self.session() as conn:
                    yield conn
            except BaseException:
                self._abandon()
                raise
            finally:
                self._opening = False
                self._made = []
            self._settle()

    def transaction(self, work: "Callable[[duckdb.DuckDBPyConnection], T]", *, begin: bool = True) -> "T":
        """Run ``work(conn)`` in one transaction (the lease already keeps writers apart: no conflicts to retry)."""
        with self.session() as conn:
            if not begin:
                return work(conn)
            conn.execute("BEGIN TRANSACTION")
            try:
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # a failed COMMIT has ended the transaction already
                raise

    def append(self, entry: dict, row: "Callable[[duckdb.DuckDBPyConnection, dict], list]") -> None:
        """Append ``entry``'s row (``row(conn, entry)``) in a transaction of its own (the lease already takes writers one
        at a time; a team log groups them: :mod:`explorer.log.group_commit`)."""
        self.transaction(lambda conn: insert_rows(conn, entry["table"], [row(conn, entry)]))

    def close(self) -> None:
        """Give the file back now; the object may not be used afterwards."""
        with self._thread_lock:
            self._release()
            self._closed = True

    def prepare_writes(self) -> None:
        """Nothing to open ahead of a file log's first write (a team log opens its turn's connection)."""

    def release(self) -> None:
        """Give the file back now (it is reopened on next use)."""
        with self._thread_lock:
            if self._depth == 0:
                self._release()

    # -- lease -------------------------------------------------------------

    def _settle(self) -> None:
        """At the end of the outermost session: keep the file for ``linger`` seconds, or give it back now."""
        if self.shared and self._conn is not None:
            self._share_wal()
        if self._broken:
            self._broken = False
            self._release()
        elif self._someone_waits():
            self._release()
            # Courtesy pause before our next turn, so the waiter gets the file rather than us again.
            self._courtesy_until = time.monotonic() + COURTESY_S
        elif self.linger <= 0:
            self._release()
        else:
            self._schedule_close()

    def _acquire(self) -> None:
        pause = self._courtesy_until - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        deadline = time.monotonic() + self.timeout
        self.shared = self.shared or group_shared(self.path)  # shared by hand while this process had it open
        lock_fd = self._open_lock_file()
        wait_fd = None
        delay = 0.001
        try:
            while True:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if wait_fd is None:
                        try:
                            wait_fd = self._open_or_create(Path(f"{self.path}.wait"))
                        except OSError as exc:
                            raise _unavailable(f"log {self.path}: cannot create {self.path.name}.wait: {os_fault(exc, self.path.parent)}") from None
                        fcntl.flock(wait_fd, fcntl.LOCK_SH)
                    delay = self._backoff(delay, deadline, "another Clip Explorer process")
            self._lock_fd, lock_fd = lock_fd, None  # ours from here on, also if connecting fails
            created = not self.path.exists()
            if self._opening and created:
                self._made += [self.path, Path(f"{self.path}.wal")]
            if self.shared and not created:
                self._adopt_wal()
            # The lock file keeps our own processes in turn; DuckDB's lock can still be held by a
            # foreign process (e.g. a `duckdb` shell), so its error is retried too.
            while True:
                try:
                    self._conn = duckdb.connect(str(self.path), config=CONNECT_CONFIG)
                    break
                except duckdb.IOException as exc:
                    if "could not set lock" not in str(exc).lower():  # not "lock" alone: "block" is in disk errors
                        fault = write_fault(exc, self.path)
                        if fault is not None:
                            raise _unavailable(f"log {self.path}: {fault}") from None
                        raise
                    delay = self._backoff(delay, deadline, "a process outside Clip Explorer")
            if self.shared and created:
                share_with_group(self.path, self.path.parent.stat().st_gid)
            # no progress bars: they would land in server logs and notebook stderr
            self._conn.execute("SET enable_progress_bar = false")
            # A crash costs a replay of the write-ahead log on the next open (~0.2 s per MB here): keep it short.
            self._conn.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        except BaseException:
            if not self._opening:  # an opening keeps the lock until it has cleaned up (see opening())
                self._release()
            raise
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
            if wait_fd is not None:
                os.close(wait_fd)

    def _open_lock_file(self) -> int:
        """Open ``<db>.lock`` (and its folder), noting in an opening whether this call created them."""
        lock = Path(f"{self.path}.lock")
        try:
            if self._opening:
                self._made += [folder for folder in self.path.parents if not folder.exists()]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            made: list[Path] = []
            fd = self._open_or_create(lock, made)
        except OSError as exc:
            fault = os_fault(exc, self.path.parent)
            if self.path.exists():
                raise _unavailable(f"log {self.path}: cannot create its lock file {lock.name}: {fault}") from None
            raise _unavailable(f"cannot create a log at {self.path}: {fault}") from None
        if self._opening:
            self._made += made
        return fd

    def _open_or_create(self, path: Path, made: list[Path] | None = None) -> int:
        """A descriptor on a lock or wait file (only its ``flock`` matters, never its bytes), created if missing.

        An existing file is opened without ``O_CREAT``: where ``fs.protected_regular`` is set, O_CREAT on another
        user's file in a sticky folder is refused even when the file is writable. One another user made and did not
        share (before the log was shared) is opened read-only: ``flock`` works on any descriptor. A file this call
        creates in a shared log is made group-readable and -writable at once, whatever the umask.
        """
        while True:
            try:
                fd = os.open(path, os.O_RDWR)
            except PermissionError:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                except FileExistsError:
                    continue  # another process made it meanwhile: open theirs
                if made is not None:
                    made.append(path)
            if self.shared:
                try:
                    share_with_group(fd, self.path.parent.stat().st_gid)
                except BaseException:
                    os.close(fd)
                    raise
            return fd

    def _adopt_wal(self) -> None:
        """Before connecting to a shared log: make a WAL this user cannot write (left by another user's process that was
        killed mid-session) a file of our own, group-writable, with the same bytes; DuckDB refuses every write otherwise."""
        wal = Path(f"{self.path}.wal")
        if not wal.exists() or os.access(wal, os.W_OK):
            return
        tmp = self.path.with_name(f".{self.path.name}.wal.{os.getpid()}.tmp")
        try:
            with open(wal, "rb") as source, open(tmp, "wb") as copy:
                shutil.copyfileobj(source, copy)
                share_with_group(copy.fileno(), self.path.parent.stat().st_gid)
                copy.flush()
                os.fsync(copy.fileno())
            os.replace(tmp, wal)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            owner = _owner(wal)
            raise _unavailable(f"log {self.path}: its write-ahead log {wal.name}, left by {owner}'s process, cannot be taken over "
                               f"({exc.strerror}); {owner} opening the log once (e.g. `explorer runs`) finishes it") from None

    def _share_wal(self) -> None:
        """At the end of a session on a shared log: DuckDB (re)creates the WAL with our umask; give it to the group."""
        wal = f"{self.path}.wal"
        try:
            if os.stat(wal).st_uid == os.geteuid():
                share_with_group(wal, self.path.parent.stat().st_gid)
        except FileNotFoundError:
            pass  # no write since the last checkpoint, or checkpointed meanwhile
        except OSError:
            pass  # the write is done and must not fail for this; whoever opens the log next takes the WAL over

    def _abandon(self) -> None:
        """After a failed opening: close for good, removing what the opening created if the lock is still ours.

        The lock file goes last. A process already queueing on it then locks the removed file while a
        newcomer locks a new one; DuckDB's own lock on the database still keeps the two apart.
        """
        self._closed = True
        if self._conn is not None:
            try:
                self._conn.close()
            except duckdb.Error:
                pass  # nothing of ours in it to keep
            self._conn = None
        if self._lock_fd is None:
            return  # never held it (busy, or no lock file could be made): nothing may be removed
        try:
            files = [p for p in self._made if not p.is_dir()]
            for path in sorted(files, key=lambda p: p.name.endswith(".lock")):  # the lock file last
                path.unlink(missing_ok=True)
            for folder in sorted((p for p in self._made if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                try:
                    folder.rmdir()  # only if empty: another process may have put something there meanwhile
                except OSError:
                    pass
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _backoff(self, delay: float, deadline: float, holder: str) -> float:
        if time.monotonic() + delay > deadline:
            raise LogBusy(f"log {self.path} stayed locked by {holder} for {self.timeout:.0f} s; try again, or close the process holding it")
        time.sleep(delay * (0.5 + random.random()))
        return min(delay * 2, MAX_BACKOFF_S)

    def _someone_waits(self) -> bool:
        try:
            fd = os.open(f"{self.path}.wait", os.O_RDONLY)  # flock needs no write access; another user may own it
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def _release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _schedule_close(self) -> None:
        if self._closer is not None and self._closer.is_alive():
            return
        self._closer = threading.Thread(target=self._close_when_idle, name=f"explorer-log-linger", daemon=True)
        self._closer.start()

    def _close_when_idle(self) -> None:
        while True:
            with self._thread_lock:
                if self._conn is None:
                    return
                idle = time.monotonic() - self._last_used
                if self._depth == 0 and (idle >= self.linger or self._someone_waits()):
                    self._release()
                    return
                wait = self.linger - idle if self._depth == 0 else self.linger
            time.sleep(max(min(wait, 0.05), 0.005))


# -- faults of the disk, not of the input -------------------------------------------------------

# What DuckDB says (it puts the OS's strerror in its message) when a write fails for want of room or rights,
# and what the user can do about it.
_WRITE_FAULTS = [
    ("No space left on device", "the disk is full", "free some space and try again"),
    ("Disk quota exceeded", "the disk quota is used up", "free some space and try again"),
    ("File too large", "the file size limit is reached", "raise the limit (ulimit -f) and try again"),
    ("Read-only file system", "the file system is read-only", "a log must be writable"),
    ("Operation not permitted", "writing is not permitted (read-only or immutable)", "a log must be writable"),
    ("Permission denied", "writing is not permitted (permission denied)", "a log must be writable"),
]


def write_fault(exc: BaseException, path: Path) -> str | None:
    """What stopped a write to the log at ``path`` ("the disk is full (…); free …"), or None for any other error.

    Only errors naming the log's own files count (a user's query may fail on another disk). The chain is
    searched too: a failed COMMIT is often followed by a failed ROLLBACK, which hides it.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if str(path) in text:
            for needle, fault, advice in _WRITE_FAULTS:
                if needle in text:
                    return f"{fault} ({text.strip().splitlines()[0]}); nothing was written, {advice}"
        exc = exc.__cause__ or exc.__context__
    return None


_OS_FAULTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file size limit is reached",
    errno.EROFS: "{folder} is on a read-only file system",
    errno.EACCES: "{folder} is not writable (permission denied)",
    errno.EPERM: "{folder} is not writable (not permitted)",
    errno.ENOENT: "{folder} does not accept new files",  # e.g. /proc
    errno.ENOTDIR: "{folder} is not a folder",
}


def os_fault(exc: OSError, folder: Path) -> str:
    """One phrase for an OSError met while creating a file in ``folder``."""
    return _OS_FAULTS.get(exc.errno, "{folder}: " + (exc.strerror or str(exc))).format(folder=folder)


# -- a log shared by a Unix group ---------------------------------------------------------------

GROUP_RW = stat.S_IRGRP | stat.S_IWGRP


def group_shared(path: str | os.PathLike) -> bool:
    """Whether the log file at ``path`` is shared with its group: the file itself is group-writable (see the module docstring)."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IWGRP)
    except OSError:
        return False


def share_with_group(target: int | str | os.PathLike, group: int) -> None:
    """Make a file or folder this process owns readable and writable by ``group`` (folders also enterable and setgid, so what
    is made in them takes the group), whatever the umask; the bits for "other" are left as they are.

    ``target`` is a path or an open descriptor. The group is changed only where this user belongs to it (else the file keeps
    the one it was made with); a file another user owns is left alone.
    """
    info = os.stat(target)
    if info.st_uid != os.geteuid() and os.geteuid() != 0:
        return
    if info.st_gid != group:
        try:
            os.chown(target, -1, group)
        except PermissionError:
            pass  # not a member of the folder's group
    mode = stat.S_IMODE(info.st_mode) | GROUP_RW
    if stat.S_ISDIR(info.st_mode):
        mode |= stat.S_IXGRP | stat.S_ISGID
    if mode != stat.S_IMODE(info.st_mode) or info.st_gid != group:  # chown may clear setgid: set the mode after it
        os.chmod(target, mode)


def _owner(path: Path) -> str:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (KeyError, OSError):
        return "another user"


def _unavailable(message: str) -> Exception:
    from explorer.log.log import LogUnavailable  # log.py imports this module, so the class is looked up late

    return LogUnavailable(message)


_open_connections: "weakref.WeakSet[LogConnection]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for connection in list(_open_connections):
        try:
            connection.release()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


def records(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """A query's rows as dicts of Python values (NULL as None), without pandas."""
    names = [column[0] for column in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]
