"""Do reviewers agree? Krippendorff's alpha over star ratings, consensus agreement over votes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

STARS = [1, 2, 3, 4, 5]


def star_agreement(ratings: pd.DataFrame) -> float:
    """Krippendorff's alpha (ordinal, stars 1–5) over the reviewer × run matrix of scores.

    Each author's latest score per run counts (the latest by ``created_at`` when the frame
    has several; ``lab.ratings()`` already gives only those). 1 is perfect agreement, 0 is
    what chance gives, below 0 systematic disagreement. NaN without a run that two
    reviewers rated, or when the scores do not vary at all.

    Krippendorff's (2011) worked example, four coders on twelve units, ordinal alpha 0.815:

    >>> rows = {"A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None], "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    ...         "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None], "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]}
    >>> r = pd.DataFrame([(a, f"u{k}", s) for a, row in rows.items() for k, s in enumerate(row) if s is not None],
    ...                  columns=["author", "run_id", "score"])
    >>> round(star_agreement(r), 3)
    0.815
    """
    if ratings.empty:
        return math.nan
    frame = ratings
    if "created_at" in frame.columns:
        frame = frame.sort_values("created_at", kind="stable")
    frame = frame.drop_duplicates(["author", "run_id"], keep="last")
    matrix = frame.pivot(index="author", columns="run_id", values="score").to_numpy(dtype=float)
    if matrix.shape[0] < 2 or not ((~np.isnan(matrix)).sum(axis=0) >= 2).any():
        return math.nan
    pairable = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]
    if np.unique(pairable[~np.isnan(pairable)]).size < 2:
        return math.nan  # no variation: alpha is 0 / 0
    import krippendorff  # imported when there are ratings to compare, not with the leaderboard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal", value_domain=STARS)
    return float(value)


def vote_agreement(votes: pd.DataFrame) -> pd.DataFrame:
    """Per reviewer: ``votes`` cast (ties included), ``compared`` and ``agreement``.

    For each of a reviewer's non-tie votes, look at the OTHER reviewers' non-tie votes on
    the same pair: the vote scores 1 when most of them went the same way, 0 when most went
    the other way, ½ on an even split. ``compared`` counts the votes where others voted on
    that pair; ``agreement`` is their mean (NaN when there are none). Sorted by author.

    >>> v = pd.DataFrame({"winner_id": ["a", "a", "a", "b", "a"], "loser_id": ["b", "b", "b", "a", "c"],
    ...                   "tie": [False] * 5, "author": ["ann", "bob", "dan", "cat", "ann"]})
    >>> vote_agreement(v)[["author", "compared", "agreement"]].to_dict("records")  # cat alone prefers b
    [{'author': 'ann', 'compared': 1, 'agreement': 1.0}, {'author': 'bob', 'compared': 1, 'agreement': 1.0}, {'author': 'cat', 'compared': 1, 'agreement': 0.0}, {'author': 'dan', 'compared': 1, 'agreement': 1.0}]
    """
    columns = ["author", "votes", "compared", "agreement"]
    if votes.empty:
        return pd.DataFrame(columns=columns)
    tie = votes["tie"].fillna(False).astype(bool).to_numpy() if "tie" in votes else np.zeros(len(votes), dtype=bool)
    cast = votes.groupby("author", sort=True).size().rename("votes")
    v = votes.loc[~tie & (votes["winner_id"] != votes["loser_id"]), ["winner_id", "loser_id", "author"]]
    w, l = v["winner_id"].astype(str), v["loser_id"].astype(str)
    first = w.where(w < l, l)
    d = pd.DataFrame({"pair": first + "\x00" + w.where(w >= l, l), "author": v["author"].to_numpy(),
                      "sign": np.where(w == first, 1, -1)}, index=v.index)
    # net preference (first item over second) and vote count: per pair, and per pair and author
    pair = d.groupby("pair")["sign"].agg(["sum", "count"])
    mine = d.groupby(["pair", "author"])["sign"].agg(["sum", "count"]).add_suffix("_mine")
    d = d.join(pair, on="pair").join(mine, on=["pair", "author"])
    others_net = d["sum"] - d["sum_mine"]
    others_n = d["count"] - d["count_mine"]
    lean = others_net * d["sign"]
    d["score"] = np.where(lean > 0, 1.0, np.where(lean < 0, 0.0, 0.5))
    d = d[others_n > 0]
    per = d.groupby("author")["score"].agg(["count", "mean"]).rename(columns={"count": "compared", "mean": "agreement"})
    out = pd.concat([cast, per], axis=1).rename_axis("author").reset_index()
    out["compared"] = out["compared"].fillna(0).astype(int)
    out["votes"] = out["votes"].astype(int)
    out["agreement"] = out["agreement"].astype(float)
    return out[columns].sort_values("author", kind="stable").reset_index(drop=True)
