"""The taste model's refit, timed at team scale (figures, not test assertions; see bench/README.md).

A refit is what happens after a vote arrives: cross-validation (5 folds) and the final fit, on every vote and on the
comparisons drawn from stars. Simulated: clips with six metrics, reviewers whose taste follows two of them with noise,
votes on random pairs, and one star per clip from each of three reviewers.

    python bench/taste_refit.py [--votes 10000,100000] [--clips 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load, machine, median  # noqa: E402

METRICS = ("motion", "flicker", "sharpness", "exposure", "clipped", "colourfulness")


def simulate(n_clips: int, n_votes: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """(values, votes, ratings, ceiling): the ceiling is how often the noiseless taste agrees with the votes."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"r{k:06d}" for k in range(n_clips)])
    values = pd.DataFrame({m: rng.normal(size=n_clips) for m in METRICS}, index=ids)
    taste = (values["sharpness"] - 0.5 * values["flicker"]).to_numpy()
    a = rng.integers(0, n_clips, n_votes)
    b = (a + rng.integers(1, n_clips, n_votes)) % n_clips
    a_wins = taste[a] - taste[b] + rng.logistic(0, 0.5, n_votes) > 0
    votes = pd.DataFrame({"winner_id": ids[np.where(a_wins, a, b)], "loser_id": ids[np.where(a_wins, b, a)],
                          "tie": False, "author": rng.choice(["ann", "bob", "cy"], n_votes)})
    ceiling = float(((taste[a] > taste[b]) == a_wins).mean())
    ratings = pd.DataFrame([{"run_id": i, "author": who, "score": int(np.clip(np.round(3 + t + rng.normal(0, 0.7)), 1, 5))}
                            for who in ("ann", "bob", "cy") for i, t in zip(ids[: n_clips // 4], taste[: n_clips // 4])])
    return values, votes, ratings, ceiling


def main() -> None:
    from explorer.review.taste import fit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", default="10000,100000", help="comma-separated vote counts")
    parser.add_argument("--clips", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}; load {load()}")
    for n_votes in (int(v) for v in args.votes.split(",")):
        values, votes, ratings, ceiling = simulate(args.clips, n_votes)
        times, model = [], None
        for _ in range(args.repeat):
            start = time.perf_counter()
            model = fit(values, votes, ratings)
            times.append(time.perf_counter() - start)
        print(f"refit  {args.clips:,} clips, {n_votes:>7,} votes + {model.star_pairs:,} star comparisons: "
              f"{median(times):6.2f} s median of {args.repeat} (5-fold CV + final fit); "
              f"held-out {model.accuracy:.1%} ({model.low:.1%}-{model.high:.1%}), simulated ceiling {ceiling:.1%}")


if __name__ == "__main__":
    main()
