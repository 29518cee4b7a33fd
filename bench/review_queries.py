"""Review queries at scale: 1M runs and 10M ratings + votes; server time per request for the review panel's calls.

Builds (once, cached in --data) a log with --runs runs over 8 models, --ratings
ratings by 40 reviewers and --votes pairwise votes, through Arrow bulk inserts;
then starts a real `jupyter lab` on it and times, over HTTP on 127.0.0.1 (so
each figure includes the request's own overhead, ~1 ms):

  leaderboard   GET /explorer/api/leaderboard?by=model          target <= 100 ms
  page          GET /explorer/api/runs?backend=…&limit=50         target <= 30 ms
  text search   GET /explorer/api/runs?text=…&limit=50            target <= 200 ms

    python bench/review_queries.py [--runs 1000000] [--ratings 8000000] [--votes 2000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))

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


def timed(url: str, token: str, repeat: int) -> tuple[list[float], dict]:
    times, body = [], None
    for _ in range(repeat):
        request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        t = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            body = json.loads(response.read())
        times.append(time.perf_counter() - t)
    return times, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--ratings", type=int, default=8_000_000)
    parser.add_argument("--votes", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "explorer-bench-review")
    args = parser.parse_args()
    from lab import start_jupyter_server, stop_jupyter_server

    root = args.data / f"{args.runs}-{args.ratings}-{args.votes}"
    root.mkdir(parents=True, exist_ok=True)
    path = root / "explorer.duckdb"
    if not (root / "complete").exists():
        for leftover in root.glob("explorer.duckdb*"):
            leftover.unlink()
        build(path, args.runs, args.ratings, args.votes)
        (root / "complete").touch()
    print(f"machine: {machine()}")
    server = start_jupyter_server(args.data / "server", root=root, timeout=120)
    try:
        base = f"{server.url}explorer/api/"
        results = {}
        for name, query, target in (
            ("leaderboard", "leaderboard?by=model", 100),
            ("page of 50, filtered", "runs?author=bea&limit=50&offset=500", 30),
            ("text search", "runs?text=neon%20ocean&limit=50", 200),
        ):
            first, _ = timed(base + query, server.token, 1)  # cold: first touch of the data (and caches)
            times, body = timed(base + query, server.token, args.repeat)
            results[name] = (first[0], times, body)
            print(f"  {name:22} first {first[0] * 1000:8.1f} ms   p50 {pct(times, 50) * 1000:7.1f} ms   p95 {pct(times, 95) * 1000:7.1f} ms"
                  f"   (target <= {target} ms)")
        board = results["leaderboard"][2]["rows"]
        print("  leaderboard order:", ", ".join(f"{r['key']} {r['bt_score']:+.2f}" for r in board[:8] if r["bt_score"] is not None))
        # a vote arrives: the next leaderboard folds in just the new rows
        vote = json.dumps({"winner_id": f"{0:012x}", "loser_id": f"{1:012x}"}).encode()
        request = urllib.request.Request(base + "votes", data=vote, method="POST",
                                         headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=60).read()
        after, _ = timed(base + "leaderboard?by=model", server.token, 1)
        print(f"  leaderboard after a new vote: {after[0] * 1000:.1f} ms")
    finally:
        stop_jupyter_server(server)


if __name__ == "__main__":
    main()
