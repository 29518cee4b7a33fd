"""Leaderboards that stay fast on big logs: counts folded in incrementally, intervals from the model's own Fisher information.

:func:`explorer.review.leaderboard.leaderboard` recomputes everything from
every vote and rating (with a bootstrap): right for a notebook, too slow for a
review panel polling a log of millions of rows. :class:`Standings` keeps, per
grouping, the pairwise win counts between groups and the star sums of each
(run, reviewer)'s latest rating, and on each call folds in only the rows added
since (DuckDB ``rowid``s grow as rows are appended, and the log never deletes).
Bradley–Terry is then fitted on the small group × group matrix (``bradley_terry.fit_scores``), and its
95 % intervals come from the inverse Fisher information of that fit rather than
a bootstrap: the same model, a few microseconds instead of seconds. What each group's keepers cost (``device_s``,
``kept``, ``s_per_kept``, as :func:`~explorer.review.leaderboard.leaderboard` gives them) is kept the same way
(:mod:`explorer.review.cost`).

Groupings by a run column (``model``, ``backend``, ``guidance``, ``steps``,
``seed``, ``prompt``…) take this path; ``tag`` and ``extra.<name>`` fall back
to the full computation. ``run`` (each clip its own group) is bounded instead:
the 300 most-voted clips (then the most-rated) from a few aggregate queries
(:func:`run_table`). :class:`AutoGrouping` decides what ``by="auto"`` means for a
log, folding in new votes the same way.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pandas as pd

from explorer.log import Log
from explorer.review.bradley_terry import fit_scores
from explorer.review.cost import KeptFold, per_kept, run_cost
from explorer.review.ratings import student_t_975

COLUMN_KEYS = {
    "model": "coalesce(r.model, r.backend)",
    "backend": "r.backend",
    **{name: f"r.{name}" for name in ("prompt", "negative_prompt", "seed", "frames", "fps", "width", "height", "steps", "guidance", "author")},
}
COLUMNS = ["key", "label", "bt_score", "ci_low", "ci_high", "votes", "mean_rating", "rating_ci_low", "rating_ci_high", "ratings", "runs",
           "device_s", "kept", "s_per_kept"]  # the same as explorer.review.leaderboard.COLUMNS
Z95 = 1.959964
# by="auto": the first of these under which most votes compare different groups (else "run")
AUTO_ORDER = ("model", "backend", "guidance", "steps", "width", "height", "frames", "fps", "negative_prompt", "prompt")
RUN_BOARD_MAX = 300  # by="run": clips on the board (most voted, then most rated); a dense fit stays quick
SAME = {"model": "the same model", "backend": "the same backend", "tag": "the same tags", "prompt": "the same prompt",
        "negative_prompt": "the same negative prompt", "author": "the same author"}


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
        self._seconds: dict[Any, float] = {}  # group -> device-seconds of all its runs
        self._kept = KeptFold(log, self.key)  # group -> clips the team kept
        self._runs_stamp: tuple = ()
        self._changes_seen = -1  # the runs index's count of changes to the log when the folds last ran
        self.votes_total = self.votes_within = self.votes_outside = 0  # votes folded in; within one group; a group unknown

    def table(self) -> pd.DataFrame:
        from explorer.log.runs_index import runs_index_for

        with self._lock:
            index = runs_index_for(self.log)
            index.refresh()  # one look at the log (a file's stat; a team log's snapshot id) says whether anything changed
            if index.changes == self._changes_seen:
                return self._table(self._runs)  # nothing written since the last table: no statement (3 round trips on a team log)
            self._changes_seen = index.changes
            self._fold_votes()
            self._fold_ratings()
            stamp = tuple(self.log.query("SELECT count(*) AS n, max(coalesce(finished_at, created_at)) AS t, max(kept_at) AS k FROM runs").iloc[0])
            if stamp != self._runs_stamp:
                from explorer.log.queries import VISIBLE  # live takes not kept: not counted (explorer.live)

                # device-seconds count every run (failed and cancelled ones spent them too); the board's runs only shown ones
                runs = self.log.query(f"""SELECT {self.key} AS key, count(*) FILTER (WHERE r.status = 'succeeded' AND {VISIBLE}) AS n,
                                                 sum(coalesce(r.duration_s, 0)) AS seconds FROM runs r GROUP BY ALL""")
                self._runs = {k: n for k, n in zip(runs["key"], runs["n"]) if n}
                self._seconds, self._runs_stamp = dict(zip(runs["key"], runs["seconds"].astype(float))), stamp
            self._kept.update((self._vote_mark, self._rating_mark))  # what the folds above just read up to
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
        self.votes_total += count
        if _missing(winner) or _missing(loser):
            self.votes_outside += count
            return
        if winner == loser:
            self.votes_within += count
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
        # a new rating replaces the reviewer's earlier one on that run: find those, for just these runs. Their rows are
        # read by a list of constant ids (an index scan on a file log) and the rowid bound applied after: in one WHERE,
        # DuckDB scanned every rating instead (~250 ms at 8M ratings against ~5 ms).
        old = self.log.query(
            f"""WITH these AS MATERIALIZED (SELECT rowid AS rid, run_id, author, score, created_at, id FROM ratings
                                           WHERE run_id IN ({", ".join("?" * len(runs))}))
                SELECT run_id, author, score FROM these WHERE rid <= ?
                QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1""",
            [*runs, self._rating_mark])
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
        cost = {k: (self._seconds.get(k, 0.0), self._kept.kept.get(k, 0)) for k in keys}
        frame = compose_table(keys, self._wins, self._stars, runs, cost=cost)
        frame.attrs.update(by=self.by, votes_total=self.votes_total, votes_within=self.votes_within, votes_outside=self.votes_outside,
                           note=vote_note(self.by, self.votes_total, self.votes_within, self.votes_outside))
        return frame


def compose_table(keys: list, wins: dict[tuple[Any, Any], float], stars: dict[Any, list[float]], runs: dict[Any, int],
                  labels: dict[Any, str] | None = None, cost: dict[Any, tuple[float, int]] | None = None) -> pd.DataFrame:
    """The leaderboard's rows from group win counts, star sums ([n, sum, sum of squares]), run counts and
    ``cost`` (group -> (device-seconds, clips kept); see :mod:`explorer.review.cost`)."""
    keys = [k for k in keys if not _missing(k)]
    voted = sorted({k for pair, w in wins.items() if w > 0 for k in pair}, key=keys.index)
    scores, low, high, votes = fit_with_intervals(voted, wins)
    rows = []
    for key in keys:
        n, total, squares = stars.get(key, [0, 0.0, 0.0])
        mean = total / n if n else math.nan
        half = _t_half_width(n, total, squares)
        rows.append({"key": key, "label": (labels or {}).get(key) or key_text(key), "bt_score": scores.get(key, math.nan),
                     "ci_low": low.get(key, math.nan), "ci_high": high.get(key, math.nan), "votes": votes.get(key, 0), "mean_rating": mean,
                     "rating_ci_low": max(1.0, mean - half) if n > 1 else math.nan, "rating_ci_high": min(5.0, mean + half) if n > 1 else math.nan,
                     "ratings": int(n), "runs": int(runs.get(key, 0))})
        seconds, kept = (cost or {}).get(key, (0.0, 0))
        rows[-1].update(device_s=float(seconds), kept=int(kept), s_per_kept=per_kept(seconds, kept))
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
    params = fit_scores(comp, alpha, tol=1e-9)
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
    return student_t_975(n - 1) * math.sqrt(variance / n)


def _missing(key: Any) -> bool:
    return key is None or (isinstance(key, float) and math.isnan(key)) or key is pd.NA


def _same(a: Any, b: Any) -> bool:
    """SQL's NOT DISTINCT: equal, or both missing."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    return bool(a == b)


