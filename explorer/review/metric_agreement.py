"""Which clip metric predicts the team's taste: pairwise accuracy against votes, rank correlation with stars.

>>> import pandas as pd
>>> values = pd.DataFrame({"motion": [1.0, 2.0, 3.0], "flicker": [3.0, 1.0, 2.0]}, index=["a", "b", "c"])
>>> votes = pd.DataFrame({"winner_id": ["c", "c", "b"], "loser_id": ["a", "b", "a"], "tie": [False] * 3, "author": ["ann"] * 3})
>>> table = agreement_table(values, votes, bootstrap=200)
>>> list(table.metric), list(table.accuracy.round(2)), list(table.direction)
(['motion', 'flicker'], [1.0, 0.67], ['higher', 'lower'])
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from explorer.lab import Lab

# What learned reward models reach on human pairwise preferences over generated video (VideoGen-RewardBench,
# Liu et al. 2025, "Improving Video Generation with Human Feedback"): the bar a cheap metric is read against.
REFERENCE = {"name": "learned video reward models (VideoGen-RewardBench)", "low": 0.61, "high": 0.74,
             "source": "Liu et al. 2025, Improving Video Generation with Human Feedback (arXiv:2501.13918)"}


def metric_agreement(lab: Lab, *, bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For each clip metric: how often it agrees with the team's votes, and its rank correlation with each reviewer's stars.

    One row per metric, best first (by pairwise accuracy): ``accuracy`` with its bootstrap 95 % interval
    (``low``, ``high``), the ``direction`` in which the metric agrees (``higher`` or ``lower`` values win), the
    ``votes`` it was scored on and the ``ties`` left out (tied votes, and pairs the metric cannot tell apart), then
    ``rho_<author>``: Spearman's rank correlation between the metric and that reviewer's latest stars (NaN under
    three rated runs). ``attrs["reference"]`` holds the 61–74 % that learned reward models reach on
    VideoGen-RewardBench; ``attrs["reviewers"]`` how many measured runs each reviewer rated.

    The direction is chosen from the votes themselves, so a metric with no signal reads a little above 50 %;
    its interval still holds 50 %. Metrics are the latest version of each (``explorer metrics --backfill`` for
    runs made before metrics existed).
    """
    from explorer.metrics import table

    values = table(lab.log)
    values.columns = [c.removeprefix("metric_") for c in values.columns]
    return agreement_table(values, lab.votes(), lab.ratings(), bootstrap=bootstrap, seed=seed)


def agreement_table(values: pd.DataFrame, votes: pd.DataFrame, ratings: pd.DataFrame | None = None, *, bootstrap: int = 1000,
                    seed: int = 0) -> pd.DataFrame:
    """:func:`metric_agreement` over plain frames: ``values`` (index run id, one column per metric), ``votes``
    (``winner_id``, ``loser_id``, ``tie``) and ``ratings`` (``run_id``, ``author``, ``score``; the latest per author counts)."""
    rng = np.random.default_rng(seed)
    played = votes[~votes["tie"].astype(bool)] if len(votes) else votes
    tied_votes = len(votes) - len(played)
    stars = _latest_stars(ratings)
    authors = sorted(stars) if stars else []
    rows = []
    for metric in values.columns:
        column = values[metric].astype("float64")
        known = column.dropna()
        row: dict = {"metric": metric}
        if len(played):
            w = played["winner_id"].map(known).to_numpy(dtype=float)
            lo = played["loser_id"].map(known).to_numpy(dtype=float)
            both = ~(np.isnan(w) | np.isnan(lo))
            diff = (w - lo)[both]
            told = diff != 0
            n = int(told.sum())
            row.update(votes=n, ties=tied_votes + int((~told).sum()))
            if n:
                higher = float((diff[told] > 0).mean())
                direction = "higher" if higher >= 0.5 else "lower"
                accuracy = higher if direction == "higher" else 1.0 - higher
                low, high = binomial_interval(n, accuracy, rng, bootstrap)
                row.update(accuracy=accuracy, low=low, high=high, direction=direction)
        else:
            row.update(votes=0, ties=tied_votes)
        for author in authors:
            row[f"rho_{author}"] = spearman(known, stars[author])
        rows.append(row)
    columns = ["metric", "accuracy", "low", "high", "direction", "votes", "ties", *[f"rho_{a}" for a in authors]]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    order = frame.assign(_mean_rho=frame[[f"rho_{a}" for a in authors]].abs().mean(axis=1) if authors else 0.0)
    frame = frame.loc[order.sort_values(["accuracy", "_mean_rho"], ascending=False, na_position="last", kind="stable").index]
    frame = frame.reset_index(drop=True)
    frame.attrs["reference"] = dict(REFERENCE)
    frame.attrs["reviewers"] = {a: int(stars[a].index.isin(values.index).sum()) for a in authors}
    return frame


def binomial_interval(n: int, accuracy: float, rng: np.random.Generator, draws: int = 1000) -> tuple[float, float]:
    """Bootstrap 95 % interval of an accuracy over ``n`` right-or-wrong outcomes.

    The bootstrap of a mean of 0/1 outcomes over resampled votes is a binomial draw: exact, and no n × B matrix.
    """
    sampled = rng.binomial(n, min(1.0, max(0.0, accuracy)), size=draws) / n
    return float(np.quantile(sampled, 0.025)), float(np.quantile(sampled, 0.975))


def _latest_stars(ratings: pd.DataFrame | None) -> dict[str, pd.Series]:
    """Each reviewer's latest stars per run, as ``{author: Series(score, index=run_id)}``."""
    if ratings is None or ratings.empty:
        return {}
    frame = ratings.sort_values("created_at", kind="stable") if "created_at" in ratings.columns else ratings
    frame = frame.drop_duplicates(["author", "run_id"], keep="last")
    return {author: group.set_index("run_id")["score"].astype(float) for author, group in frame.groupby("author")}


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation over the index both series share (average ranks for ties); NaN under 3 or when constant.

    >>> round(spearman(pd.Series([1, 2, 3, 4]), pd.Series([10, 20, 40, 30])), 2)
    0.8
    """
    joined = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner").dropna()
    if len(joined) < 3:
        return math.nan
    rx, ry = joined["x"].rank().to_numpy(), joined["y"].rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])
