"""Review queries at scale, file log and team log side by side: 1M runs, 8M ratings, 2M votes.

Builds (once, cached in --data) a file log with --runs runs over 8 models,
--ratings ratings by 40 reviewers and --votes pairwise votes, through Arrow
bulk inserts; then copies it (Log.bulk_insert, in chunks) into a team log on a
throwaway PostgreSQL (tests/postgres.py) and a shared folder. On each home it
times, in this process, what the review panel's requests run on the server
(the calls explorer/server/api.py makes; HTTP and JSON left out, ~1-3 ms):

  leaderboard    Standings(log, "model").table()                                target <= 100 ms
                 (also right after a new vote and a new rating: the folds, cost per kept clip included)
  page of 50     runs(author=bea, limit=50, offset=500, me=...) + count_runs()  target <= 30 ms
  sort by rating runs(sort=rating, limit=50, me=...) + count_runs()             target <= 300 ms
  filter rating  runs(min_rating=4, limit=50, me=...) + count_runs()            target <= 300 ms
  text search    runs(text="neon ocean", limit=50, me=...) + count_runs()       target <= 50 ms

"before" runs the same calls through the queries module of --before (a git
revision; default: the summary and prompt index without the runs index) on the
same logs, fewer times, and says whether both gave the same rows. For each call
it also prints the log statements one request runs on an unchanged log (now and
before), with their time: where the time goes. Also timed:
the first use of the summary and of the index (paid once per process and
log; the runs index too), a page right after a new rating, a search right
after a new run and right after that run's status changes. Every
figure is printed with the load average: the machine is shared.

    python bench/review_queries.py [--runs 1000000] [--ratings 8000000] [--votes 2000000] [--repeat 15] [--homes file,team]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from common import machine, median, pct  # noqa: E402
from explorer.log import Log  # noqa: E402

MODELS = [f"org/model-{i}" for i in range(8)]
WORDS = "sunset neon ocean forest fire snow candy night birds rain spiral zoom orbit wave bounce pulse city mountains stars bubbles".split()


def build(path: Path, runs: int, ratings: int, votes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    log = Log(path)
    started = time.perf_counter()
    ids = np.array([f"{i:012x}" for i in range(runs)])
    model_of = rng.integers(0, len(MODELS), runs)
    strength = np.linspace(-1, 1, len(MODELS))[model_of] + rng.normal(0, 0.5, runs)
    created = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(runs) * 7, unit="s")
    prompts = [" ".join(rng.choice(WORDS, 4)) for _ in range(min(runs, 50_000))]
    for start in range(0, runs, 250_000):
        stop = min(runs, start + 250_000)
        n = stop - start
        frame = pd.DataFrame({
            "id": ids[start:stop], "created_at": created[start:stop], "finished_at": created[start:stop], "author": rng.choice(["ada", "bea", "cy", "dev"], n),
            "status": "succeeded", "backend": "diffusers", "model": np.array(MODELS)[model_of[start:stop]],
            "prompt": np.array(prompts)[np.arange(start, stop) % len(prompts)], "negative_prompt": "", "seed": np.arange(start, stop),
            "frames": 16, "fps": 8.0, "width": 512, "height": 512, "steps": 30, "guidance": 7.5, "parent_id": None,
            "request": "{}", "duration_s": 10.0, "media_sha256": None,
        })
        log.bulk_insert("runs", frame)
    reviewers = np.array([f"reviewer{i}" for i in range(40)])
    for start in range(0, ratings, 1_000_000):
        n = min(ratings, start + 1_000_000) - start
        which = rng.integers(0, runs, n)
        score = np.clip(np.round(3 + strength[which] + rng.normal(0, 0.8, n)), 1, 5).astype("int32")
        log.bulk_insert("ratings", pd.DataFrame({
            "id": [f"r{start + i:011x}" for i in range(n)], "run_id": ids[which], "author": rng.choice(reviewers, n),
            "created_at": pd.Timestamp("2026-02-01") + pd.to_timedelta(np.arange(start, start + n), unit="ms"),
            "score": score, "tags": [["bench"]] * n, "note": None}))
    for start in range(0, votes, 1_000_000):
        n = min(votes, start + 1_000_000) - start
        a, b = rng.integers(0, runs, n), rng.integers(0, runs, n)
        a_wins = rng.random(n) < 1 / (1 + np.exp(strength[b] - strength[a]))
        log.bulk_insert("votes", pd.DataFrame({
            "id": [f"v{start + i:011x}" for i in range(n)], "winner_id": np.where(a_wins, ids[a], ids[b]), "loser_id": np.where(a_wins, ids[b], ids[a]),
            "tie": False, "author": rng.choice(reviewers, n),
            "created_at": pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(start, start + n), unit="ms")}))
    log.close()
    print(f"built {runs:,} runs, {ratings:,} ratings, {votes:,} votes in {time.perf_counter() - started:.0f} s "
          f"({path.stat().st_size / 1e6:.0f} MB)")


def load() -> str:
    return "load {:.1f}".format(os.getloadavg()[0])


def copy_to_team(source: Path, log: Log, chunk: int = 1_000_000) -> None:
    """The file log's rows into a team log, table by table, in chunks (Log.bulk_insert: Arrow → Parquet on the lake)."""
    import duckdb

    started = time.perf_counter()
    conn = duckdb.connect(str(source), read_only=True)
    try:
        for table in ("runs", "ratings", "votes"):
            total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for start in range(0, total, chunk):
                frame = conn.execute(f"SELECT * FROM {table} WHERE rowid >= ? AND rowid < ? ORDER BY rowid", [start, start + chunk]).df()
                log.bulk_insert(table, frame)
    finally:
        conn.close()
    print(f"  copied into the team log in {time.perf_counter() - started:.0f} s ({load()})", flush=True)