def key_text(key: Any) -> str:
    """A group key as text: 9.0 → "9", None → "(none)"."""
    if isinstance(key, float) and key.is_integer():
        return f"{key:g}"
    return "(none)" if _missing(key) else str(key)


def vote_note(by: str, total: int, within: int, outside: int) -> str:
    """What the board leaves out, in a sentence ("" when every vote counts).

    >>> vote_note("model", 12, 12, 0)
    '12 of 12 votes compare clips of the same model; group by clip (run) or by a field that differs to see them.'
    >>> vote_note("tag", 5, 1, 2)
    '1 of 5 votes compares clips of the same tags; group by clip (run) or by a field that differs to see them. 2 involve a clip without a tag.'
    """
    parts = []
    if within:
        verb = "compares" if within == 1 else "compare"
        parts.append(f"{within} of {total} vote{'' if total == 1 else 's'} {verb} clips of {SAME.get(by, f'the same {by}')}; "
                     "group by clip (run) or by a field that differs to see them.")
    if outside:
        why = {"tag": "a clip without a tag", "run": f"clips beyond the {RUN_BOARD_MAX} on the board"}.get(by, f"a clip without a {by}")
        parts.append(f"{outside} {'involves' if outside == 1 else 'involve'} {why}.")
    return " ".join(parts)


