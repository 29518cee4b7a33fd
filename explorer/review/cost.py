"""What a group's keepers cost on a big log: device-seconds, clips kept, and seconds per kept clip, folded in by rowid.

:func:`explorer.review.leaderboard.leaderboard` reads every run, rating and vote (``RUN_COST``) to say, per group,
how many device-seconds its runs took and how many of its clips the team kept (latest stars averaging
``KEPT_STARS`` or more, or more than half of its battles won). That is a window over every rating: seconds at 8M
ratings, too slow for a panel that asks every few seconds. :class:`KeptFold` pays it once, then on each change
looks only at the runs that a new vote or rating touched and counts, for just those, whether each was kept
before and after (one statement, the two marks side by side), so the kept counts move by the difference.
Device-seconds are a plain sum over runs, taken with the run counts whenever the runs change.
"""

from __future__ import annotations

import math
from typing import Any

from explorer.log import Log

NO_MARK = 2**62  # "every row": a rowid bound no log reaches


def kept_sql(key: str, *, ids: bool) -> str:
    """Per run (or only the runs in the first parameter, ``ids=True``): its group and whether it was kept with the
    ratings and votes up to two pairs of rowid marks (before, after).

    Named parameters: ``ids`` (with ``ids=True``), ``before_v``/``after_v`` (votes) and ``before_r``/``after_r`` (ratings). The rule
    is ``leaderboard.RUN_COST``'s: mean of each reviewer's latest stars >= KEPT_STARS, or more than half of its
    battles won (ties and self-votes left out).
    """
    from explorer.review.leaderboard import KEPT_STARS

    only = "AND run_id IN (SELECT id FROM ids)" if ids else ""
    won_only = "AND winner_id IN (SELECT id FROM ids)" if ids else ""
    lost_only = "AND loser_id IN (SELECT id FROM ids)" if ids else ""
    # MATERIALIZED: the ratings (and votes) of these runs are read once, and both marks are applied to that small set
    return f"""
        WITH {"ids AS (SELECT unnest($ids::VARCHAR[]) AS id)," if ids else ""}
        rated AS MATERIALIZED (SELECT run_id, author, score, created_at, id, rowid AS rid FROM ratings
                               WHERE rowid <= $after_r {only}),
        before_stars AS (SELECT run_id, avg(score) AS mean FROM (SELECT * FROM rated WHERE rid <= $before_r
                         QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1) GROUP BY run_id),
        after_stars AS (SELECT run_id, avg(score) AS mean FROM (SELECT * FROM rated
                        QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1) GROUP BY run_id),
        played AS MATERIALIZED (
            SELECT winner_id AS id, 1 AS won, rowid AS rid FROM votes WHERE NOT tie AND winner_id <> loser_id AND rowid <= $after_v {won_only}
            UNION ALL SELECT loser_id AS id, 0 AS won, rowid AS rid FROM votes WHERE NOT tie AND winner_id <> loser_id AND rowid <= $after_v {lost_only}),
        battles AS (SELECT id, sum(won) FILTER (WHERE rid <= $before_v) AS won_before, count(*) FILTER (WHERE rid <= $before_v) AS played_before,
                           sum(won) AS won_after, count(*) AS played_after FROM played GROUP BY id)
        SELECT r.id, {key} AS key,
               coalesce(sb.mean >= {KEPT_STARS}, false) OR coalesce(2 * b.won_before > b.played_before, false) AS kept_before,
               coalesce(sa.mean >= {KEPT_STARS}, false) OR coalesce(2 * b.won_after > b.played_after, false) AS kept_after
        FROM runs r LEFT JOIN before_stars sb ON sb.run_id = r.id LEFT JOIN after_stars sa ON sa.run_id = r.id
             LEFT JOIN battles b ON b.id = r.id
        {"WHERE r.id IN (SELECT id FROM ids)" if ids else ""}"""


def _params(marks_before: tuple[int, int], marks_after: tuple[int, int]) -> dict[str, int]:
    """Named parameters of :func:`kept_sql`: marks are (vote mark, rating mark)."""
    return {"before_v": marks_before[0], "after_v": marks_after[0], "before_r": marks_before[1], "after_r": marks_after[1]}


class KeptFold:
    """Per group of one grouping (a SQL key over ``runs r``): how many of its clips the team kept, kept up to date.

    Not thread-safe on its own: :class:`explorer.review.standings.Standings` calls it under its lock.
    """

    def __init__(self, log: Log, key: str):
        self.log, self.key = log, key
        self.kept: dict[Any, int] = {}
        self._marks: tuple[int, int] | None = None  # (vote rowid, rating rowid) folded in

    def update(self) -> None:
        row = self.log.query("SELECT (SELECT coalesce(max(rowid), -1) FROM votes) AS v, (SELECT coalesce(max(rowid), -1) FROM ratings) AS r").iloc[0]
        marks = (int(row["v"]), int(row["r"]))
        if marks == self._marks:
            return
        if self._marks is None:  # first time: every run, one grouped statement
            frame = self.log.query(f"SELECT key, count(*) FILTER (WHERE kept_after) AS n FROM ({kept_sql(self.key, ids=False)}) GROUP BY ALL",
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
            frame = self.log.query(kept_sql(self.key, ids=True), {"ids": sorted(touched["id"]), **_params(before, marks)})
            for key, was, now in zip(frame["key"], frame["kept_before"], frame["kept_after"]):
                if bool(was) != bool(now):
                    self.kept[key] = self.kept.get(key, 0) + (1 if now else -1)
        self._marks = marks


def run_cost(log: Log, ids: list[str]) -> dict[str, tuple[float, int]]:
    """Per clip of ``ids`` (a per-clip board): (its device-seconds, 1 if the team kept it else 0)."""
    if not ids:
        return {}
    kept = log.query(kept_sql("r.id", ids=True), {"ids": list(ids), **_params((NO_MARK, NO_MARK), (NO_MARK, NO_MARK))})
    seconds = log.query("SELECT id, coalesce(duration_s, 0) AS s FROM runs WHERE id IN (SELECT unnest(?))", [list(ids)])
    kept_of = dict(zip(kept["id"], kept["kept_after"]))
    return {i: (float(s), int(bool(kept_of.get(i, False)))) for i, s in zip(seconds["id"], seconds["s"])}


def per_kept(seconds: float, kept: int) -> float:
    """Device-seconds per kept clip; NaN when none was kept (shown as "–", never as infinity)."""
    return seconds / kept if kept else math.nan
