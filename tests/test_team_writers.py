"""Many writer processes on one log, as fast as they can: every acknowledged rating and vote is in the log, once.

Two "machines" share one team log: each is a HOME folder and a temporary folder of its own (so its own link cache
for the extensions and its own turn lock, see ``LakeConnection._turn``), with 8 writer processes, each its own
``EXPLORER_AUTHOR``. Machines on one host here, so they compete through PostgreSQL the way two hosts would.
A file log gets the same with 8 processes on one machine. The writers are real processes (``python`` on this
file), which print each id the moment its write returns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import explorer

RATINGS, VOTES = 4, 2  # per writer process


def _writers(db: str, storage: Path | None, runs: list[str], machines: dict[str, int], root: Path) -> tuple[list[str], list[str], float]:
    """Start the writers (``machines``: name -> processes), wait for all; the acknowledged rating and vote ids."""
    procs = []
    for machine, count in machines.items():
        home = root / machine
        (home / "tmp").mkdir(parents=True)
        for i in range(count):
            env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "EXPLORER_DB", "EXPLORER_STORAGE")}
            env.update(HOME=str(home), TMPDIR=str(home / "tmp"), EXPLORER_AUTHOR=f"{machine}-{i}", PYTHONPATH=os.pathsep.join(sys.path))
            args = [sys.executable, __file__, db, str(storage or ""), ",".join(runs)]
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    began = time.monotonic()
    ratings, votes, failures = [], [], []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        if proc.returncode != 0:
            failures.append(f"exit {proc.returncode}: {err.strip()[-800:]}")
        for line in out.splitlines():
            kind, _, ident = line.partition(" ")
            (ratings if kind == "rating" else votes).append(ident)
    assert not failures, "\n".join(failures)
    return ratings, votes, time.monotonic() - began


def _check_all_there(lab, ratings: list[str], votes: list[str], processes: int) -> None:
    assert len(ratings) == processes * RATINGS and len(votes) == processes * VOTES  # every write was acknowledged
    stored_ratings = lab.log.query("SELECT id FROM ratings WHERE author <> 'setup'").id.tolist()
    stored_votes = lab.log.query("SELECT id FROM votes").id.tolist()
    # Exact: none missing, none written twice (a commit retried after it had in fact succeeded would show here).
    assert sorted(stored_ratings) == sorted(ratings)
    assert sorted(stored_votes) == sorted(votes)


def _setup(lab) -> list[str]:
    return [lab.log.start_run(explorer.Request(prompt=f"clip {i}"), author="setup") for i in range(6)]


def test_sixteen_writers_on_two_machines_lose_nothing(postgres, tmp_path):
    storage = tmp_path / "shared"
    storage.mkdir()
    db = postgres.new_database()
    lab = explorer.open(db, storage=storage, author="setup")
    try:
        runs = _setup(lab)
        ratings, votes, took = _writers(db, storage, runs, {"machine-a": 8, "machine-b": 8}, tmp_path)
        _check_all_there(lab, ratings, votes, 16)
        authors = lab.log.query("SELECT count(DISTINCT author) AS n FROM ratings WHERE author <> 'setup'").n[0]
        assert authors == 16
    finally:
        lab.log.close()
    print(f"16 team-log writers: {len(ratings) + len(votes)} writes, {took:.1f} s with start-up")


def test_eight_writers_on_a_file_log_lose_nothing(tmp_path):
    db = str(tmp_path / "log.duckdb")
    lab = explorer.open(db, author="setup")
    try:
        runs = _setup(lab)
    finally:
        lab.log.close()  # the writers need the file
    ratings, votes, _ = _writers(db, None, runs, {"machine-a": 8}, tmp_path)
    lab = explorer.open(db, author="setup")
    try:
        _check_all_there(lab, ratings, votes, 8)
    finally:
        lab.log.close()


def _write(db: str, storage: str, runs: list[str]) -> None:
    """One writer: its ratings and votes back to back, each id printed as soon as the write has returned."""
    lab = explorer.open(db, storage=storage or None)  # the author comes from EXPLORER_AUTHOR
    try:
        for i in range(RATINGS + VOTES):
            if i % 3 == 2:
                print("vote", lab.vote(runs[i % len(runs)], runs[(i + 1) % len(runs)]), flush=True)
            else:
                print("rating", lab.rate(runs[i % len(runs)], 1 + i % 5, tags=["load"]), flush=True)
    finally:
        lab.log.close()


if __name__ == "__main__":
    _write(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
