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
"""

from __future__ import annotations

import atexit
import fcntl
import os
import random
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb


MAX_BACKOFF_S = 0.01  # waiters poll at most 10 ms apart: a turn costs ~20 ms, so a slower poll wastes turns
COURTESY_S = 0.015  # after yielding to a waiter, wait this long before asking for the file again


class LogBusy(TimeoutError):
    """The log stayed locked by another process for longer than the timeout."""


class LogConnection:
    """A leased DuckDB connection to one file; use :meth:`session` for every access."""

    def __init__(self, path: str | os.PathLike, *, linger: float = 0.5, timeout: float = 60.0):
        self.path = Path(path)
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
        _open_connections.add(self)

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, held for the duration of the ``with`` block (re-entrant within a thread)."""
        with self._thread_lock:
            if self._closed:
                raise RuntimeError(f"log {self.path} is closed")
            if self._conn is None:
                self._acquire()
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
                self._last_used = time.monotonic()
                if self._depth == 0:
                    if self._someone_waits():
                        self._release()
                        # Courtesy pause before our next turn, so the waiter gets the file rather than us again.
                        self._courtesy_until = time.monotonic() + COURTESY_S
                    elif self.linger <= 0:
                        self._release()
                    else:
                        self._schedule_close()

    def close(self) -> None:
        """Give the file back now; the object may not be used afterwards."""
        with self._thread_lock:
            self._release()
            self._closed = True

    def release(self) -> None:
        """Give the file back now (it is reopened on next use)."""
        with self._thread_lock:
            if self._depth == 0:
                self._release()

    # -- lease -------------------------------------------------------------

    def _acquire(self) -> None:
        pause = self._courtesy_until - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        deadline = time.monotonic() + self.timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        wait_fd = None
        delay = 0.001
        try:
            while True:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if wait_fd is None:
                        wait_fd = os.open(f"{self.path}.wait", os.O_RDWR | os.O_CREAT, 0o666)
                        fcntl.flock(wait_fd, fcntl.LOCK_SH)
                    delay = self._backoff(delay, deadline, "another Clip Explorer process")
            # The lock file keeps our own processes in turn; DuckDB's lock can still be held by a
            # foreign process (e.g. a `duckdb` shell), so its error is retried too.
            while True:
                try:
                    self._conn = duckdb.connect(str(self.path))
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower():
                        raise
                    delay = self._backoff(delay, deadline, "a process outside Clip Explorer")
            # no progress bars: they would land in server logs and notebook stderr
            self._conn.execute("SET enable_progress_bar = false")
            self._lock_fd, lock_fd = lock_fd, None
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
            if wait_fd is not None:
                os.close(wait_fd)

    def _backoff(self, delay: float, deadline: float, holder: str) -> float:
        if time.monotonic() + delay > deadline:
            raise LogBusy(f"log {self.path} stayed locked by {holder} for {self.timeout:.0f} s; try again, or close the process holding it")
        time.sleep(delay * (0.5 + random.random()))
        return min(delay * 2, MAX_BACKOFF_S)

    def _someone_waits(self) -> bool:
        try:
            fd = os.open(f"{self.path}.wait", os.O_RDWR)
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


_open_connections: "weakref.WeakSet[LogConnection]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for connection in list(_open_connections):
        try:
            connection.release()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
