"""After a crash: runs whose process is gone, temporary files and clips no run points to.

A run records where it runs (``host``, ``pid``) and, while it runs, a
heartbeat (``heartbeat_at``, every :data:`HEARTBEAT_S` seconds). A run still
``running`` is *interrupted* when

- its process is on this machine and no longer exists (``kill -9``, a dead
  kernel): seen at once; or
- its heartbeat is older than :data:`STALE_S` (a process on another machine,
  a hung one, or a pid taken by another program since).

Every reader sees the same answer because the first process that notices
writes it: :func:`reap` runs when a log is opened and, at most every few
seconds, before runs are listed (the review panel's polls included). A run
marked ``interrupted`` keeps its request; a late finish from a process that
was merely slow still records its outcome.

Files: a clip is first written as ``.tmp-<host>-<pid>-….mp4`` in the media
folder and renamed when complete; a crash leaves the temporary file, or a
complete clip whose run was never finished. :func:`doctor` finds both and,
with ``fix``, removes them, never one a live run may still claim.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from explorer.log.clock import utcnow

if TYPE_CHECKING:
    from explorer.log.log import Log

HEARTBEAT_S = 10.0
STALE_S = 60.0  # six missed heartbeats: a busy machine delays one, not six
REAP_EVERY_S = 5.0  # readers look again at most this often
TEMP_PREFIX = ".tmp-"
CLIP_SUFFIXES = (".mp4", ".poster.jpg", ".thumb.webp")


def this_host() -> str:
    return socket.gethostname()


def temp_prefix() -> str:
    """The start of this process's temporary file names: who made a file is read back from its name."""
    return f"{TEMP_PREFIX}{this_host().replace('-', '_')}-{os.getpid()}-"


def process_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def gone(host: str | None, pid: int | None, heartbeat: datetime | None, now: datetime) -> str | None:
    """Why a running run's process is gone, or None if it may still be alive."""
    if host == this_host() and pid and not process_alive(pid):
        return f"its process (pid {pid} on {host}) is gone"
    if heartbeat is None or now - heartbeat > timedelta(seconds=STALE_S):
        since = "never sent a heartbeat" if heartbeat is None else f"sent no heartbeat for {(now - heartbeat).total_seconds():.0f} s"
        return f"its process (pid {pid} on {host}) {since}"
    return None


def reap(log: "Log") -> list[str]:
    """Mark as ``interrupted`` every running run whose process is gone; return their ids."""
    with log.connection.session() as conn:
        running = conn.execute("SELECT id, host, pid, heartbeat_at FROM runs WHERE status = 'running'").fetchall()
    if not running:
        return []
    now = utcnow()
    dead = {run_id: why for run_id, host, pid, beat in running if (why := gone(host, pid, beat, now))}
    if not dead:
        return []

    def write(conn) -> None:
        for run_id, why in dead.items():
            conn.execute("UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE id = ? AND status = 'running'",
                         [now, f"interrupted: {why} before the run finished", run_id])

    log.connection.transaction(write)
    return sorted(dead)


class Heartbeat:
    """While a run is made, touch its ``heartbeat_at`` every :data:`HEARTBEAT_S` seconds from a daemon thread."""

    def __init__(self, log: "Log", run_id: str, every: float = HEARTBEAT_S):
        self.log, self.run_id, self.every = log, run_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"explorer-heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.log.connection.transaction(lambda conn: conn.execute(
                    "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", [utcnow(), self.run_id]))
            except Exception:  # noqa: BLE001 - a missed beat (busy log, full disk) is retried at the next one
                pass


# -- files ---------------------------------------------------------------------------------------------------------------

@dataclass
class Checkup:
    """What :func:`doctor` found (and, with ``fix``, removed)."""

    interrupted: list[str] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    orphan_clips: list[Path] = field(default_factory=list)
    kept_for_live_runs: int = 0
    fixed: bool = False

    @property
    def clean(self) -> bool:
        return not (self.temp_files or self.orphan_clips)

    def to_dict(self) -> dict:
        return {"interrupted": self.interrupted, "temp_files": [str(p) for p in self.temp_files],
                "orphan_clips": [str(p) for p in self.orphan_clips], "kept_for_live_runs": self.kept_for_live_runs, "fixed": self.fixed}


def doctor(log: "Log", *, fix: bool = False) -> Checkup:
    """Interrupted runs (always marked), leftover temporary files and clips no run points to (removed with ``fix``)."""
    checkup = Checkup(interrupted=reap(log), fixed=fix)
    root = log.media.root
    if not root.is_dir():
        return checkup
    with log.connection.session() as conn:
        known = {sha for (sha,) in conn.execute("SELECT sha256 FROM media").fetchall()}
        # A live run may have written its clip and not yet its row: files newer than its start are its, perhaps.
        oldest_live = conn.execute("SELECT min(created_at) FROM runs WHERE status = 'running'").fetchone()[0]
    claim_from = None if oldest_live is None else (oldest_live - timedelta(seconds=STALE_S)).timestamp()
    for path in _files(root):
        name = path.name
        if name.startswith(TEMP_PREFIX):
            if _temp_abandoned(path):
                checkup.temp_files.append(path)
        elif name.endswith(CLIP_SUFFIXES) and name.split(".")[0] not in known:
            if claim_from is not None and _mtime_utc(path) >= claim_from:
                checkup.kept_for_live_runs += 1
            else:
                checkup.orphan_clips.append(path)
    if fix:
        for path in checkup.temp_files + checkup.orphan_clips:
            path.unlink(missing_ok=True)
    return checkup


def clean_temp_files(log: "Log") -> int:
    """Remove this machine's temporary files whose process is gone (cheap: run on open); return how many."""
    root, removed = log.media.root, 0
    if not root.is_dir():
        return 0
    mine = f"{TEMP_PREFIX}{this_host().replace('-', '_')}-"
    for path in _files(root):
        if path.name.startswith(mine) and _temp_abandoned(path):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _files(root: Path) -> Iterator[Path]:
    yield from (p for p in root.iterdir() if p.is_file())
    for folder in root.iterdir():
        if folder.is_dir() and len(folder.name) == 2:
            yield from (p for p in folder.iterdir() if p.is_file())


def _temp_abandoned(path: Path) -> bool:
    """A temporary file whose maker is gone: dead on this machine, or (elsewhere, or an old name) untouched for STALE_S."""
    parts = path.name[len(TEMP_PREFIX):].split("-")
    if len(parts) >= 3 and parts[1].isdigit() and parts[0] == this_host().replace("-", "_"):
        return not process_alive(int(parts[1]))
    return time.time() - path.stat().st_mtime > STALE_S


def _mtime_utc(path: Path) -> float:
    # created_at is naive UTC; compare as a naive-UTC timestamp
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None).timestamp()
