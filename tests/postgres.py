"""A throwaway PostgreSQL server for the team-log tests: Debian's binaries, ``initdb`` + ``pg_ctl`` on 127.0.0.1, a free port.

Started once per test session (about 2 s), as the ``postgres`` user when the tests run as root (PostgreSQL refuses
to run as root), with a data folder under the system temp folder that is removed on stop. Each test gets a fresh
database in it (:meth:`PostgresServer.new_database`), so tests never see each other's rows. Nothing listens
beyond 127.0.0.1, and authentication is ``trust`` for that address only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (``/usr/lib/postgresql/<n>/bin``), newest first; None if absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]), reverse=True)
    return Path(found[0]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OWNER = "owner.pid"  # the test process that started the server: a server whose owner is gone was left by a killed run


def stop_orphans(bin_dir: Path, as_user: list[str]) -> None:
    """Stop the servers (and remove the folders) of earlier test runs that were killed before they could stop them."""
    for folder in Path(tempfile.gettempdir()).glob("explorer-pg-*"):
        try:
            owner = int((folder / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not started by this code, or still being set up: not ours to touch
        if _alive(owner):
            continue
        if (folder / "data" / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresServer:
    def __init__(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: scripts/test-deps.sh installs Debian's postgresql")
        self.bin = bin_dir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="explorer-pg-"))
        self.data = self.folder / "data"
        self.user = "postgres"
        self._as = []
        self._template = False
        if os.geteuid() == 0:  # the server refuses to run as root
            os.chown(self.folder, pwd.getpwnam("postgres").pw_uid, -1)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, text=True, cwd=self.folder, timeout=120)

    def start(self) -> "PostgresServer":
        stop_orphans(self.bin, self._as)
        (self.folder / OWNER).write_text(str(os.getpid()))
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.folder} -c fsync=off -c max_connections=200"
        # -w: pg_ctl returns once the server accepts connections (a state, not a sleep)
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "-t", "120", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def sql(self, statement: str, database: str = "postgres") -> str:
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database, "-v", "ON_ERROR_STOP=1",
                               "-Atc", statement], check=True, capture_output=True, text=True, timeout=60)
        return done.stdout.strip()

    def new_database(self, *, empty: bool = False) -> str:
        """A fresh database; returns the team-log URL for it.

        Unless ``empty``, it is a copy of a catalog where a team log was already created (PostgreSQL's TEMPLATE:
        a few ms instead of the ~2 s of creating one); its storage folder is the caller's, still empty. Such copies
        share the template's log identity: a test about identities asks for ``empty`` catalogs.
        """
        name = f"log_{uuid.uuid4().hex[:10]}"
        if empty:
            self.sql(f"CREATE DATABASE {name}")
            return self.url(name)
        if not self._template:
            import explorer

            self.sql("CREATE DATABASE log_template")
            storage = Path(tempfile.mkdtemp(dir=self.folder, prefix="template-storage-"))
            explorer.open(self.url("log_template"), storage=storage).log.close()
            self._template = True
        self.sql(f"CREATE DATABASE {name} TEMPLATE log_template")
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"
