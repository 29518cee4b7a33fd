"""(b) Log writes: single rating latency with 1 writer and with 8 writer processes; bulk import rows/s.

    python bench/log_writes.py [--ratings 400] [--processes 8] [--bulk 1000000]

Targets: 1 writer p99 <= 5 ms. Bulk import goes through Arrow/pandas
(`Log.bulk_insert`), never row-by-row `executemany` (~1,000 rows/s).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import machine, pct
from explorer.log import Log
from explorer.request import Request


def make_log(path: Path, runs: int = 20) -> list[str]:
    log = Log(path)
    ids = [log.start_run(Request(prompt=f"clip {i}"), author="bench") for i in range(runs)]
    log.close()
    return ids


def rate_many(path: Path, run_ids: list[str], count: int, author: str, start=None, results=None) -> list[float]:
    log = Log(path)
    if start is not None:
        start.wait()
    latencies = []
    for i in range(count):
        t = time.perf_counter()
        log.rate(run_ids[i % len(run_ids)], 1 + i % 5, author=author, tags=["bench"])
        latencies.append(time.perf_counter() - t)
    log.close()
    if results is not None:
        results.put(latencies)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=400, help="ratings per writer")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--bulk", type=int, default=1_000_000, help="rows for the bulk import")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.duckdb"
        run_ids = make_log(path)

        one = rate_many(path, run_ids, args.ratings, "solo")
        print(f"1 writer, {args.ratings} ratings:        p50 {pct(one, 50) * 1000:6.2f} ms   p99 {pct(one, 99) * 1000:6.2f} ms   (target p99 <= 5 ms)")

        ctx = mp.get_context("spawn")
        start, results = ctx.Event(), ctx.Queue()
        per_process = max(1, args.ratings // 4)
        workers = [ctx.Process(target=rate_many, args=(path, run_ids, per_process, f"w{i}", start, results)) for i in range(args.processes)]
        for w in workers:
            w.start()
        time.sleep(1.0)  # let every process import and open before the gun
        began = time.perf_counter()
        start.set()
        latencies = [x for _ in workers for x in results.get(timeout=600)]
        elapsed = time.perf_counter() - began
        for w in workers:
            w.join()
        log = Log(path)
        stored = int(log.query("SELECT count(*) AS n FROM ratings WHERE author LIKE 'w%'").n[0])
        print(f"{args.processes} writer processes, {per_process} each:  p50 {pct(latencies, 50) * 1000:6.2f} ms   p99 {pct(latencies, 99) * 1000:6.2f} ms   "
              f"{len(latencies) / elapsed:6.0f} rows/s total   lost {args.processes * per_process - stored}")

        rng = np.random.default_rng(0)
        frame = pd.DataFrame({
            "id": [f"b{i:011x}" for i in range(args.bulk)],
            "run_id": rng.choice(run_ids, args.bulk),
            "author": rng.choice(["ada", "bea", "cy"], args.bulk),
            "created_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(args.bulk), unit="s"),
            "score": rng.integers(1, 6, args.bulk).astype("int32"),
            "tags": [["bulk"]] * args.bulk,
            "note": None,
        })
        t = time.perf_counter()
        log.bulk_insert("ratings", frame)
        bulk = time.perf_counter() - t
        print(f"bulk import of {args.bulk:,} ratings (Arrow/pandas):  {args.bulk / bulk:,.0f} rows/s ({bulk:.2f} s)")
        log.close()


if __name__ == "__main__":
    main()
