"""Which model (backend, tag, setting, clip) wins: runs grouped by a key, scored by votes and stars."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from explorer.log.queries import LATEST_RATINGS, VISIBLE
from explorer.request import Request
from explorer.review.agreement import star_agreement, vote_agreement
from explorer.review.bradley_terry import bradley_terry
from explorer.review.ratings import star_summary
from explorer.review.standings import RUN_BOARD_MAX, AutoGrouping, key_text, run_label, top_runs, vote_note

if TYPE_CHECKING:
    from explorer.lab import Lab

COLUMNS = ["key", "label", "bt_score", "ci_low", "ci_high", "votes", "mean_rating", "rating_ci_low", "rating_ci_high", "ratings", "runs",
           "device_s", "kept", "s_per_kept"]
KEPT_STARS = 4  # a clip is kept when its reviewers' latest stars average this or more, or it won most of its battles
# Per run: the seconds it took (every run spends device time, failed and cancelled ones too) and whether the team kept it.
RUN_COST = f"""
    WITH stars AS (SELECT run_id, avg(score) AS mean FROM ({LATEST_RATINGS}) GROUP BY run_id),
    battles AS (SELECT id, sum(won) AS won, count(*) AS played FROM (
        SELECT winner_id AS id, 1 AS won FROM votes WHERE NOT tie AND winner_id <> loser_id
        UNION ALL SELECT loser_id AS id, 0 AS won FROM votes WHERE NOT tie AND winner_id <> loser_id) GROUP BY id)
    SELECT r.id, coalesce(r.duration_s, 0) AS seconds,
           coalesce(s.mean >= {KEPT_STARS}, false) OR coalesce(2 * b.won > b.played, false) AS kept
    FROM runs r LEFT JOIN stars s ON s.run_id = r.id LEFT JOIN battles b ON b.id = r.id
