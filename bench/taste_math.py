"""The taste math at team scale, timed (figures, not test assertions; see bench/README.md).

  bradley_terry   1,000 clips, 100,000 votes, bootstrap intervals (as leaderboard() computes them)
  next_pair       10,000 candidate clips, 5,000 votes among 200 of them: unrelated prompts, and 50 prompts (related pairs)

    python bench/taste_math.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median  # noqa: E402


def simulate_votes(n_items: int, n_votes: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1, n_items)
    a = rng.integers(0, n_items, n_votes)
    b = (a + rng.integers(1, n_items, n_votes)) % n_items
    a_wins = rng.random(n_votes) < 1 / (1 + np.exp(truth[b] - truth[a]))
    names = np.array([f"i{k}" for k in range(n_items)])
    return pd.DataFrame({"winner_id": names[np.where(a_wins, a, b)], "loser_id": names[np.where(a_wins, b, a)],
                         "tie": rng.random(n_votes) < 0.05})


class _StubLab:
    """Only what next_pair reads: votes and the runs' prompts/sweeps/parents, in memory, so the figure is the sampler's."""

    def __init__(self, ids: list[str], prompts: list[str], votes: pd.DataFrame):
        self._meta = pd.DataFrame({"id": ids, "prompt": prompts, "sweep_id": None, "parent_id": None})
        self._votes = votes

    def votes(self) -> pd.DataFrame:
        return self._votes


def _without_taste_model() -> None:
    """The stub has no log (no metrics): the figure is the sampler's; the taste model's own cost is bench/taste_refit.py's."""
    from explorer.review import pairs

    pairs._taste = lambda lab, ids: {}

    def sql(self, query: str, params=None) -> pd.DataFrame:
        return self._meta if "prompt" in query else pd.DataFrame()


def main() -> None:
    from explorer.review import bradley_terry, next_pair

    _without_taste_model()

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")

    votes = simulate_votes(1000, 100_000)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        bradley_terry(votes, bootstrap=200)
        times.append(time.perf_counter() - start)
    print(f"bradley_terry  1,000 clips, 100,000 votes, bootstrap: {median(times):6.2f} s median of {args.repeat}")

    ids = [f"run{k:05d}" for k in range(10_000)]
    rng = np.random.default_rng(0)
    heavy = ids[:200]
    pair_votes = pd.DataFrame({"winner_id": rng.choice(heavy, 5000), "loser_id": rng.choice(heavy, 5000), "tie": False}).query("winner_id != loser_id")
    for label, prompts in (("unrelated prompts", [f"prompt {k}" for k in range(10_000)]),
                           ("50 prompts      ", [f"idea {k % 50}" for k in range(10_000)])):
        lab = _StubLab(ids, prompts, pair_votes)
        times = []
        for k in range(20 * args.repeat):
            start = time.perf_counter()
            next_pair(lab, ids, rng=random.Random(k))
            times.append(time.perf_counter() - start)
        print(f"next_pair      10,000 candidates, {label}: {median(times) * 1000:6.1f} ms median, {max(times) * 1000:6.1f} ms max")


if __name__ == "__main__":
    main()
