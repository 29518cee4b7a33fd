"""The team log: DuckLake, with its catalog in PostgreSQL and its files in a folder every machine mounts.

A file log (:mod:`explorer.log.connection`) is one DuckDB file that one
process holds at a time: right for a person, a queue for a team. A team log
is the same tables in a DuckLake: the catalog (which rows exist, small writes
inlined) lives in a PostgreSQL database, the bulk as Parquet files under
``<storage>/lake/``, and the clips under ``<storage>/media/``. Every process
keeps its own DuckDB connection with the lake attached; PostgreSQL orders the
commits, so many writers on many machines need no lease.

Two facts shape this module:

- **Offline extensions.** DuckLake and its PostgreSQL client are DuckDB
  extensions, shipped as wheels built for our pinned DuckDB
  (``duckdb-extension-ducklake``/``-postgres``). They are loaded from the
  wheels' files; nothing is ever downloaded (autoinstall and autoload are
  off). The PostgreSQL extension's file is named ``postgres`` but its entry
  point is ``postgres_scanner``, so it is loaded through a link of that name
  kept in a per-user cache folder.
- **Commit conflicts are contention, not errors.** Two writers committing at
  once can conflict; DuckLake retries a few times itself, and
  :meth:`LakeConnection.transaction` retries the whole transaction with
  backoff and jitter until ``timeout``, then raises
  :class:`~explorer.log.connection.LogBusy` in one line.

Passwords come the libpq way (``PGPASSWORD``, ``~/.pgpass``, a service file):
a URL that carries one is refused, so no password can reach the log, its
errors or a notebook's output.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random
import tempfile
import threading
import time
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb

from explorer.log.connection import CONNECT_CONFIG, LogBusy, insert_rows

T = TypeVar("T")
SCHEMES = ("postgresql", "postgres")
CATALOG = "lake"  # the name the lake is attached under; USE makes it the default, so the log's SQL is the same for both homes
MARKER = ".clip-explorer-team-log"  # in the storage folder: which catalog this folder belongs to
FIRST_BACKOFF_S = 0.005  # our retries, after DuckLake's own: first wait, doubling up to MAX_BACKOFF_S, with jitter
MAX_BACKOFF_S = 0.2
TURN_POLL_S = 0.01  # how often a writer waiting for this machine's turn looks again, at most
# The team's turn to commit: a PostgreSQL advisory lock (advisory locks are per database, so per team log) with this key.
TEAM_TURN_KEY = int.from_bytes(hashlib.sha256(b"clip-explorer: the team's turn to commit").digest()[:8], "big", signed=True)


def is_team_address(target: object) -> bool:
    """Whether ``target`` names a team log (a ``postgresql://`` URL) rather than a file."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in SCHEMES and "://" in target


@dataclass(frozen=True)
class TeamAddress:
    """Where a team log's catalog lives, parsed from ``postgresql://USER@HOST:PORT/DB?options``."""

    user: str | None
    host: str
    port: int | None
    database: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> "TeamAddress":
        from explorer.log.log import LogError

        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise LogError(f"team log address: {exc} (expected postgresql://USER@HOST:PORT/DATABASE)") from None
        if parts.password is not None:
            raise LogError("team log address: a password does not belong in the URL (it would be logged and shown); "
                           "give it in PGPASSWORD or ~/.pgpass instead")
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not database:
            raise LogError(f"team log address: expected postgresql://USER@HOST:PORT/DATABASE (got {cls._redacted(url)!r})")
        options = tuple(parse_qsl(parts.query, keep_blank_values=True))
        if any(key.lower() == "password" for key, _ in options):
            raise LogError("team log address: a password does not belong in the URL; give it in PGPASSWORD or ~/.pgpass instead")
        return cls(unquote(parts.username) if parts.username else None, parts.hostname, port, database, options)

    @staticmethod
    def _redacted(url: str) -> str:
        head, sep, tail = url.partition("://")
        return head + sep + tail.split("@", 1)[-1] if "@" in tail else url

    @property
    def url(self) -> str:
        """The address as shown to people: no password, ever (there is none to show)."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{user}{self.host}{port}/{self.database}"

    @property
    def conninfo(self) -> str:
        """A libpq keyword string (libpq then reads PGPASSWORD or ~/.pgpass itself)."""
        pairs = [("host", self.host), ("port", str(self.port) if self.port else None), ("user", self.user), ("dbname", self.database), *self.options]
        return " ".join(f"{key}={_quoted(value)}" for key, value in pairs if value is not None)


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- the extensions, from their wheels --------------------------------------------------------------------------------

_loaded_files: dict[str, Path] = {}


def extension_files() -> dict[str, Path]:
    """Paths DuckDB can LOAD for ``ducklake`` and ``postgres_scanner`` (linked under their entry-point names)."""
    if _loaded_files:
        return _loaded_files
    from explorer.log.log import LogUnavailable

    version = duckdb.__version__
    found = {}
    for module, entry in (("duckdb_extension_ducklake", "ducklake"), ("duckdb_extension_postgres", "postgres_scanner")):
        try:
            package = __import__(module)
        except ImportError:
            raise LogUnavailable(f"a team log needs the Python package {module.replace('_', '-')}=={version} "
                                 f"(pip install 'clip-explorer'); it is not installed") from None
        folder = Path(package.__file__).parent / "extensions" / f"v{version}"
        files = sorted(folder.glob("*.duckdb_extension"))
        if not files:
            raise LogUnavailable(f"{module.replace('_', '-')} has no extension built for DuckDB {version} (in {folder}); "
                                 f"install {module.replace('_', '-')}=={version}")
        found[entry] = files[0] if files[0].stem == entry else _linked(files[0], entry, version)
    _loaded_files.update(found)
    return _loaded_files


def _linked(target: Path, entry: str, version: str) -> Path:
    """A symlink named ``<entry>.duckdb_extension`` to ``target``, made atomically (several processes may race)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for folder in (base / "clip-explorer" / f"duckdb-{version}", Path(tempfile.gettempdir()) / f"clip-explorer-{os.getuid()}" / f"duckdb-{version}"):
        link = folder / f"{entry}.duckdb_extension"
        try:
            if link.is_symlink() and Path(os.readlink(link)) == target:
                return link
            folder.mkdir(parents=True, exist_ok=True)
            temporary = folder / f".{entry}.{os.getpid()}.{random.randrange(1 << 30)}"
            temporary.symlink_to(target)
            os.replace(temporary, link)
            return link
        except OSError:
            continue  # e.g. a read-only home: try the next folder
    from explorer.log.log import LogUnavailable

    raise LogUnavailable(f"cannot make a link to the {entry} extension in {base / 'clip-explorer'} or the temporary folder")


# -- the connection ------------------------------------------------------------------------------------------------------

class LakeConnection:
    """One process's connection to a team log; the same interface as :class:`~explorer.log.connection.LogConnection`."""

    def __init__(self, address: TeamAddress, storage: Path, *, timeout: float = 60.0):
        self.address = address
        self.storage = storage
        self.timeout = timeout
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._thread_lock = threading.RLock()
        self._closed = False
        self._turn_fd: int | None | bool = None  # the turn lock's file (False: cannot be made here)
        self._turn_depth = 0
        self._team_turn = None  # the connection that holds the team's turn (a psycopg connection); False: none here
        self._group = None  # this machine's group commit (explorer.log.group_commit); False: none can be made here

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, for the duration of the ``with`` block (re-entrant within a thread)."""
        with self._thread_lock:
            if self._closed:
                raise RuntimeError(f"log {self.address.url} is closed")
            if self._conn is None:
                self._conn = self._connect()
            try:
                yield self._conn
            except duckdb.Error as exc:
                if _unreachable(exc):
                    self._drop()  # reconnect next time: the server may come back
                    raise _unavailable(f"team log {self.address.url}: the catalog cannot be reached ({_first_line(exc)})") from None
                raise

    opening = session  # nothing to clean up after a failed opening: no files are made before the catalog answers

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T], *, begin: bool = True, turn: bool = True) -> T:
        """Run ``work(conn)`` in one transaction, retried whole on commit conflicts until ``timeout``.

        With ``begin=False``, ``work`` makes its own transactions (the migrations do) and is retried whole.
        Writers on one machine take turns (see :meth:`_turn`; ``turn=False`` goes ahead without one), so commit
        conflicts come only from other machines.
        """
        deadline = time.monotonic() + self.timeout
        delay = FIRST_BACKOFF_S
        while True:
            with self._thread_lock, (self._turn(deadline) if turn else nullcontext()), self.session() as conn:
                if begin:
                    conn.execute("BEGIN TRANSACTION")
                try:
                    result = work(conn)
                    if begin:
                        conn.execute("COMMIT")
                    return result
                except duckdb.Error as exc:
                    _rollback(conn)
                    if not _conflict(exc):
                        raise
                    if time.monotonic() + delay > deadline:
                        raise LogBusy(f"team log {self.address.url} stayed busy (commit conflicts) for {self.timeout:.0f} s; "
                                      f"try again") from None
                except BaseException:
                    _rollback(conn)
                    raise
            time.sleep(delay * (0.5 + random.random()))  # outside the session and the turn: other writers go meanwhile
            delay = min(delay * 2, MAX_BACKOFF_S)

    def append(self, entry: dict, row: Callable[[duckdb.DuckDBPyConnection, dict], list]) -> None:
        """Append one row (a rating, a vote, an annotation) through this machine's group commit (:mod:`explorer.log.group_commit`).

        ``entry`` is JSON-safe; ``row(conn, entry)`` checks it and gives its row: what a leader runs for every writer's entry.
        """
        if self._turn_depth or self._group is False:  # already inside a transaction, or no spool here: commit alone
            self.transaction(lambda conn: insert_rows(conn, entry["table"], [row(conn, entry)]))
            return
        if self._group is None:
            from explorer.log.group_commit import GroupCommit

            self._group = GroupCommit.open(self, self._key()) or False
            return self.append(entry, row)
        self._group.append(entry, row)

    @contextmanager
    def _turn(self, deadline: float) -> Iterator[None]:
        """Hold this machine's turn (an ``flock`` in the temp folder), then the team's (:meth:`_take_team_turn`), for the block.

        DuckLake commits optimistically: each commit claims the next snapshot id in the catalog, and every writer
        that began before it conflicts and retries, re-reading the catalog each time. With 16 writers on 2 cores
        that storm, not the work, took most of the time (p99 in seconds). Taking turns per machine costs a waiting
        writer no CPU, and only one writer per machine then asks for the team's turn. The locks are only an
        optimisation: where they cannot be made, or are not free by ``deadline`` (a stuck holder), we go ahead without.
        """
        if self._turn_depth:  # this thread holds the turns already (a transaction inside a leader's batch)
            self._turn_depth += 1
            try:
                yield
            finally:
                self._turn_depth -= 1
            return
        held = False
        wait = 0.001
        while True:
            taken = self._take_turn()
            if taken is not False:  # True, or None: no turn file here
                held = bool(taken)
                break
            if time.monotonic() > deadline:
                break
            time.sleep(wait * (0.5 + random.random()))
            wait = min(wait * 1.5, TURN_POLL_S)
        team = self._take_team_turn(deadline)
        self._turn_depth += 1
        try:
            yield
        finally:
            self._turn_depth -= 1
            if team:
                self._give_team_turn()
            if held:
                self._give_turn()

    def _take_team_turn(self, deadline: float) -> bool:
        """Wait (until ``deadline``) for the team's turn to commit: a PostgreSQL advisory lock, held by one writer at a time.

        The machine's turn keeps one machine's writers from conflicting; without a turn across machines, two machines'
        commits still conflicted, and each DuckLake retry re-read the catalog and committed again: 16 writers on two
        machines made 32 writes/s with a p99 of 1 s, against 105/s and 0.4 s on one (bench/team_writes.py). The lock
        lives in its own connection (psycopg; the DuckDB extension's pooled connections run DISCARD ALL, which would
        drop it) and ends with it, so a writer that dies holding it frees it at once. Like the machine's turn it is an
        optimisation: where it cannot be had, or not by ``deadline``, the commit goes ahead without it.
        """
        turn = self._team_turn_connection()
        if turn is None:
            return False
        import psycopg

        try:
            wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
            turn.execute(f"SET lock_timeout = {wait_ms}; SELECT pg_advisory_lock({TEAM_TURN_KEY})")
            return True
        except psycopg.Error:  # a stuck holder (lock_timeout), or the server is gone: the commit will say so itself
            self._drop_team_turn()
            return False

    def prepare_writes(self) -> None:
        """Open the team turn's connection now (~0.2 s of imports, once a process) rather than in the first write.

        For a process that will write soon and is timed per write: a sweep's worker does this as it starts.
        """
        with self._thread_lock:
            self._team_turn_connection()

    def _team_turn_connection(self):
        """The psycopg connection for the team's turn, opened on first use; None where there can be none."""
        if self._team_turn is False:
            return None
        try:
            import psycopg
        except ImportError:
            self._team_turn = False
            return None
        if self._team_turn is None:
            try:
                self._team_turn = psycopg.connect(self.address.conninfo, autocommit=True, connect_timeout=10,
                                                  application_name="clip-explorer turn")
            except psycopg.Error:
                return None  # the server is gone: tried again at the next write
            weakref.finalize(self, self._team_turn.close)  # a log dropped without close() still hangs up
        return self._team_turn

    def _give_team_turn(self) -> None:
        import psycopg

        try:
            self._team_turn.execute(f"SELECT pg_advisory_unlock({TEAM_TURN_KEY})")
        except (psycopg.Error, AttributeError):
            self._drop_team_turn()  # closing the connection gives the lock back too

    def _drop_team_turn(self) -> None:
        if self._team_turn not in (None, False):
            try:
                self._team_turn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection: nothing left to do
                pass
        self._team_turn = None

    def _take_turn(self) -> bool | None:
        """Try once, without waiting, to take this machine's turn: True taken, False another writer has it, None no turn file."""
        fd = self._turn_fd if self._turn_fd is not None else self._open_turn_file()
        if fd is None or fd is False:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                return None
            return False

    def _give_turn(self) -> None:
        fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _key(self) -> str:
        """This log's name among the turn files and spools of this machine."""
        return hashlib.sha256(f"{self.address.url}\n{self.storage.resolve()}".encode()).hexdigest()[:20]

    def _open_turn_file(self) -> int | None:
        """The lock file for this log's turns, shared by every user of this machine; None (and never again) if it cannot be made."""
        folder = Path(tempfile.gettempdir()) / "clip-explorer-team-log-turns"
        try:
            folder.mkdir(mode=0o1777, exist_ok=True)
            fd = os.open(folder / f"{self._key()}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            self._turn_fd = False
            return None
        try:
            os.fchmod(fd, 0o666)  # whatever the umask: another user's writers on this machine take turns through it too
        except OSError:
            pass  # made by another user: theirs to set
        self._turn_fd = fd
        return fd

    def close(self) -> None:
        with self._thread_lock:
            self._drop()
            self._drop_team_turn()
            self._closed = True
            if type(self._turn_fd) is int:  # not False (bool is an int too)
                os.close(self._turn_fd)
                self._turn_fd = None

    def release(self) -> None:
        """Nothing to give back: a team log is not leased (kept for the file log's interface)."""

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except duckdb.Error:
                pass
            self._conn = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        files = extension_files()
        conn = duckdb.connect(config=CONNECT_CONFIG)
        try:
            conn.execute("SET enable_progress_bar = false")
            for path in files.values():
                conn.execute(f"LOAD '{_sql_text(str(path))}'")
            data = self.storage / "lake"
            try:
                conn.execute(f"ATTACH 'ducklake:postgres:{_sql_text(self.address.conninfo)}' AS {CATALOG} "
                             f"(DATA_PATH '{_sql_text(str(data))}/', OVERRIDE_DATA_PATH TRUE)")
            except duckdb.Error as exc:
                raise _unavailable(f"team log {self.address.url}: cannot attach the catalog ({_scrubbed(exc)})") from None
            conn.execute(f"USE {CATALOG}")
            # Every statement on a team log is a handful of tiny PostgreSQL scans of the catalog: DuckDB's worker
            # threads find no work in them but spin for it, which doubled the CPU of a write (~50 ms against ~25 ms
            # on 2 cores, bench/team_writes.py). Reads of big Parquet files lose their parallelism; none are big yet.
            conn.execute("SET threads = 1")
            # DuckLake retries a conflicting commit itself (cheaper than our retry: it re-reads only what changed),
            # sleeping retry_wait_ms x 0.5-1 x backoff^attempt, uncapped: the default 100 ms, 20 times, could sleep
            # for minutes. Writers on one machine take turns (transaction()), so a conflict means another machine
            # committed a few ms ago: start at 10 ms, ~0.9 s in all over 10 tries, then transaction() retries whole.
            conn.execute("SET ducklake_max_retry_count = 10")
            conn.execute("SET ducklake_retry_wait_ms = 10")
            conn.execute("SET ducklake_retry_backoff = 1.5")
        except BaseException:
            conn.close()
            raise
        return conn


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("ROLLBACK")
    except duckdb.Error:
        pass  # a failed commit has already ended the transaction


def _conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.TransactionException) or "conflict" in text or "retry count" in text or "could not serialize" in text


def _unreachable(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "unable to connect to postgres" in text or "server closed the connection" in text or "connection refused" in text \
        or "no connection to the server" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scrubbed(exc: BaseException) -> str:
    """DuckDB's message for a failed ATTACH, from libpq's words on: the part a person can act on."""
    text = " ".join(str(exc).split())
    for marker in ("Unable to connect to Postgres at", "failed:"):
        if marker in text:
            text = text[text.index(marker):]
    return text[:300]


def _unavailable(message: str) -> Exception:
    from explorer.log.log import LogUnavailable

    return LogUnavailable(message)
