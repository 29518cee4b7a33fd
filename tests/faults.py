"""Real disk faults for tests, made so that they bind root too (root ignores permission bits).

- ``tmpfs(folder, size=…, readonly=…)``: a small tmpfs mounted there (needs CAP_SYS_ADMIN, i.e. root in a
  container that allows ``mount``); a full disk is a tmpfs with a filler file, a read-only folder or mount
  is a tmpfs remounted read-only. Unmounted afterwards.
- ``immutable(path)``: ``chattr +i`` on a file or folder (ext4, xfs, tmpfs; needs CAP_LINUX_IMMUTABLE):
  not even root may write it. Cleared afterwards.
- ``fill(folder)``: fills the file system under ``folder`` up to ``leave`` bytes.

Each skips the test where the machine does not allow it. ``as_nobody`` runs a function as the
unprivileged ``nobody`` user, for the conditions plain permissions make; ``throwaway_users`` creates real
users in a throwaway group (and some outside it) and ``as_user`` runs a function as one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

PAGE = 4096  # tmpfs allocates whole pages


@contextmanager
def tmpfs(folder: Path, *, size: str = "4m", readonly: bool = False) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if readonly else "")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'not root'})")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)  # still open somewhere: detach it


def remount_readonly(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)


@contextmanager
def immutable(path: Path) -> Iterator[Path]:
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip(f"chattr +i is not available on {path}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system under ``folder`` so that ``leave`` bytes (whole pages) stay free; return the filler."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        chunk = b"\0" * (256 * PAGE)
        while (want := min(len(chunk), (free_bytes(folder) - leave) // PAGE * PAGE)) > 0:
            try:
                os.write(fd, chunk[:want])
            except OSError:
                break
    finally:
        os.close(fd)
    return filler


@contextmanager
def open_folder() -> Iterator[Path]:
    """A folder anyone may reach and write (under /tmp: pytest's own tmp_path sits in a folder only root may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="explorer-faults-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_nobody(work: Callable[[], str]) -> str:
    """``work()`` run by the unprivileged ``nobody`` user, for the conditions plain permissions make.

    As root, in a forked child that drops to nobody (modules already imported, so the interpreter's files
    need not be readable by nobody); as anyone else, here. Returns what ``work`` returns, or its error.
    """
    if os.geteuid() != 0:
        return work()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and never returns
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = work()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = f"{type(exc).__name__}: {exc}"
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(child, 0)
    return out


# -- real Unix users and groups (root only) -------------------------------------------------------------------------

@contextmanager
def throwaway_users(members: int = 2, outsiders: int = 1) -> Iterator[tuple[str, list[str], list[str]]]:
    """A throwaway group with ``members`` new users in it and ``outsiders`` new users not in it, each also with a private
    group of their own (so no two share a primary group), all removed afterwards: ``(group, members, outsiders)``.

    Skips the test where this is not root or ``useradd``/``groupadd`` are missing.
    """
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("useradd", "groupadd", "userdel", "groupdel")):
        pytest.skip("needs root with useradd and groupadd: it creates throwaway Unix users and a group")
    tag = uuid.uuid4().hex[:6]
    group = f"xt{tag}"
    members_ = [f"xm{tag}{i}" for i in range(members)]
    outsiders_ = [f"xo{tag}{i}" for i in range(outsiders)]
    made: list[str] = []
    try:
        subprocess.run(["groupadd", group], check=True, capture_output=True)
        for name in members_ + outsiders_:
            extra = ["-G", group] if name in members_ else []
            subprocess.run(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", *extra, name], check=True, capture_output=True)
            made.append(name)
        yield group, members_, outsiders_
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)  # also removes the user's private group
        subprocess.run(["groupdel", group], capture_output=True)


class ChildFailed(AssertionError):
    """The work run as another user raised; the message carries its traceback."""


def as_user(name: str, work: Callable[[], str], *, umask: int = 0o022) -> str:
    """``work()`` run by the Unix user ``name`` (with their groups and ``umask``) in a forked child, from root.

    Modules already imported stay usable, so the interpreter's own files need not be readable by that user; import
    what ``work`` needs before calling this. Returns what ``work`` returns; raises :class:`ChildFailed` with the
    child's traceback if it raised, and returns ``"killed by signal N"`` when the child was killed.
    """
    import pwd
    import traceback

    entry = pwd.getpwnam(name)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and never returns
        status = b"ok"
        try:
            os.close(read)
            os.setgroups(os.getgrouplist(name, entry.pw_gid))
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            os.umask(umask)
            os.environ.update(USER=name, LOGNAME=name, HOME="/nonexistent")
            os.environ.pop("EXPLORER_AUTHOR", None)
            os.environ.pop("JUPYTERHUB_USER", None)
            out = work()
        except BaseException:  # noqa: BLE001 - reported to the parent
            status, out = b"error", traceback.format_exc()
        os.write(write, status + b"\0" + str(out).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, wait_status = os.waitpid(child, 0)
    if os.WIFSIGNALED(wait_status):
        return f"killed by signal {os.WTERMSIG(wait_status)}"
    status, _, out = data.partition(b"\0")
    if status != b"ok":
        raise ChildFailed(f"as {name}: {out.decode(errors='replace')}")
    return out.decode()