"""
SPECIAL = ("auto", "model", "backend", "tag", "run")


def leaderboard(lab: Lab, by: str = "auto", *, bootstrap: int = 200) -> pd.DataFrame:
    """Runs grouped by ``by``, best first: Bradley–Terry score of the group and its mean stars.

    ``by``: ``"auto"`` (the default: see below), ``"model"`` (the backend's name when a run has
    no model, e.g. ``"sketch"``), ``"backend"``, ``"tag"`` (a run counts under each tag of its
    latest ratings; untagged runs are left out), ``"run"`` (each clip on its own: the 300 most
    voted, then the most rated), any request field (``"guidance"``, ``"steps"``, ``"seed"``,
    ``"prompt"``, …) or ``"extra.<name>"`` (runs without that extra are left out).

    ``"auto"`` picks the first of model, backend, guidance, steps, width, height, frames, fps,
    negative_prompt and prompt under which at least half the votes compare two different groups;
    with no votes, the first that splits the rated runs into two or more groups; else ``"run"``.
    (Battles pair takes of one idea, so with one model most votes compare clips of one prompt,
    and ``"auto"`` ends at ``"run"``.)

    A vote between two runs is a vote between their groups; votes within one group say nothing
    about the groups and are not in ``votes``, but they are counted: ``board.attrs`` holds
    ``by`` (the grouping used), ``requested``, ``votes_total``, ``votes_within`` (both runs in one
    group), ``votes_outside`` (a run not on the board: untagged, no such extra, not among the
    clips shown) and ``note``, a sentence saying so ("12 of 12 votes compare clips of the same
    model; …"), or "" when every vote counts. Columns: ``key``, ``label`` (the key as text; for
    ``"run"``, prompt · seed · id), ``bt_score``/``ci_low``/``ci_high`` (see ``bradley_terry``),
    ``votes`` (between groups), ``mean_rating``/``rating_ci_low``/``rating_ci_high``/``ratings``
    (each author's latest star rating per run, see ``star_summary``), ``runs`` (succeeded
    runs), and what the group's keepers cost: ``device_s`` (the seconds all its runs took, failed
    and cancelled ones too), ``kept`` (clips whose reviewers' latest stars average 4 or more, or
    that won more than half of their battles) and ``s_per_kept`` (device-seconds per kept clip;
    NaN when none was kept). Sorted by ``bt_score``, best first, groups without votes last (by mean rating).

    >>> import explorer, tempfile, pathlib
    >>> lab = explorer.open(pathlib.Path(tempfile.mkdtemp()) / "log.duckdb", author="me")
    >>> a, b = (lab.generate("a fox", guidance=g, frames=2, width=32, height=32, steps=1, progress=False).id for g in (3.0, 9.0))
    >>> _ = lab.vote(b, a), lab.vote(b, a), lab.rate(b, 5)
    >>> board = leaderboard(lab, "guidance", bootstrap=0)
    >>> board[["key", "votes", "ratings", "runs"]].to_dict("records")
    [{'key': 9.0, 'votes': 2, 'ratings': 1, 'runs': 1}, {'key': 3.0, 'votes': 2, 'ratings': 0, 'runs': 1}]
    >>> leaderboard(lab, bootstrap=0).attrs["by"]  # one model, two guidance values: "auto" groups by guidance
    'guidance'
    >>> model = leaderboard(lab, "model", bootstrap=0)
    >>> int(model.loc[0, "votes"]), model.attrs["note"]
    (0, '2 of 2 votes compare clips of the same model; group by clip (run) or by a field that differs to see them.')
    >>> lab.log.close()
    """
    requested = by
    if by == "auto":
        by = AutoGrouping(lab.log).choose()
    keys = _keys(lab, by)  # run_id -> [key, ...]
    runs = lab.sql(f"SELECT id FROM runs r WHERE status = 'succeeded' AND {VISIBLE}")  # live takes not kept: not on the board
    run_counts: dict[Any, int] = {}
    for run_id in runs["id"]:
        for key in keys.get(run_id, ()):
            run_counts[key] = run_counts.get(key, 0) + 1

    votes = lab.votes()
    rows = []
    total = within = outside = 0
    for w, l, tie in zip(votes["winner_id"], votes["loser_id"], votes["tie"]):
        if w == l:
            continue
        total += 1
        kws, kls = keys.get(w, ()), keys.get(l, ())
        if not kws or not kls:
            outside += 1
            continue
        between = [(kw, kl) for kw in kws for kl in kls if kw != kl]
        within += not between
        rows.extend((kw, kl, bool(tie)) for kw, kl in between)
    group_votes = pd.DataFrame(rows, columns=["winner_id", "loser_id", "tie"])

    ratings = lab.ratings()
    exploded = [(key, score) for run_id, score in zip(ratings["run_id"], ratings["score"]) for key in keys.get(run_id, ())]
    stars = star_summary(pd.DataFrame(exploded, columns=["key", "score"]), by="key") if exploded else None

    all_keys = list(dict.fromkeys([*run_counts, *group_votes["winner_id"], *group_votes["loser_id"],
                                   *([] if stars is None else stars["key"])]))
    bt = bradley_terry(group_votes, all_keys, bootstrap=bootstrap).set_index("item") if all_keys else None
    out = pd.DataFrame({"key": all_keys})
    labels = _run_labels(lab, all_keys) if by == "run" else {}
    out["label"] = [labels.get(k) or key_text(k) for k in all_keys]
    if bt is not None:
        out["bt_score"] = [bt.at[k, "score"] for k in all_keys]
        out["ci_low"] = [bt.at[k, "ci_low"] for k in all_keys]
        out["ci_high"] = [bt.at[k, "ci_high"] for k in all_keys]
        out["votes"] = [int(bt.at[k, "votes"]) for k in all_keys]
    stars = stars.set_index("key") if stars is not None else None
    has = [stars is not None and k in stars.index for k in all_keys]
    out["mean_rating"] = [stars.at[k, "mean"] if h else math.nan for k, h in zip(all_keys, has)]
    # stars live on 1..5: a t-interval from two ratings can reach far outside, which reads as nonsense
    out["rating_ci_low"] = [max(1.0, stars.at[k, "ci_low"]) if h else math.nan for k, h in zip(all_keys, has)]
    out["rating_ci_high"] = [min(5.0, stars.at[k, "ci_high"]) if h else math.nan for k, h in zip(all_keys, has)]
    out["ratings"] = [int(stars.at[k, "count"]) if h else 0 for k, h in zip(all_keys, has)]
    out["runs"] = [run_counts.get(k, 0) for k in all_keys]
    cost = _cost(lab, keys)
    out["device_s"] = [cost.get(k, (0.0, 0))[0] for k in all_keys]
    out["kept"] = [cost.get(k, (0.0, 0))[1] for k in all_keys]
    out["s_per_kept"] = [seconds / kept if kept else math.nan for seconds, kept in zip(out["device_s"], out["kept"])]
    out = out.reindex(columns=COLUMNS)
    out = out.sort_values(["bt_score", "mean_rating"], ascending=False, na_position="last", kind="stable")
    out = out.reset_index(drop=True)
    out.attrs.update(by=by, requested=requested, votes_total=total, votes_within=within, votes_outside=outside,
                     note=vote_note(by, total, within, outside))
    return out


def agreement_report(lab: Lab) -> dict[str, Any]:
    """How much reviewers agree, JSON-safe (NaN becomes None).

    ``{"star_alpha": Krippendorff's ordinal alpha or None, "reviewers": [{"author", "votes",
    "compared", "agreement"}, ...], "ratings": latest ratings, "votes": votes}``.

    >>> import explorer, tempfile, pathlib
    >>> lab = explorer.open(pathlib.Path(tempfile.mkdtemp()) / "log.duckdb", author="me")
    >>> agreement_report(lab)
    {'star_alpha': None, 'reviewers': [], 'ratings': 0, 'votes': 0}
    >>> lab.log.close()
    """
    ratings = lab.ratings()
    votes = lab.votes()
    reviewers = [{"author": r["author"], "votes": int(r["votes"]), "compared": int(r["compared"]), "agreement": _num(r["agreement"])}
                 for r in vote_agreement(votes).to_dict("records")]
    return {"star_alpha": _num(star_agreement(ratings)), "reviewers": reviewers, "ratings": len(ratings), "votes": len(votes)}


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _cost(lab: Lab, keys: dict[str, list]) -> dict[Any, tuple[float, int]]:
    """Group -> (device-seconds of all its runs, clips kept): the runs' own timings, the team's stars and battles."""
    totals: dict[Any, list] = {}
    for run_id, seconds, kept in lab.log.query(RUN_COST).itertuples(index=False):
        for key in keys.get(run_id, ()):
            total = totals.setdefault(key, [0.0, 0])
            total[0] += float(seconds)
            total[1] += bool(kept)
    return {key: (seconds, kept) for key, (seconds, kept) in totals.items()}


def _keys(lab: Lab, by: str) -> dict[str, list]:
    """Each run's group key(s) under ``by``."""
    if by == "tag":
        frame = lab.sql(f"SELECT run_id, list_sort(list_distinct(flatten(list(tags)))) AS tags FROM ({LATEST_RATINGS}) GROUP BY run_id")
        return {r: list(t) for r, t in zip(frame["run_id"], frame["tags"]) if t is not None and len(t)}
    if by == "model":
        frame = lab.sql("SELECT id, coalesce(model, backend) AS key FROM runs")
        return {r: [k] for r, k in zip(frame["id"], frame["key"])}
    if by == "run":
        return {run_id: [run_id] for run_id in top_runs(lab.log, RUN_BOARD_MAX)}
    fields = set(Request.model_fields) - {"extra"}
    if by.startswith("extra.") and len(by) > len("extra."):
        path: list[str] = ["extra", by[len("extra."):]]
    elif by in fields:
        path = [by]
    else:
        raise ValueError(f"leaderboard: can't group by {by!r}; use one of {', '.join(SPECIAL)}, "
                         f"a request field ({', '.join(sorted(fields - {'backend', 'model'}))}) or extra.<name>")
    frame = lab.sql("SELECT id, request FROM runs")
    keys = {}
    for run_id, request in zip(frame["id"], frame["request"]):
        value: Any = json.loads(request) if isinstance(request, str) else request
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            keys[run_id] = [value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)]
    return keys


def _run_labels(lab: Lab, ids: list) -> dict[str, str]:
    frame = lab.sql("SELECT id, prompt, seed FROM runs WHERE id IN (SELECT unnest(?))", [[str(i) for i in ids]])
    return {i: run_label(i, p, s) for i, p, s in zip(frame["id"], frame["prompt"], frame["seed"])}
