"""What a group's keepers cost on a big log: device-seconds, clips kept, and seconds per kept clip, folded in by rowid.

:func:`explorer.review.leaderboard.leaderboard` reads every run, rating and vote (``RUN_COST``) to say, per group,
how many device-seconds its runs took and how many of its clips the team kept (latest stars averaging
``KEPT_STARS`` or more, or more than half of its battles won). That is a window over every rating: seconds at 8M
ratings, too slow for a panel that asks every few seconds. :class:`KeptFold` pays it once, then on each change
looks only at the runs that a new vote or rating touched and works out, for just those, whether each was kept
before and after (their ratings and votes read once, by run id: the log's indexes), so the kept counts move by the
difference.
Device-seconds are a plain sum over runs, taken with the run counts whenever the runs change.
"""

from __future__ import annotations

import math
from typing import Any

from explorer.log import Log

NO_MARK = 2**62  # "every row": a rowid bound no log reaches


def kept_sql(key: str) -> str:
    """Per run: its group and whether it was kept with the ratings and votes up to two pairs of rowid marks
    (named parameters ``before_v``/``after_v`` for votes, ``before_r``/``after_r`` for ratings).

    The rule is ``leaderboard.RUN_COST``'s: mean of each reviewer's latest stars >= KEPT_STARS, or more than half of
    its battles won (ties and self-votes left out). A whole-log statement: :func:`kept_of` does a few runs.
    """
    from explorer.review.leaderboard import KEPT_STARS

    return f"""
        WITH rated AS MATERIALIZED (SELECT run_id, author, score, created_at, id, rowid AS rid FROM ratings WHERE rowid <= $after_r),
        before_stars AS (SELECT run_id, avg(score) AS mean FROM (SELECT * FROM rated WHERE rid <= $before_r
                         QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1) GROUP BY run_id),
        after_stars AS (SELECT run_id, avg(score) AS mean FROM (SELECT * FROM rated
                        QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1) GROUP BY run_id),
        played AS MATERIALIZED (
            SELECT winner_id AS id, 1 AS won, rowid AS rid FROM votes WHERE NOT tie AND winner_id <> loser_id AND rowid <= $after_v
            UNION ALL SELECT loser_id AS id, 0 AS won, rowid AS rid FROM votes WHERE NOT tie AND winner_id <> loser_id AND rowid <= $after_v),
        battles AS (SELECT id, sum(won) FILTER (WHERE rid <= $before_v) AS won_before, count(*) FILTER (WHERE rid <= $before_v) AS played_before,
                           sum(won) AS won_after, count(*) AS played_after FROM played GROUP BY id)
        SELECT r.id, {key} AS key,
               coalesce(sb.mean >= {KEPT_STARS}, false) OR coalesce(2 * b.won_before > b.played_before, false) AS kept_before,
               coalesce(sa.mean >= {KEPT_STARS}, false) OR coalesce(2 * b.won_after > b.played_after, false) AS kept_after
        FROM runs r LEFT JOIN before_stars sb ON sb.run_id = r.id LEFT JOIN after_stars sa ON sa.run_id = r.id
             LEFT JOIN battles b ON b.id = r.id"""


def _params(marks_before: tuple[int, int], marks_after: tuple[int, int]) -> dict[str, int]:
    """Named parameters of :func:`kept_sql`: marks are (vote mark, rating mark)."""
    return {"before_v": marks_before[0], "after_v": marks_after[0], "before_r": marks_before[1], "after_r": marks_after[1]}


