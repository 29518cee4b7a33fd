"""A person's log shared with a Unix group on one machine, by two real users (and one outside the group).

Needs root: it creates throwaway users and a group (tests/faults.py), and runs each user's work in a process of
its own, forked from this one and dropped to that user (the interpreter lives under /root, which they may not
read, so everything is imported here first). See explorer/log/connection.py, "A log shared by a Unix group".
"""

from __future__ import annotations

import contextlib
import grp
import io
import json
import os
import pwd
import shutil
import signal
import stat
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

import explorer
import explorer.cli
from explorer.log import LogError

sys.path.insert(0, str(Path(__file__).parent))
from faults import as_user, throwaway_users  # noqa: E402

SMALL = dict(frames=4, width=32, height=32, steps=1, progress=False)


@pytest.fixture(scope="module")
def team():
    with throwaway_users(members=2, outsiders=1) as (group, (a, b), (outsider,)):
        _warm_up()
        top = Path(tempfile.mkdtemp(prefix="explorer-shared-"))  # pytest's tmp_path is root-only (0700)
        top.chmod(0o755)
        try:
            yield {"group": group, "gid": grp.getgrnam(group).gr_gid, "a": a, "b": b, "outsider": outsider, "top": top}
        finally:
            shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def folder(team):
    """A team folder as the README sets one up: group-owned, group-writable, setgid, not sticky."""
    path = Path(tempfile.mkdtemp(dir=team["top"]))
    os.chown(path, 0, team["gid"])
    path.chmod(0o2775)
    return path


def _warm_up() -> None:
    """Everything the users' processes will need, imported by root now (they cannot read the interpreter's files)."""
    with tempfile.TemporaryDirectory() as scratch:
        lab = explorer.open(Path(scratch) / "warm.duckdb", author="root", shared=True)
        run = lab.generate("a red ball", **SMALL)
        lab.rate(run.id, 3)
        lab.runs(), lab.ratings()
        lab.log.close()
        _cli(["runs", "--db", str(Path(scratch) / "warm.duckdb")])
        _cli(["runs", "--db", str(Path(scratch) / "none" / "x.duckdb")])


def _cli(args: list[str]) -> tuple[int, str]:
    """``explorer ARGS`` in this process, as the console script runs it: its exit code and all it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            explorer.cli.app(args, prog_name="explorer")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # what the interpreter would print for an uncaught error
            traceback.print_exc()
            code = 1
    return code, printed.getvalue()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _owner(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def _assert_group_shared(path: Path, team: dict) -> None:
    """Group-readable and -writable (folders: enterable, setgid), in the team's group, and nothing more for "other"."""
    mode = _mode(path)
    assert path.stat().st_gid == team["gid"], f"{path}: group {grp.getgrgid(path.stat().st_gid).gr_name}, not {team['group']}"
    assert mode & 0o060 == 0o060, f"{path}: {oct(mode)} is not group-writable"
    assert not mode & stat.S_IWOTH, f"{path}: {oct(mode)} is writable by anyone"
    if path.is_dir():
        assert mode & stat.S_IXGRP and mode & stat.S_ISGID, f"{path}: {oct(mode)} is not a setgid group folder"


def _log_files(db: Path) -> list[Path]:
    media = db.with_name(db.stem + "-media")
    beside = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    return beside + [media, *media.rglob("*")]


def test_two_users_share_one_log(team, folder):
    db = folder / "team.duckdb"

    def a_creates() -> str:
        lab = explorer.open(db, shared=True)
        run = lab.generate("a red ball", **SMALL)
        lab.rate(run.id, 4, note="by a")
        return json.dumps({"run": run.id, "author": lab.author, "media": str(run.media)})

    # A's umask keeps everything from the group: the log's files must be group-writable anyway.
    made = json.loads(as_user(team["a"], a_creates, umask=0o077))
    assert made["author"] == team["a"]
    for path in _log_files(db):
        _assert_group_shared(path, team)
    assert _mode(db) & 0o007 == 0, "A's umask 077 kept other out; sharing with the group must not let them in"

    def b_joins() -> str:
        lab = explorer.open(db)  # no flag: the file says it is shared
        seen = list(lab.runs()["id"])
        lab.rate(made["run"], 5, note="by b")
        run = lab.generate("a blue cube", **SMALL)
        lab.rate(run.id, 2)
        return json.dumps({"seen": seen, "run": run.id, "media": str(run.media)})

    joined = json.loads(as_user(team["b"], b_joins))
    assert joined["seen"] == [made["run"]]
    b_clip = Path(joined["media"])
    assert b_clip.is_file() and _owner(b_clip) == team["b"]
    for path in _log_files(db):
        _assert_group_shared(path, team)

    def a_reads_and_writes_into_bs_folder() -> str:
        lab = explorer.open(db)
        runs = lab.runs()
        ratings = lab.ratings(latest=False)
        probe = b_clip.parent / ".probe"  # B's fan-out folder (or A's, if both clips landed in one): A may write there
        probe.write_bytes(b"a")
        probe.unlink()
        verified = lab.log.media.verify(b_clip.name.removesuffix(".mp4"))
        run = lab.generate("a green cone", **SMALL)
        return json.dumps({"runs": sorted(runs["id"]), "authors": sorted(ratings["author"]), "verified": verified, "run": run.id})

    seen = json.loads(as_user(team["a"], a_reads_and_writes_into_bs_folder))
    assert seen["runs"] == sorted([made["run"], joined["run"]])
    assert seen["authors"] == sorted([team["a"], team["b"], team["b"]])
    assert seen["verified"] is True
    for path in _log_files(db):
        _assert_group_shared(path, team)