def queries_at(revision: str):
    """The queries module as it was at ``revision`` (imported under another name, beside today's)."""
    text = subprocess.run(["git", "show", f"{revision}:explorer/log/queries.py"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "queries_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("queries_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(work, repeat: int) -> tuple[float, list[float], object]:
    t = time.perf_counter()
    result = work()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t)
    return first, times, result


CALLS = [  # name, runs() filters, target ms
    ("page of 50, filtered", dict(author="bea", limit=50, offset=500), 30),
    ("sort by rating", dict(sort="rating", limit=50), 300),
    ("filter by rating", dict(min_rating=4, limit=50), 300),
    ("text search", dict(text="neon ocean", limit=50), 50),
]


def panel_request(queries, log: Log, filters: dict) -> tuple:
    """What GET explorer/api/runs runs: the page, then the total."""
    args = {k: v for k, v in filters.items() if k not in ("limit", "offset")}
    page = queries.runs(log, **filters, me="reviewer1")
    total = queries.count_runs(log, **{k: v for k, v in args.items() if k != "sort"})
    return page, total


class StatementCount:
    """Counts the log statements (and their time) run inside ``with`` by wrapping the log's session: where a request's time goes."""

    def __init__(self, log: Log):
        self.log, self.statements = log, []

    def __enter__(self):
        from contextlib import contextmanager

        original, statements = self.log.connection.session, self.statements

        class Timed:
            def __init__(self, conn):
                self._conn = conn

            def execute(self, sql, params=None):
                t = time.perf_counter()
                result = self._conn.execute(sql, params or [])
                statements.append((time.perf_counter() - t, " ".join(sql.split())[:60]))
                return result

            def __getattr__(self, name):
                return getattr(self._conn, name)

        @contextmanager
        def session():
            with original() as conn:
                yield Timed(conn)

        self.log.connection.session = session
        return self

    def __exit__(self, *exc):
        del self.log.connection.session  # the instance attribute: the class's method shows again

    def __str__(self) -> str:
        if not self.statements:
            return "0 log statements"
        each = ", ".join(f"{sql.split()[0]}…{sql[-25:]} {d * 1000:.1f} ms" for d, sql in self.statements)
        return f"{len(self.statements)} log statement(s), {sum(d for d, _ in self.statements) * 1000:.1f} ms: {each}"


def bench_home(name: str, log: Log, args, before) -> dict:
    from explorer.log import queries
    from explorer.log.runs_index import runs_index_for
    from explorer.log.search import search_for
    from explorer.log.summary import summary_for
    from explorer.review.standings import Standings

    results = {}
    print(f"{name} log:", flush=True)
    t = time.perf_counter()
    summary_for(log).refresh()
    print(f"  first use of the rating summary: {time.perf_counter() - t:.1f} s ({load()})", flush=True)
    t = time.perf_counter()
    search_for(log).refresh()
    print(f"  first use of the prompt index (read 1M prompts + build): {time.perf_counter() - t:.1f} s ({load()})", flush=True)
    t = time.perf_counter()
    runs_index_for(log).refresh()
    print(f"  first use of the runs index (read 1M runs' listed columns, sort, encode): {time.perf_counter() - t:.1f} s ({load()})", flush=True)
    standings = Standings(log, "model")
    first, times, board = timed(standings.table, args.repeat)
    results["leaderboard"] = (first, times)
    print(f"  {'leaderboard':22} first {first * 1000:8.1f} ms   p50 {pct(times, 50) * 1000:7.1f} ms   p95 {pct(times, 95) * 1000:7.1f} ms"
          f"   (target <= 100 ms; {load()})", flush=True)
    for call, filters, target in CALLS:
        first, times, (page, total) = timed(lambda: panel_request(queries, log, filters), args.repeat)
        results[call] = (first, times, page, total)
        line = (f"  {call:22} first {first * 1000:8.1f} ms   p50 {pct(times, 50) * 1000:7.1f} ms   p95 {pct(times, 95) * 1000:7.1f} ms"
                f"   (target <= {target} ms; {load()}; total {total:,})")
        with StatementCount(log) as counted:
            panel_request(queries, log, filters)
        line += f"\n  {'':22} an unchanged log: {counted}"
        if before is not None:
            with StatementCount(log) as counted:
                panel_request(before, log, filters)
            line += f"\n  {'':22} before: {counted}"
            b_first, b_times, (b_page, b_total) = timed(lambda: panel_request(before, log, filters), args.before_repeat)
            same = b_total == total and list(b_page["id"]) == list(page["id"]) and list(b_page["ratings"]) == list(page["ratings"])
            line += f"\n  {'':22} before: first {b_first * 1000:8.1f} ms   p50 {pct(b_times, 50) * 1000:7.1f} ms ({load()}); same rows: {same}"
        print(line, flush=True)
    # another writer: a new rating, then the next page folds it in; a new run, then the next search
    ids = list(results["page of 50, filtered"][2]["id"])
    log.rate(ids[0], 5, author="reviewer1", tags=["new"])
    t = time.perf_counter()
    page, _ = panel_request(queries, log, CALLS[0][1])
    print(f"  page right after a new rating (fold): {(time.perf_counter() - t) * 1000:.1f} ms ({load()}); "
          f"its my_rating {page.set_index('id').at[ids[0], 'my_rating']}", flush=True)
    from explorer.request import Request

    log.start_run(Request(prompt="a neon ocean at dusk", backend="sketch"), author="bench")
    t = time.perf_counter()
    page, total = panel_request(queries, log, CALLS[3][1])
    print(f"  search right after a new run (tail): {(time.perf_counter() - t) * 1000:.1f} ms ({load()}); total {total:,}", flush=True)
    new = page.iloc[0]["id"]
    log.finish_run(new, "failed", error="bench")
    t = time.perf_counter()
    page, total = panel_request(queries, log, CALLS[3][1])
    print(f"  search right after a status change: {(time.perf_counter() - t) * 1000:.1f} ms ({load()}); "
          f"its status {page.set_index('id').at[new, 'status']}", flush=True)
    # the leaderboard after another reviewer's vote, then rating: votes, stars and the cost per kept clip fold in
    # just what changed (kept: only the clips the new rows touched)
    for label, write in (("vote", lambda: log.vote(ids[1], ids[2], author="reviewer2")), ("rating", lambda: log.rate(ids[2], 5, author="reviewer2"))):
        changed = []
        for _ in range(max(3, args.repeat // 3)):
            write()
            t = time.perf_counter()
            board = standings.table()
            changed.append(time.perf_counter() - t)
        print(f"  leaderboard right after a new {label:6} p50 {pct(changed, 50) * 1000:7.1f} ms   max {max(changed) * 1000:7.1f} ms"
              f"   (target <= 100 ms; {load()}; kept {int(board['kept'].sum()) if 'kept' in board else '-'})", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--ratings", type=int, default=8_000_000)
    parser.add_argument("--votes", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--before", default="625348a", help="git revision of the queries to compare with ('' for none; b94094a~1: no summary, no index)")
    parser.add_argument("--before-repeat", type=int, default=3)
    parser.add_argument("--homes", default="file,team")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "explorer-bench-review")
    args = parser.parse_args()

    root = args.data / f"{args.runs}-{args.ratings}-{args.votes}"
    root.mkdir(parents=True, exist_ok=True)
    path = root / "explorer.duckdb"
    if not (root / "complete").exists():
        for leftover in root.glob("explorer.duckdb*"):
            leftover.unlink()
        build(path, args.runs, args.ratings, args.votes)
        (root / "complete").touch()
    print(f"machine: {machine()} ({load()})", flush=True)
    before = queries_at(args.before) if args.before else None
    homes = args.homes.split(",")
    if "file" in homes:
        work = root / "work.duckdb"  # a copy: the bench writes a rating and a run
        subprocess.run(["cp", str(path), str(work)], check=True)
        log = Log(work)
        try:
            bench_home("file", log, args, before)
        finally:
            log.close()
            work.unlink()
    if "team" in homes:
        from postgres import PostgresServer

        server = PostgresServer().start()
        try:
            shared = Path(tempfile.mkdtemp(prefix="explorer-bench-lake-"))
            log = Log(server.new_database(), storage=shared)
            copy_to_team(path, log)
            try:
                bench_home("team", log, args, before)
            finally:
                log.close()
                subprocess.run(["rm", "-rf", str(shared)])
        finally:
            server.stop()


if __name__ == "__main__":
    main()
