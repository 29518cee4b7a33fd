"""Group commit on a team log (explorer/log/group_commit.py): one machine's waiting appends share one DuckLake commit.

Writers here are threads, each with a log object of its own: each holds its own open file for the machine's turn
lock, and ``flock`` locks belong to an open file, so they compete for the turn exactly as processes do. The test
holds the turn itself (its own open file) to make appends wait, and releases it once the spool holds them all:
states, not sleeps. Real PostgreSQL, real DuckLake.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import explorer
from explorer.lab import Lab
from explorer.log import Log, LogError

pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def team(postgres, tmp_path):
    storage = tmp_path / "shared"
    storage.mkdir()
    url = postgres.new_database()
    lab = explorer.open(url, storage=storage, author="setup")
    runs = [lab.log.start_run(explorer.Request(prompt=f"clip {i}"), author="setup") for i in range(3)]
    yield url, storage, lab, runs
    lab.log.close()


def _spool(lab) -> Path:
    return Path(tempfile.gettempdir()) / "clip-explorer-team-log-turns" / f"{lab.log.connection._key()}.spool-{os.getuid()}"


@contextmanager
def _holding_the_turn(lab):
    """Hold this machine's turn for ``lab``'s log, as another writer busy committing would."""
    path = Path(tempfile.gettempdir()) / "clip-explorer-team-log-turns" / f"{lab.log.connection._key()}.lock"
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _wait_for(condition, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def _snapshots(lab) -> int:
    return int(lab.log.query("SELECT count(*) AS n FROM ducklake_snapshots('lake')").n[0])


def _in_threads(url, storage, calls):
    """Run each ``call(lab)`` in a thread with a log object of its own; the results, or the exception each raised."""
    labs = [explorer.open(url, storage=storage, author=f"rater{i}") for i in range(len(calls))]
    for lab in labs:
        lab.log.query("SELECT 1")  # connected before the test holds the turn: only the append is left to wait
    results: list = [None] * len(calls)

    def go(i):
        try:
            results[i] = calls[i](labs[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    return labs, threads, results


def test_waiting_appends_share_one_commit_and_bad_ones_are_refused_before_they_wait(team):
    url, storage, lab, runs = team
    calls = [
        lambda lab: lab.rate(runs[0], 4, tags=["warm"]),
        lambda lab: lab.vote(runs[1], runs[2]),
        lambda lab: lab.annotate(runs[0], "the sky flickers", frame=0),
        lambda lab: lab.rate("no-such-run", 3),
        lambda lab: lab.annotate(runs[1], "past the end", frame=10_000),
    ]
    labs, threads, results = _in_threads(url, storage, calls)
    before = _snapshots(lab)
    with _holding_the_turn(lab):
        for thread in threads:
            thread.start()
        threads[3].join(timeout=120)
        threads[4].join(timeout=120)  # answered at once: checks that read the log are made before an append waits
        _wait_for(lambda: len(list(_spool(lab).glob("*.req"))) == 3, "the three good appends to wait in the spool")
    for thread in threads:
        thread.join(timeout=120)

    rating, vote, note, unknown, past_end = results
    assert isinstance(unknown, LogError) and "no run 'no-such-run'" in str(unknown)
    assert isinstance(past_end, LogError) and "frame: must be a frame number" in str(past_end)
    assert lab.log.query("SELECT id, score, tags FROM ratings").to_dict("records") == [{"id": rating, "score": 4, "tags": ["warm"]}]
    assert lab.log.query("SELECT id FROM votes").id.tolist() == [vote]
    assert lab.log.query("SELECT id, text, time_s FROM annotations").to_dict("records") == [{"id": note, "text": "the sky flickers", "time_s": 0.0}]
    assert _snapshots(lab) == before + 1  # three rows, one commit
    assert list(_spool(lab).iterdir()) == []  # every answer read, nothing left behind
    for other in labs:
        other.log.close()


def test_a_leader_killed_after_its_commit_leaves_each_append_landed_once(team):
    """A leader died between committing a batch and answering it: the next leader applies only what did not land."""
    url, storage, lab, runs = team
    committed = lab.rate(runs[0], 5)  # its leader committed it...
    spool = _spool(lab)
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = {"table": "ratings", "run": runs[0], "author": "gone", "score": 5, "tags": [], "note": None, "created_at": "2026-12-02T00:00:00"}
    (spool / f"999999-{committed}.claimed").write_text(json.dumps({**entry, "id": committed}))  # ...then died before answering
    (spool / "999999-notlandedyet.claimed").write_text(json.dumps({**entry, "id": "notlandedyet"}))  # this one it had not
    latest = lab.rate(runs[1], 2)  # whoever writes next leads, and finishes the dead leader's batch first
    ids = lab.log.query("SELECT id FROM ratings").id.tolist()
    assert sorted(ids) == sorted([committed, "notlandedyet", latest])  # each exactly once
    assert sorted(p.name for p in spool.iterdir()) == []  # answers to a dead process are not kept either


def test_an_append_that_waits_past_its_timeout_withdraws_and_commits_alone(team):
    url, storage, lab, runs = team
    impatient = Lab.on(Log(url, storage=storage, timeout=1), "impatient")
    impatient.log.query("SELECT 1")
    with _holding_the_turn(lab):  # a stuck writer holds the turn for longer than the timeout
        rating = impatient.rate(runs[0], 3)
        assert lab.log.query("SELECT id FROM ratings").id.tolist() == [rating]  # committed while the turn was still held
    assert list(_spool(lab).iterdir()) == []
    impatient.log.close()


def test_the_spool_is_private_to_its_user(team):
    url, storage, lab, runs = team
    lab.rate(runs[0], 3)
    assert (_spool(lab).stat().st_mode & 0o777) == 0o700  # a leader writes with its own credentials: only its user's rows


def test_a_malformed_append_file_is_answered_not_fatal(team):
    """A leftover file the leader cannot use (a half-written or foreign entry) fails alone; the batch still commits."""
    url, storage, lab, runs = team
    spool = _spool(lab)
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    (spool / f"{os.getpid()}-broken.req").write_text(json.dumps({"table": "ratings", "id": "broken"}))  # no run, no score
    rating = lab.rate(runs[0], 4)
    assert lab.log.query("SELECT id FROM ratings").id.tolist() == [rating]
    answer = spool / f"{os.getpid()}-broken.done"
    assert json.loads(answer.read_text())["error"] == "KeyError"
    answer.unlink()


def test_processes_on_one_machine_commit_in_groups(team, tmp_path):
    """Real processes writing at full speed: every rating lands once, in fewer commits than ratings."""
    url, storage, lab, runs = team
    before = _snapshots(lab)
    script = tmp_path / "writer.py"
    script.write_text(
        "import sys, explorer\n"
        "lab = explorer.open(sys.argv[1], storage=sys.argv[2], author=sys.argv[3])\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "for i in range(10):\n"
        "    print(lab.rate(sys.argv[4], 1 + i % 5), flush=True)\n")
    procs = [subprocess.Popen([sys.executable, str(script), url, str(storage), f"w{i}", runs[i % 3]], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for i in range(6)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # all start together
        proc.stdin.write("go\n")
        proc.stdin.flush()
    acknowledged = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        acknowledged += out.split()
    assert len(acknowledged) == 60
    assert sorted(lab.log.query("SELECT id FROM ratings").id.tolist()) == sorted(acknowledged)
    assert _snapshots(lab) - before < 60  # some commits carried several writers' ratings


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder that belongs to another user needs root")
def test_a_spool_folder_of_another_user_is_never_used(team):
    """Where the folder named for our spool belongs to someone else, appends commit alone: our rows never go there."""
    url, storage, lab, runs = team
    spool = _spool(lab)
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(spool, 65534, 65534)  # nobody's
    try:
        other = explorer.open(url, storage=storage, author="other")
        rating = other.rate(runs[0], 2)
        assert lab.log.query("SELECT id FROM ratings").id.tolist() == [rating]
        assert list(spool.iterdir()) == []
        other.log.close()
    finally:
        shutil.rmtree(spool)