def test_writers_take_turns_across_checkpoints(team, folder):
    """Each user's process (re)creates the WAL in turn, checkpointing mid-session; neither is ever locked out."""
    db = folder / "turns.duckdb"
    first = json.loads(as_user(team["a"], lambda: json.dumps(explorer.open(db, shared=True).generate("a red ball", **SMALL).id)))
    rounds = 4
    for turn in range(rounds):
        for user in (team["a"], team["b"]):
            def write(turn=turn) -> str:
                lab = explorer.open(db)
                with lab.log.connection.session() as conn:
                    lab.rate(first, 1 + turn % 5)
                    conn.execute("CHECKPOINT")  # DuckDB deletes the WAL here ...
                    lab.annotate(first, f"turn {turn}")  # ... and this user's process makes a new one
                wal = Path(f"{db}.wal")
                mode = oct(_mode(wal)) if wal.exists() else None
                if turn % 2:
                    lab.log.close()  # a clean exit checkpoints; the other turns end as a killed kernel would
                return json.dumps({"wal": mode, "ratings": len(lab.ratings(latest=False)) if not turn % 2 else None})

            out = json.loads(as_user(user, write))
            if out["wal"] is not None:
                assert int(out["wal"], 8) & 0o060 == 0o060, f"turn {turn} by {user}: the WAL was left {out['wal']}"
            for path in _log_files(db):
                _assert_group_shared(path, team)
    total = as_user(team["b"], lambda: json.dumps([len(explorer.open(db).ratings(latest=False)),
                                                   len(explorer.open(db).annotations())]))
    assert json.loads(total) == [2 * rounds, 2 * rounds]


def test_a_wal_left_by_a_killed_process_is_taken_over(team, folder):
    """A is killed mid-session after a write: its fresh WAL is A's alone (umask 022). B takes it over and writes."""
    db = folder / "killed.duckdb"
    run = json.loads(as_user(team["a"], lambda: json.dumps(explorer.open(db, shared=True).generate("a red ball", **SMALL).id)))

    def a_dies_mid_write() -> str:
        lab = explorer.open(db)
        with lab.log.connection.session() as conn:
            conn.execute("CHECKPOINT")
            lab.rate(run, 2)
            os.kill(os.getpid(), signal.SIGKILL)
        return "not killed"

    assert as_user(team["a"], a_dies_mid_write) == "killed by signal 9"
    wal = Path(f"{db}.wal")
    assert wal.exists() and _owner(wal) == team["a"] and _mode(wal) == 0o644, "the scenario needs A's unshared WAL"

    def b_writes() -> str:
        lab = explorer.open(db)
        lab.rate(run, 5)
        return json.dumps(sorted(lab.ratings(latest=False)["score"]))

    assert json.loads(as_user(team["b"], b_writes)) == [2, 5]  # A's last rating survived the kill, B's is in
    assert as_user(team["a"], lambda: json.dumps(len(explorer.open(db).ratings(latest=False)))) == "2"


def test_a_user_outside_the_group_gets_one_line(team, folder):
    db = folder / "team.duckdb"
    as_user(team["a"], lambda: explorer.open(db, shared=True).generate("a red ball", **SMALL).id)
    code, output = json.loads(as_user(team["outsider"], lambda: json.dumps(_cli(["runs", "--db", str(db)]))))
    assert code == 1, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output, output
    assert str(db) in output and ("read-only" in output or "Permission denied" in output or "permission denied" in output), output


def test_a_log_not_shared_stays_private(team, folder):
    """Without shared=True, files keep the creator's umask (0644, folders 0755), and the group may not write."""
    db = folder / "mine.duckdb"

    def a_creates() -> str:
        lab = explorer.open(db)
        return str(lab.generate("a red ball", **SMALL).media)

    clip = Path(as_user(team["a"], a_creates))
    media = db.with_name("mine-media")
    assert _mode(db) == 0o644 and _mode(Path(f"{db}.lock")) == 0o644
    assert _mode(media) == 0o2755 and _mode(clip.parent) == 0o2755  # setgid comes from the team folder, not from us
    assert _mode(clip) == _mode(clip.with_suffix(".poster.jpg")) == 0o644
    code, output = json.loads(as_user(team["b"], lambda: json.dumps(_cli(["runs", "--db", str(db)]))))
    assert code == 1 and len(output.strip().splitlines()) == 1 and "read-only" in output, output

    def a_asks_for_sharing_too_late() -> str:
        try:
            explorer.open(db, shared=True)
        except LogError as exc:
            return str(exc)
        return "opened"

    assert "is not shared with a group; share it by hand" in as_user(team["a"], a_asks_for_sharing_too_late)


def test_an_existing_log_shared_by_hand(team, folder):
    """The README's recipe (chgrp, chmod) shares a log made private; B then writes, and its new files are shared."""
    db = folder / "old.duckdb"
    run = as_user(team["a"], lambda: explorer.open(db).generate("a red ball", **SMALL).id)

    def a_shares_it() -> str:
        script = (f"cd {folder} && chgrp -R {team['group']} old.duckdb* old-media && chmod g+rw old.duckdb* "
                  "&& chmod -R g+rwX,g+s old-media")
        return str(os.system(script))

    assert as_user(team["a"], a_shares_it) == "0"

    def b_writes() -> str:
        lab = explorer.open(db)
        lab.rate(run, 4)
        return json.dumps([lab.generate("a blue cube", **SMALL).id, len(lab.ratings())])

    assert json.loads(as_user(team["b"], b_writes))[1] == 1
    for path in _log_files(db):
        _assert_group_shared(path, team)
