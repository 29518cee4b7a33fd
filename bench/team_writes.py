"""File log against team log, side by side: 1, 8 and 16 writer processes, at full speed and at human pace.

    python bench/team_writes.py [--seconds 10] [--human-seconds 15] [--processes 1,8,16] [--homes file,team] [--machines 1,2]

A write is ``lab.rate(run, score, tags=...)`` on a pre-made run, from its own process
(its own author). *Full speed*: every writer writes back to back for ``--seconds``.
*Human pace*: every writer writes once a second (at its own random phase) for
``--human-seconds``. For each: acknowledged writes per second in total, latency p50
and p99, and *lost* = acknowledged ids missing from the log afterwards (counted back
by id). The team log is DuckLake on a throwaway PostgreSQL (tests/postgres.py) with
its data in a temporary folder. Targets (team log): 16 writers at human pace p99 <=
250 ms and 0 lost; 16 at full speed >= 100 writes/s in total.

On the team log the writers are split over 1, then 2 "machines" (``--machines``), each its
own temporary folder (TMPDIR), so its own turn lock and group-commit spool
(explorer/log/group_commit.py), as on separate hosts; their commits meet in PostgreSQL. The
bench also counts DuckLake snapshots, one per commit: *writes/commit* is how many writes the
group commit carried in each.

Writers are started once per home (16 processes, each opens the log once and writes one
warm-up rating, left out of every figure) and reused for every phase; the ones a phase
does not use sit idle.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL server

from common import load, machine, pct  # noqa: E402
import explorer  # noqa: E402


def writer(index: int, db: str, storage: str | None, runs: list[str], orders, answers) -> None:
    """One writer process: opens the log once, then runs each phase it is sent until told to stop."""
    lab = explorer.open(db, storage=storage, author=f"w{index:02d}")
    lab.rate(runs[index % len(runs)], 3, tags=["warm-up"])  # one-time costs (first commit, the team turn's connection) before timing
    answers.put(("ready", index))
    rng = random.Random(index)
    while True:
        order = orders.get()
        if order is None:
            break
        pace, seconds, start_at = order
        while time.time() < start_at:
            time.sleep(min(0.01, max(0.0, start_at - time.time())))
        done, errors = [], []
        end_at = start_at + seconds
        next_at = start_at + rng.random()  # human pace: once a second, each at its own phase
        while True:
            if pace == "human":
                if next_at >= end_at:
                    break
                time.sleep(max(0.0, next_at - time.time()))
                next_at += 1.0
            elif time.time() >= end_at:
                break
            t = time.perf_counter()
            try:
                rating = lab.rate(rng.choice(runs), rng.randint(1, 5), tags=["bench"])
            except Exception as exc:  # counted and reported, not fatal: a benchmark of contention must see failures
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                continue
            done.append((rating, time.perf_counter() - t, time.time()))
        answers.put(("done", index, done, errors))
    lab.log.close()


def start_home(kind: str, folder: Path, postgres) -> tuple[str, str | None]:
    if kind == "file":
        return str(folder / "bench.duckdb"), None
    storage = folder / "shared"
    storage.mkdir()
    return postgres.new_database(empty=True), str(storage)


def bench_home(kind: str, db: str, storage: str | None, counts: list[int], seconds: float, human_seconds: float,
               machines: list[Path]) -> list[dict]:
    lab = explorer.open(db, storage=storage, author="bench")
    runs = [lab.log.start_run(explorer.Request(prompt=f"clip {i}"), author="bench") for i in range(20)]
    lab.log.close()
    ctx = mp.get_context("spawn")
    answers = ctx.Queue()
    most = max(counts)
    queues = [ctx.Queue() for _ in range(most)]
    procs = [ctx.Process(target=writer, args=(i, db, storage, runs, queues[i], answers)) for i in range(most)]
    for i, p in enumerate(procs):  # writer i on machine i mod N: every phase spreads its writers over all machines
        os.environ["TMPDIR"] = str(machines[i % len(machines)])
        p.start()
    os.environ.pop("TMPDIR")
    for _ in procs:
        assert answers.get(timeout=300)[0] == "ready"
    rows = []
    try:
        for n in counts:
            for pace, length in (("full", seconds), ("human", human_seconds)):
                time.sleep(1.0)  # let the previous phase's lingering connections settle
                start_at = time.time() + 0.5
                before = os.getloadavg()[0]
                snapshots = count_snapshots(db, storage)
                for q in queues[:n]:
                    q.put((pace, length, start_at))
                done, errors, shares = [], [], []
                for _ in range(n):
                    _, _, d, e = answers.get(timeout=length + 600)
                    done += d
                    errors += e
                    shares.append(len(d))
                after = os.getloadavg()[0]
                ids = [d[0] for d in done]
                latencies = [d[1] for d in done]
                elapsed = max([d[2] for d in done], default=start_at) - start_at
                lost = count_missing(db, storage, ids)
                commits = count_snapshots(db, storage) - snapshots if snapshots is not None else None
                row = dict(home=kind, writers=n, pace=pace, writes=len(ids), per_s=len(ids) / max(elapsed, 1e-9),
                           per_commit=len(ids) / commits if commits else None,
                           p50=pct(latencies, 50) if ids else float("nan"), p99=pct(latencies, 99) if ids else float("nan"),
                           max=max(latencies, default=float("nan")), lost=lost, errors=len(errors), load=(before + after) / 2,
                           shares=(min(shares), max(shares)))
                rows.append(row)
                print(f"{kind:4} {n:2} writers {pace:5}: {row['writes']:5} writes {row['per_s']:7.1f}/s  p50 {row['p50'] * 1000:7.1f} ms  "
                      f"p99 {row['p99'] * 1000:7.1f} ms  max {row['max'] * 1000:7.1f} ms  lost {lost}  errors {len(errors)}  "
                      f"per writer {min(shares)}-{max(shares)}  "
                      + (f"writes/commit {row['per_commit']:.1f}  " if row["per_commit"] else "") + f"load {row['load']:.1f}",
                      flush=True)
                for e in sorted(set(errors))[:3]:
                    print(f"      error: {e}", flush=True)
    finally:
        for q in queues:
            q.put(None)
        for p in procs:
            p.join(timeout=60)
    return rows


def count_snapshots(db: str, storage: str | None) -> int | None:
    """DuckLake snapshots so far (one per commit) on a team log; None on a file log."""
    if storage is None:
        return None
    lab = explorer.open(db, storage=storage, author="bench", create=False)
    try:
        return int(lab.log.query("SELECT count(*) AS n FROM ducklake_snapshots('lake')").n[0])
    finally:
        lab.log.close()


def count_missing(db: str, storage: str | None, ids: list[str]) -> int:
    """Acknowledged ids that the log does not hold (read back by a fresh process's view: a new connection)."""
    if not ids:
        return 0
    lab = explorer.open(db, storage=storage, author="bench", create=False)
    try:
        found = lab.log.query("SELECT count(DISTINCT id) AS n FROM ratings WHERE list_contains(?, id)", [ids]).n[0]
    finally:
        lab.log.close()
    return len(set(ids)) - int(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each full-speed phase")
    parser.add_argument("--human-seconds", type=float, default=15.0, help="length of each human-pace phase (one write a second per writer)")
    parser.add_argument("--processes", default="1,8,16", help="writer counts, comma-separated")
    parser.add_argument("--homes", default="file,team", help="file, team or both")
    parser.add_argument("--machines", default="1,2", help="team log: machine counts to split the writers over (each its own TMPDIR)")
    args = parser.parse_args()
    machine_counts = [int(m) for m in args.machines.split(",")]
    counts = [int(n) for n in args.processes.split(",")]
    print(f"machine: {machine()}; load average at start {load()}", flush=True)
    from postgres import PostgresServer

    postgres = PostgresServer().start() if "team" in args.homes else None
    setups = [("file", 1)] if "file" in args.homes.split(",") else []
    setups += [("team", m) for m in machine_counts] if "team" in args.homes.split(",") else []
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for kind, m in setups:
                home = Path(folder) / f"{kind}-{m}"
                home.mkdir()
                db, storage = start_home(kind, home, postgres)
                machines = [home / f"machine-{i}" for i in range(m)]
                for machine_folder in machines:
                    machine_folder.mkdir()
                print(f"-- {kind} log, writers on {m} machine(s)", flush=True)
                rows += [dict(r, machines=m) for r in bench_home(kind, db, storage, counts, args.seconds, args.human_seconds, machines)]
    finally:
        if postgres:
            postgres.stop()
    print(f"\nload average at end {load()}\n")
    labels = [(kind, m, "file" if kind == "file" else f"team, {m} machine{'s' * (m > 1)}") for kind, m in setups]
    print("| writers | pace | " + " | ".join(f"{label}: writes/s | p50 | p99 | lost" + (" | writes/commit" if kind == "team" else "")
                                         for kind, _, label in labels) + " |")
    print("| --- | --- | " + " | ".join("--- | --- | --- | ---" + (" | ---" if kind == "team" else "") for kind, _, _ in labels) + " |")
    by = {(r["home"], r["machines"], r["writers"], r["pace"]): r for r in rows}
    for n in counts:
        for pace in ("full", "human"):
            cells = []
            for kind, m, _ in labels:
                r = by[(kind, m, n, pace)]
                cells += [f"{r['per_s']:.0f}", f"{r['p50'] * 1000:.0f} ms", f"{r['p99'] * 1000:.0f} ms",
                          f"{r['lost']}" + (f" ({r['errors']} errors)" if r["errors"] else "")]
                if kind == "team":
                    cells.append(f"{r['per_commit']:.1f}" if r["per_commit"] else "–")
            print(f"| {n} | {pace} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