def run_label(run_id: str, prompt: Any, seed: Any) -> str:
    """How a clip is named on a per-clip board: prompt · seed · short id."""
    text = prompt if isinstance(prompt, str) else ""
    text = text if len(text) <= 40 else text[:39] + "…"
    seed_text = f"seed {int(seed)}" if seed is not None and not _missing(seed) else ""
    return " · ".join(p for p in (text, seed_text, str(run_id)[:8]) if p)


def top_runs(log: Log, limit: int = RUN_BOARD_MAX) -> list[str]:
    """The clips of a per-clip board: the most voted, then the most rated, ``limit`` at most."""
    voted = log.query(
        """SELECT id FROM (SELECT id, sum(n) AS n FROM (
               SELECT winner_id AS id, count(*) AS n FROM votes WHERE winner_id <> loser_id GROUP BY 1
               UNION ALL SELECT loser_id AS id, count(*) AS n FROM votes WHERE winner_id <> loser_id GROUP BY 1) GROUP BY id)
           ORDER BY n DESC, id LIMIT ?""", [limit]).id.tolist()
    if len(voted) < limit:
        rated = log.query("SELECT run_id FROM ratings GROUP BY run_id ORDER BY count(*) DESC, run_id LIMIT ?", [limit]).run_id.tolist()
        voted += [r for r in rated if r not in set(voted)][: limit - len(voted)]
    return voted


def run_table(log: Log, limit: int = RUN_BOARD_MAX) -> pd.DataFrame:
    """The per-clip board (``by="run"``) from aggregate queries: bounded by ``limit`` clips, whatever the log's size."""
    ids = top_runs(log, limit)
    wins: dict[tuple[Any, Any], float] = {}
    counted = 0
    if ids:
        pairs = log.query("""SELECT winner_id, loser_id, tie, count(*) AS n FROM votes
                             WHERE winner_id IN (SELECT unnest(?)) AND loser_id IN (SELECT unnest(?)) AND winner_id <> loser_id
                             GROUP BY ALL""", [ids, ids])
        for winner, loser, tie, n in zip(pairs["winner_id"], pairs["loser_id"], pairs["tie"], pairs["n"]):
            half = bool(tie)
            wins[(winner, loser)] = wins.get((winner, loser), 0.0) + (n / 2 if half else float(n))
            if half:
                wins[(loser, winner)] = wins.get((loser, winner), 0.0) + n / 2
            counted += int(n)
    stars_frame = log.query(
        """SELECT run_id, count(*) AS n, sum(score) AS s, sum(score * score) AS ss FROM (
               SELECT run_id, score FROM ratings WHERE run_id IN (SELECT unnest(?))
               QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1) GROUP BY run_id""", [ids])
    stars = {r: [float(n), float(t), float(q)] for r, n, t, q in zip(stars_frame["run_id"], stars_frame["n"], stars_frame["s"], stars_frame["ss"])}
    meta = log.query("SELECT id, prompt, seed FROM runs WHERE id IN (SELECT unnest(?))", [ids])
    labels = {i: run_label(i, p, s) for i, p, s in zip(meta["id"], meta["prompt"], meta["seed"])}
    frame = compose_table(ids, wins, stars, {i: 1 for i in ids}, labels, cost=run_cost(log, ids))
    total = int(log.query("SELECT count(*) AS n FROM votes WHERE winner_id <> loser_id").n.iloc[0])
    frame.attrs.update(by="run", votes_total=total, votes_within=0, votes_outside=total - counted,
                       note=vote_note("run", total, 0, total - counted))
    return frame