def kept_of(log: Log, ids: list[str], *marks: tuple[int, int] | None) -> list[dict[str, bool]]:
    """For a few runs: whether each was kept, once per pair of (vote, rating) rowid marks given (None: every row).

    Each table is read by run id alone, so a file log answers from its indexes (``ratings_run``, ``votes_winner``,
    ``votes_loser``) in milliseconds; a rowid bound in the same statement would turn that into a scan of every
    rating. The marks are applied here, to those few rows.
    """
    from explorer.review.leaderboard import KEPT_STARS

    if not ids:
        return [{} for _ in marks]
    listed = ", ".join("?" * len(ids))  # a list of constants: DuckDB scans the index for it (a subquery or ANY(?) reads more)
    ratings = log.query(f"SELECT rowid AS rid, run_id, author, score, created_at, id FROM ratings WHERE run_id IN ({listed})", ids)
    won = log.query(f"SELECT rowid AS rid, winner_id AS run_id, tie, loser_id = winner_id AS self FROM votes WHERE winner_id IN ({listed})", ids)
    lost = log.query(f"SELECT rowid AS rid, loser_id AS run_id, tie, loser_id = winner_id AS self FROM votes WHERE loser_id IN ({listed})", ids)
    won, lost = won[~won["tie"].astype(bool) & ~won["self"].astype(bool)], lost[~lost["tie"].astype(bool) & ~lost["self"].astype(bool)]
    ratings = ratings.sort_values(["created_at", "id"], kind="stable")
    out = []
    for mark in marks:
        vote_mark, rating_mark = mark if mark is not None else (NO_MARK, NO_MARK)
        latest = ratings[ratings["rid"] <= rating_mark].drop_duplicates(["run_id", "author"], keep="last")
        stars = latest.groupby("run_id")["score"].mean()
        wins = won[won["rid"] <= vote_mark].groupby("run_id").size()
        losses = lost[lost["rid"] <= vote_mark].groupby("run_id").size()
        out.append({i: bool(stars.get(i, 0) >= KEPT_STARS or 2 * wins.get(i, 0) > wins.get(i, 0) + losses.get(i, 0)) for i in ids})
    return out


class KeptFold:
    """Per group of one grouping (a SQL key over ``runs r``): how many of its clips the team kept, kept up to date.

    Not thread-safe on its own: :class:`explorer.review.standings.Standings` calls it under its lock.
    """

    def __init__(self, log: Log, key: str):
        self.log, self.key = log, key
        self.kept: dict[Any, int] = {}
        self._marks: tuple[int, int] | None = None  # (vote rowid, rating rowid) folded in

    def update(self, marks: tuple[int, int] | None = None) -> None:
        """Fold in the votes and ratings up to ``marks`` ((vote rowid, rating rowid); None: as the log is now)."""
        if marks is None:
            row = self.log.query("SELECT (SELECT coalesce(max(rowid), -1) FROM votes) AS v, (SELECT coalesce(max(rowid), -1) FROM ratings) AS r").iloc[0]
            marks = (int(row["v"]), int(row["r"]))
        if marks == self._marks:
            return
        if self._marks is None:  # first time: every run, one grouped statement
            frame = self.log.query(f"SELECT key, count(*) FILTER (WHERE kept_after) AS n FROM ({kept_sql(self.key)}) GROUP BY ALL",
                                   _params((-1, -1), marks))
            self.kept = {k: int(n) for k, n in zip(frame["key"], frame["n"]) if n}
            self._marks = marks
            return
        before = self._marks
        touched = self.log.query(
            """SELECT winner_id AS id FROM votes WHERE rowid > ? AND rowid <= ? UNION SELECT loser_id FROM votes WHERE rowid > ? AND rowid <= ?
               UNION SELECT run_id FROM ratings WHERE rowid > ? AND rowid <= ?""",
            [before[0], marks[0], before[0], marks[0], before[1], marks[1]])
        if len(touched):
            ids = sorted(touched["id"])
            was, now = kept_of(self.log, ids, before, marks)
            changed = [i for i in ids if was[i] != now[i]]
            if changed:
                keys = self.log.query(f"SELECT r.id, {self.key} AS key FROM runs r WHERE r.id IN (SELECT unnest(?))", [changed])
                for run_id, key in zip(keys["id"], keys["key"]):
                    self.kept[key] = self.kept.get(key, 0) + (1 if now[run_id] else -1)
        self._marks = marks


def run_cost(log: Log, ids: list[str]) -> dict[str, tuple[float, int]]:
    """Per clip of ``ids`` (a per-clip board): (its device-seconds, 1 if the team kept it else 0)."""
    if not ids:
        return {}
    (kept,) = kept_of(log, list(ids), None)
    seconds = log.query("SELECT id, coalesce(duration_s, 0) AS s FROM runs WHERE id IN (SELECT unnest(?))", [list(ids)])
    return {i: (float(s), int(kept[i])) for i, s in zip(seconds["id"], seconds["s"])}


def per_kept(seconds: float, kept: int) -> float:
    """Device-seconds per kept clip; NaN when none was kept (shown as "–", never as infinity)."""
    return seconds / kept if kept else math.nan
