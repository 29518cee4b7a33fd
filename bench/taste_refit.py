"""The taste model's refit, timed at team scale (figures, not test assertions; see bench/README.md).

A refit is what happens after a vote arrives: cross-validation (5 folds) and the final fit, on every vote and on the
comparisons drawn from stars. Simulated: clips with six metrics, reviewers whose taste follows two of them with noise,
votes on random pairs, and one star per clip from each of three reviewers. Then the same with a CLIP embedding per
clip (random unit vectors of ``--dims`` numbers): reducing them to 8 components (PCA) and fitting over 6 + 8 features.

    python bench/taste_refit.py [--votes 10000,100000] [--clips 20000] [--repeat 3] [--dims 512]
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
    from explorer import embeddings
    from explorer.review.taste import fit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", default="10000,100000", help="comma-separated vote counts")
    parser.add_argument("--clips", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dims", type=int, default=512, help="CLIP embedding size (ViT-B/32: 512, ViT-L/14: 768); 0 skips")
    args = parser.parse_args()
    print(f"machine: {machine()}; load {load()}")
    vectors = None
    if args.dims:
        vectors = pd.DataFrame(np.random.default_rng(1).normal(size=(args.clips, args.dims)).astype(np.float32),
                               index=[f"r{k:06d}" for k in range(args.clips)])
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
        if vectors is None:
            continue
        reduce_times, fit_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            reduction = embeddings.reduce(vectors)
            features = values.join(reduction.apply(vectors))
            reduce_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model = fit(features, votes, ratings)
            fit_times.append(time.perf_counter() - start)
        print(f"  + CLIP embeddings ({args.dims}-d -> {len(reduction.names)} components): reduce {median(reduce_times):.2f} s, "
              f"refit {median(fit_times):.2f} s over {len(model.features)} features; held-out {model.accuracy:.1%}")


if __name__ == "__main__":
    main()