class AutoGrouping:
    """What ``by="auto"`` means for a log, kept up to date as votes arrive (folded in by rowid, like :class:`Standings`).

    The first of :data:`AUTO_ORDER` under which at least half the votes compare two different groups;
    with no votes, the first that splits the rated runs into two or more groups; else ``"run"``
    (each clip on its own), or ``"model"`` on a log with no votes and no ratings.
    """

    def __init__(self, log: Log):
        self.log = log
        self._lock = threading.Lock()
        self._mark = -1
        self.total = 0
        self.between = dict.fromkeys(AUTO_ORDER, 0)  # grouping -> votes that compare two different groups under it

    def choose(self) -> str:
        with self._lock:
            self._fold()
            if self.total:
                for by in AUTO_ORDER:
                    if self.between[by] and 2 * self.between[by] >= self.total:
                        return by
                return "run"
            return self._by_ratings()

    def _fold(self) -> None:
        columns = ", ".join(f"{COLUMN_KEYS[by]} AS {by}" for by in AUTO_ORDER)
        if self._mark < 0:  # first time: one aggregate over every vote
            distinct = ", ".join(f"count(*) FILTER (WHERE {_pair(by)}) AS {by}" for by in AUTO_ORDER)
            row = self.log.query(
                f"""SELECT count(*) AS total, max(v.rowid) AS mark, {distinct} FROM votes v
                    JOIN runs w ON w.id = v.winner_id JOIN runs l ON l.id = v.loser_id WHERE v.winner_id <> v.loser_id""").iloc[0]
            if not row["total"]:
                return
            self.total = int(row["total"])
            self.between = {by: int(row[by]) for by in AUTO_ORDER}
            self._mark = int(row["mark"])
            return
        new = self.log.query("SELECT rowid AS rid, winner_id, loser_id FROM votes WHERE rowid > ? AND winner_id <> loser_id", [self._mark])
        if new.empty:
            return
        ids = sorted({*new["winner_id"], *new["loser_id"]})
        runs = self.log.query(f"SELECT r.id, {columns} FROM runs r WHERE r.id IN (SELECT unnest(?))", [ids]).set_index("id")
        for winner, loser in zip(new["winner_id"], new["loser_id"]):
            if winner not in runs.index or loser not in runs.index:
                continue
            self.total += 1
            for by in AUTO_ORDER:
                self.between[by] += not _same(runs.at[winner, by], runs.at[loser, by])
        self._mark = int(new["rid"].max())

    def _by_ratings(self) -> str:
        distinct = ", ".join(f"count(DISTINCT {COLUMN_KEYS[by]}) AS {by}" for by in AUTO_ORDER)
        row = self.log.query(f"SELECT count(*) AS n, {distinct} FROM runs r WHERE r.id IN (SELECT run_id FROM ratings)").iloc[0]
        if not row["n"]:
            return "model"
        return next((by for by in AUTO_ORDER if row[by] >= 2), "run")


def _pair(by: str) -> str:
    """SQL: the winner's and the loser's group differ under ``by``."""
    key = COLUMN_KEYS[by]
    return f"{key.replace('r.', 'w.')} IS DISTINCT FROM {key.replace('r.', 'l.')}"
