"""Leaderboards that stay fast on big logs: counts folded in incrementally, intervals from the model's own Fisher information.

:func:`explorer.review.leaderboard.leaderboard` recomputes everything from
every vote and rating (with a bootstrap): right for a notebook, too slow for a
review panel polling a log of millions of rows. :class:`Standings` keeps, per
grouping, the pairwise win counts between groups and the star sums of each
(run, reviewer)'s latest rating, and on each call folds in only the rows added
since (DuckDB ``rowid``s grow as rows are appended, and the log never deletes).
Bradley–Terry is then fitted on the small group × group matrix (choix), and its
95 % intervals come from the inverse Fisher information of that fit rather than
a bootstrap: the same model, a few microseconds instead of seconds.

Groupings by a run column (``model``, ``backend``, ``guidance``, ``steps``,
``seed``, ``prompt``…) take this path; ``tag`` and ``extra.<name>`` fall back
to the full computation.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import choix
import numpy as np
import pandas as pd

from explorer.log import Log

COLUMN_KEYS = {
    "model": "coalesce(r.model, r.backend)",
    "backend": "r.backend",
    **{name: f"r.{name}" for name in ("prompt", "negative_prompt", "seed", "frames", "fps", "width", "height", "steps", "guidance", "author")},
}
COLUMNS = ["key", "bt_score", "ci_low", "ci_high", "votes", "mean_rating", "rating_ci_low", "rating_ci_high", "ratings", "runs"]
Z95 = 1.959964


class Standings:
    """The incremental state behind one grouping's leaderboard."""

    def __init__(self, log: Log, by: str):
        if by not in COLUMN_KEYS:
            raise ValueError(f"standings: {by!r} is not a run column; use explorer.review.leaderboard for tags and extras")
        self.log, self.by, self.key = log, by, COLUMN_KEYS[by]
        self._lock = threading.Lock()
        self._vote_mark = -1
        self._rating_mark = -1
        self._wins: dict[tuple[Any, Any], float] = {}  # (winner group, loser group) -> wins (ties count half each way)
        self._stars: dict[Any, list[float]] = {}  # group -> [n, sum, sum of squares]
        self._runs: dict[Any, int] = {}
        self._runs_stamp: tuple = ()

    def table(self) -> pd.DataFrame:
        with self._lock:
            self._fold_votes()
            self._fold_ratings()
            stamp = tuple(self.log.query("SELECT count(*) AS n, max(coalesce(finished_at, created_at)) AS t FROM runs").iloc[0])
            if stamp != self._runs_stamp:
                runs = self.log.query(f"SELECT {self.key} AS key, count(*) AS n FROM runs r WHERE r.status = 'succeeded' GROUP BY ALL")
                self._runs, self._runs_stamp = dict(zip(runs["key"], runs["n"])), stamp
            return self._table(self._runs)

    # -- folding in new rows ------------------------------------------------------------------

    def _fold_votes(self) -> None:
        if self._vote_mark >= 0:
            new = self.log.query("SELECT rowid AS rid, winner_id, loser_id, tie FROM votes WHERE rowid > ?", [self._vote_mark])
            if new.empty:
                return
            keys = self._keys_of({*new["winner_id"], *new["loser_id"]})
            for winner, loser, tie in zip(new["winner_id"], new["loser_id"], new["tie"]):
                self._add_win(keys.get(winner), keys.get(loser), bool(tie), 1)
            self._vote_mark = int(new["rid"].max())
            return
        kw, kl = self.key.replace("r.", "w."), self.key.replace("r.", "l.")
        new = self.log.query(
            f"""SELECT kw, kl, tie, count(*) AS n, max(rid) AS mark FROM (
                    SELECT v.rowid AS rid, {kw} AS kw, {kl} AS kl, v.tie FROM votes v
                    JOIN runs w ON w.id = v.winner_id JOIN runs l ON l.id = v.loser_id WHERE v.rowid > ?)
                GROUP BY ALL""", [self._vote_mark])
        if new.empty:
            return
        for winner, loser, tie, count in zip(new["kw"], new["kl"], new["tie"], new["n"]):
            self._add_win(winner, loser, bool(tie), int(count))
        self._vote_mark = int(new["mark"].max())

    def _add_win(self, winner: Any, loser: Any, tie: bool, count: int) -> None:
        if winner is None or loser is None or winner == loser:
            return
        if tie:
            self._wins[(winner, loser)] = self._wins.get((winner, loser), 0.0) + count / 2
            self._wins[(loser, winner)] = self._wins.get((loser, winner), 0.0) + count / 2
        else:
            self._wins[(winner, loser)] = self._wins.get((winner, loser), 0.0) + float(count)

    def _keys_of(self, run_ids: set[str]) -> dict[str, Any]:
        """The group of a few runs, by primary-key lookups (no join over the whole runs table)."""
        frame = self.log.query(f"SELECT r.id, {self.key} AS key FROM runs r WHERE r.id IN (SELECT unnest(?))", [sorted(run_ids)])
        return dict(zip(frame["id"], frame["key"]))

    def _fold_ratings(self) -> None:
        mark = int(self.log.query("SELECT coalesce(max(rowid), -1) AS m FROM ratings").m.iloc[0])
        if mark <= self._rating_mark:
            return
        if self._rating_mark < 0:  # first time: sums over each (run, reviewer)'s latest rating, in SQL
            frame = self.log.query(
                f"""SELECT {self.key} AS key, count(*) AS n, sum(l.score) AS s, sum(l.score * l.score) AS ss FROM (
                        SELECT run_id, score FROM ratings WHERE rowid <= ?
                        QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1) l
                    JOIN runs r ON r.id = l.run_id GROUP BY ALL""", [mark])
            self._stars = {k: [float(n), float(t), float(q)] for k, n, t, q in zip(frame["key"], frame["n"], frame["s"], frame["ss"])}
            self._rating_mark = mark
            return
        new = self.log.query("SELECT run_id, author, score FROM ratings WHERE rowid > ? AND rowid <= ? ORDER BY created_at, id",
                             [self._rating_mark, mark])
        runs = sorted(set(new["run_id"]))
        keys = self._keys_of(set(runs))
        # a new rating replaces the reviewer's earlier one on that run: find those, for just these runs
        old = self.log.query(
            """SELECT run_id, author, score FROM ratings WHERE run_id IN (SELECT unnest(?)) AND rowid <= ?
               QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1""",
            [runs, self._rating_mark])
        latest = {(r, a): (keys.get(r), int(sc)) for r, a, sc in zip(old["run_id"], old["author"], old["score"])}
        for run_id, author, score in zip(new["run_id"], new["author"], new["score"]):
            key = keys.get(run_id)
            previous = latest.get((run_id, author))
            if previous is not None:
                self._add_star(previous[0], previous[1], -1)
            latest[(run_id, author)] = (key, int(score))
            self._add_star(key, int(score), +1)
        self._rating_mark = mark

    def _add_star(self, key: Any, score: int, sign: int) -> None:
        n, total, squares = self._stars.get(key, [0, 0.0, 0.0])
        self._stars[key] = [n + sign, total + sign * score, squares + sign * score * score]

    # -- the table -----------------------------------------------------------------------------------

    def _table(self, runs: dict[Any, int]) -> pd.DataFrame:
        keys = list(dict.fromkeys([*runs, *(k for pair in self._wins for k in pair), *self._stars]))
        keys = [k for k in keys if k is not None and not (isinstance(k, float) and math.isnan(k))]
        voted = sorted({k for pair, w in self._wins.items() if w > 0 for k in pair}, key=keys.index)
        scores, low, high, votes = fit_with_intervals(voted, self._wins)
        rows = []
        for key in keys:
            n, total, squares = self._stars.get(key, [0, 0.0, 0.0])
            mean = total / n if n else math.nan
            half = _t_half_width(n, total, squares)
            rows.append({"key": key, "bt_score": scores.get(key, math.nan), "ci_low": low.get(key, math.nan), "ci_high": high.get(key, math.nan),
                         "votes": votes.get(key, 0), "mean_rating": mean, "rating_ci_low": max(1.0, mean - half) if n > 1 else math.nan,
                         "rating_ci_high": min(5.0, mean + half) if n > 1 else math.nan, "ratings": int(n), "runs": int(runs.get(key, 0))})
        frame = pd.DataFrame(rows, columns=COLUMNS)
        return frame.sort_values(["bt_score", "mean_rating"], ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def fit_with_intervals(items: list, wins: dict[tuple[Any, Any], float], alpha: float = 0.01) -> tuple[dict, dict, dict, dict]:
    """Bradley–Terry scores (centred), 95 % Wald intervals from the inverse Fisher information, and votes per item."""
    if len(items) < 2:
        return {}, {}, {}, {k: int(sum(w for pair, w in wins.items() if k in pair)) for k in items}
    index = {k: i for i, k in enumerate(items)}
    m = len(items)
    comp = np.zeros((m, m))
    for (a, b), w in wins.items():
        if a in index and b in index:
            comp[index[a], index[b]] += w
    params = choix.ilsr_pairwise_dense(comp, alpha=alpha / (m - 1), max_iter=1000, tol=1e-9)
    params = params - params.mean()
    n = comp + comp.T
    p = 1 / (1 + np.exp(-(params[:, None] - params[None, :])))
    weight = n * p * (1 - p)
    info = np.diag(weight.sum(axis=1)) - weight  # Fisher information (singular: scores are defined up to a shift)
    cov = np.linalg.pinv(info)  # the pseudo-inverse gives the covariance of the centred scores
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    votes = n.sum(axis=1)
    return ({k: float(params[i]) for k, i in index.items()}, {k: float(params[i] - Z95 * se[i]) for k, i in index.items()},
            {k: float(params[i] + Z95 * se[i]) for k, i in index.items()}, {k: int(round(votes[i])) for k, i in index.items()})


def _t_half_width(n: float, total: float, squares: float) -> float:
    if n < 2:
        return math.nan
    variance = max(0.0, (squares - total * total / n) / (n - 1))
    try:
        from scipy.stats import t

        quantile = float(t.ppf(0.975, n - 1))
    except ImportError:  # pragma: no cover - scipy comes with choix
        quantile = Z95
    return quantile * math.sqrt(variance / n)
