"""Taste math with known answers: Bradley–Terry, star summaries, Krippendorff's alpha, vote agreement,
leaderboards on a real log and the pair sampler."""

from __future__ import annotations

import doctest
import importlib
import math
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import explorer.review as review
from explorer.review import (agreement_report, bradley_terry, leaderboard, next_pair, star_agreement, star_summary,
                             vote_agreement)

FAST = dict(frames=4, width=32, height=32, steps=1, progress=False)
TRUTH = np.linspace(-1.5, 1.5, 8)  # log-strengths of items i0..i7
ITEMS = [f"i{k}" for k in range(8)]


def simulate(n, seed=0, truth=TRUTH, ties=0.0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(truth), n)
    b = (a + rng.integers(1, len(truth), n)) % len(truth)
    a_wins = rng.random(n) < 1 / (1 + np.exp(truth[b] - truth[a]))
    names = np.array([f"i{k}" for k in range(len(truth))])
    return pd.DataFrame({"winner_id": names[np.where(a_wins, a, b)], "loser_id": names[np.where(a_wins, b, a)],
                         "tie": rng.random(n) < ties})


def by_item(frame):
    return frame.set_index("item").loc[ITEMS]


@pytest.mark.parametrize("name", ["bradley_terry", "ratings", "agreement", "leaderboard", "pairs", "metric_agreement"])
def test_docstring_examples_run(name):
    assert doctest.testmod(importlib.import_module(f"explorer.review.{name}")).failed == 0


def test_review_exports():
    assert set(review.__all__) == {"agreement_report", "bradley_terry", "leaderboard", "metric_agreement", "next_pair",
                                   "rank_by_taste", "star_agreement", "star_summary", "taste_model", "vote_agreement"}


# -- Bradley–Terry ---------------------------------------------------------------------------


def test_bradley_terry_recovers_known_strengths_and_covers_them():
    bt = bradley_terry(simulate(3000), bootstrap=200)
    assert list(bt.columns[:6]) == ["item", "score", "ci_low", "ci_high", "votes", "wins"]
    assert list(bt["item"]) == ITEMS[::-1]  # exact order: items 0.43 apart, ~750 votes each
    assert bt.attrs == {"bootstrap": 200, "interval": "percentile"}
    est = by_item(bt)
    assert abs(est["score"].mean()) < 1e-9  # centred
    assert np.abs(est["score"].to_numpy() - TRUTH).max() < 0.25
    covered = (est["ci_low"] <= TRUTH) & (TRUTH <= est["ci_high"])
    assert covered.sum() >= 7
    assert est["votes"].sum() == 2 * 3000 and est["wins"].sum() == 3000


def test_bradley_terry_intervals_narrow_with_more_votes():
    few = by_item(bradley_terry(simulate(300, seed=1), bootstrap=100))
    many = by_item(bradley_terry(simulate(3000, seed=1), bootstrap=100))
    width = lambda f: (f["ci_high"] - f["ci_low"]).mean()  # noqa: E731
    assert width(many) < 0.5 * width(few)  # ~1/sqrt(10)


def test_bradley_terry_ties_only_wins_and_unvoted_items():
    ties = pd.DataFrame({"winner_id": ["a", "b"] * 10, "loser_id": ["b", "a"] * 10, "tie": [True] * 20})
    bt = by_item_generic(bradley_terry(ties, bootstrap=20))
    assert bt.loc["a", "score"] == pytest.approx(0, abs=1e-6) and bt.loc["b", "score"] == pytest.approx(0, abs=1e-6)
    assert list(bt["ties"]) == [20, 20] and list(bt["wins"]) == [0, 0]
    # a tie is half a win each way: a beat b twice, then two ties == 3 wins of a against 1 of b
    half = pd.DataFrame({"winner_id": ["a", "a", "a", "b"], "loser_id": ["b", "b", "b", "a"], "tie": [False, False, True, True]})
    whole = pd.DataFrame({"winner_id": ["a", "a", "a", "b"], "loser_id": ["b", "b", "b", "a"], "tie": [False] * 4})
    assert bradley_terry(half, bootstrap=0)["score"].tolist() == pytest.approx(bradley_terry(whole, bootstrap=0)["score"].tolist())

    only_wins = pd.DataFrame({"winner_id": ["a"] * 5 + ["b"], "loser_id": ["b"] * 5 + ["c"], "tie": [False] * 6})
    bt = by_item_generic(bradley_terry(only_wins, ["a", "b", "c", "nobody"], bootstrap=50))
    assert list(bt.index[:3]) == ["a", "b", "c"] and np.isfinite(bt.loc[["a", "b", "c"], ["score", "ci_low", "ci_high"]]).all().all()
    assert bt.loc["a", "score"] > bt.loc["b", "score"] > bt.loc["c", "score"]
    assert bt.loc["nobody", ["score", "ci_low", "ci_high"]].isna().all() and bt.loc["nobody", "votes"] == 0
    assert list(bradley_terry(only_wins, ["a", "b", "c", "nobody"])["item"])[-1] == "nobody"  # NaN last

    empty = bradley_terry(pd.DataFrame(columns=["winner_id", "loser_id", "tie"]), ["x"])
    assert empty["score"].isna().all() and len(empty) == 1
    with pytest.raises(ValueError, match="loser_id"):
        bradley_terry(pd.DataFrame({"winner_id": ["a"]}))


def by_item_generic(frame):
    return frame.set_index("item")


def test_bradley_terry_draws_fewer_resamples_for_many_items():
    truth = np.random.default_rng(1).normal(0, 1, 320)
    bt = bradley_terry(simulate(16_000, seed=2, truth=truth), bootstrap=25)
    assert bt.attrs == {"bootstrap": 20, "interval": "normal"}  # 25 · (300/320)³ < 20
    order = [int(i[1:]) for i in bt["item"]]
    est, true = bt["score"].to_numpy(), truth[order] - truth.mean()
    assert np.corrcoef(est, true)[0, 1] > 0.9
    assert np.mean((bt["ci_low"] <= true) & (true <= bt["ci_high"])) > 0.85


@pytest.mark.slow
def test_bradley_terry_many_items_bounds_its_bootstrap():
    """With many clips the bootstrap is cut to 20 rounds with normal intervals (its time: bench/taste_math.py)."""
    rng = np.random.default_rng(0)
    n_items, n_votes = 1000, 100_000
    truth = rng.normal(0, 1, n_items)
    votes = simulate(n_votes, truth=truth, ties=0.05)
    bt = bradley_terry(votes, bootstrap=200)
    assert bt.attrs == {"bootstrap": 20, "interval": "normal"}
    order = [int(i[1:]) for i in bt["item"]]
    assert np.corrcoef(bt["score"], truth[order])[0, 1] > 0.95


# -- stars -----------------------------------------------------------------------------------


def test_star_summary_by_hand():
    r = pd.DataFrame({"run_id": ["a"] * 4 + ["b"] * 2 + ["c"], "score": [5, 4, 4, 3, 2, 3, 1], "model": ["m"] * 7})
    s = star_summary(r).set_index("run_id")
    assert list(s.index) == ["a", "b", "c"]  # best mean first
    assert s.loc["a", "mean"] == 4 and s.loc["a", "count"] == 4 and s.loc["a", "std"] == pytest.approx(math.sqrt(2 / 3))
    # t(0.975, 3) = 3.182446: 4 ± 3.182446 · 0.816497 / 2
    assert s.loc["a", "ci_low"] == pytest.approx(4 - 1.299228, abs=1e-5) and s.loc["a", "ci_high"] == pytest.approx(4 + 1.299228, abs=1e-5)
    # two ratings: t(0.975, 1) = 12.706205; std 0.707107; half-width 12.706205 · 0.5
    assert s.loc["b", "ci_high"] - s.loc["b", "mean"] == pytest.approx(6.3531, abs=1e-3)
    assert s.loc["c", ["std", "ci_low", "ci_high"]].isna().all() and s.loc["c", "count"] == 1
    by_model = star_summary(r, by="model")
    assert by_model.loc[0, "count"] == 7 and by_model.loc[0, "mean"] == pytest.approx(22 / 7)
    with pytest.raises(ValueError):
        star_summary(r, by="nope")


# -- agreement -------------------------------------------------------------------------------


def ratings_frame(matrix):
    return pd.DataFrame([(f"rev{i}", f"run{j}", s) for i, row in enumerate(matrix) for j, s in enumerate(row) if s is not None],
                        columns=["author", "run_id", "score"])


def test_star_agreement_known_values():
    same = [[1, 2, 3, 4, 5, 3, 2], [1, 2, 3, 4, 5, 3, 2], [1, 2, 3, 4, 5, 3, 2]]
    assert star_agreement(ratings_frame(same)) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = rng.integers(1, 6, size=(4, 400)).tolist()
    assert abs(star_agreement(ratings_frame(noise))) < 0.1
    opposite = [[1, 5, 1, 5, 2, 4], [5, 1, 5, 1, 4, 2]]
    assert star_agreement(ratings_frame(opposite)) < 0
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: ordinal alpha = 0.815
    k2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
             [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]
    assert star_agreement(ratings_frame(k2011)) == pytest.approx(0.815, abs=5e-4)


def test_star_agreement_not_enough_data_and_latest_counts():
    assert math.isnan(star_agreement(ratings_frame([[1, 2, 3]])))  # one reviewer
    assert math.isnan(star_agreement(ratings_frame([[1, None], [None, 2]])))  # no run rated twice
    assert math.isnan(star_agreement(ratings_frame([[3, 3], [3, 3]])))  # no variation
    assert math.isnan(star_agreement(pd.DataFrame(columns=["author", "run_id", "score"])))
    # an earlier rating that disagrees is superseded by the later one
    rows = ratings_frame([[1, 5, 3], [1, 5, 3]])
    rows["created_at"] = pd.Timestamp("2025-01-02")
    stale = pd.DataFrame({"author": ["rev0"], "run_id": ["run0"], "score": [5], "created_at": [pd.Timestamp("2025-01-01")]})
    assert star_agreement(pd.concat([stale, rows])) == pytest.approx(1.0)


def test_vote_agreement_contrarian_scores_zero():
    rows = []
    for pair in [("a", "b"), ("c", "d"), ("a", "c"), ("b", "d")]:
        for author in ["ann", "bob", "cat"]:
            rows.append((*pair, False, author))
        rows.append((pair[1], pair[0], False, "zed"))  # zed always picks the other one
    rows.append(("a", "e", True, "ann"))  # ties are counted as votes but not scored
    rows.append(("x", "y", False, "solo"))  # nobody else voted on x/y
    out = vote_agreement(pd.DataFrame(rows, columns=["winner_id", "loser_id", "tie", "author"])).set_index("author")
    assert out.loc["zed", "agreement"] == 0 and out.loc["zed", "compared"] == 4
    assert (out.loc[["ann", "bob", "cat"], "agreement"] == 1).all()
    assert out.loc["ann", "votes"] == 5 and out.loc["ann", "compared"] == 4
    assert math.isnan(out.loc["solo", "agreement"]) and out.loc["solo", "compared"] == 0
    assert vote_agreement(pd.DataFrame(columns=["winner_id", "loser_id", "tie", "author"])).empty


# -- leaderboard on a real log -----------------------------------------------------------------


@pytest.fixture
def battle(lab):
    """Two guidance values, three runs each; every vote goes to guidance 9."""
    low = [lab.generate(f"a fox {i}", seed=i, guidance=3.0, extra={"pace": 0.0}, **FAST).id for i in range(3)]
    high = [lab.generate(f"a fox {i}", seed=i, guidance=9.0, extra={"pace": 0.01}, **FAST).id for i in range(3)]
    for h in high:
        for lo in low:
            lab.vote(h, lo)
    lab.vote(high[0], high[1])  # same group: skipped
    lab.rate(high[0], 5, tags=["crisp"])
    lab.rate(high[1], 4, tags=["crisp", "warm"])
    lab.rate(low[0], 2, tags=["blurry"])
    lab.rate(low[0], 1, tags=["blurry"])  # replaces the 2
    return lab, low, high


def test_leaderboard_by_request_field(battle):
    lab, low, high = battle
    board = leaderboard(lab, "guidance", bootstrap=50)
    assert list(board.columns) == ["key", "label", "bt_score", "ci_low", "ci_high", "votes", "mean_rating", "rating_ci_low",
                                   "rating_ci_high", "ratings", "runs", "device_s", "kept", "s_per_kept"]
    assert list(board["label"]) == ["9", "3"]
    assert list(board["key"]) == [9.0, 3.0]
    top, bottom = board.iloc[0], board.iloc[1]
    assert top["bt_score"] > 0 > bottom["bt_score"] and top["votes"] == bottom["votes"] == 9
    assert top["mean_rating"] == 4.5 and top["ratings"] == 2 and bottom["mean_rating"] == 1 and bottom["ratings"] == 1
    assert top["runs"] == bottom["runs"] == 3
    # every guidance-9 clip won most of its battles (two were also starred 4+); no guidance-3 clip was kept
    seconds = lab.runs().set_index("id")["duration_s"]
    assert top["kept"] == 3 and top["device_s"] == pytest.approx(seconds[high].sum()) and top["device_s"] > 0
    assert top["s_per_kept"] == pytest.approx(seconds[high].sum() / 3)
    assert bottom["kept"] == 0 and bottom["device_s"] == pytest.approx(seconds[low].sum()) and math.isnan(bottom["s_per_kept"])
    pace = leaderboard(lab, "extra.pace", bootstrap=0)
    assert list(pace["key"]) == [0.01, 0.0] and pace["ci_low"].isna().all()
    prompts = leaderboard(lab, "prompt", bootstrap=0)  # a fox i: one low and one high each, votes across prompts
    assert set(prompts["key"]) == {"a fox 0", "a fox 1", "a fox 2"} and (prompts["runs"] == 2).all()
    model = leaderboard(lab, "model", bootstrap=0)  # sketch has no model: grouped under the backend
    assert list(model["key"]) == ["sketch"] and model.loc[0, "votes"] == 0 and math.isnan(model.loc[0, "bt_score"])
    assert model.loc[0, "runs"] == 6 and model.loc[0, "ratings"] == 3
    # the votes are not lost: the board says they all compare clips of one model
    assert model.attrs["votes_total"] == model.attrs["votes_within"] == 10
    assert model.attrs["note"].startswith("10 of 10 votes compare clips of the same model")
    assert list(leaderboard(lab, "backend", bootstrap=0)["key"]) == ["sketch"]


def test_leaderboard_auto_is_the_default_and_groups_where_the_votes_are(battle):
    from explorer.review.standings import AutoGrouping, Standings

    lab, low, high = battle
    board = leaderboard(lab, bootstrap=0)  # one model, two guidance values, 9 of 10 votes across them
    assert board.attrs["by"] == "guidance" and board.attrs["requested"] == "auto"
    assert list(board["key"]) == [9.0, 3.0] and list(board["votes"]) == [9, 9]
    assert board.attrs["votes_within"] == 1 and board.attrs["note"].startswith("1 of 10 votes compares clips of the same guidance")
    # the server's incremental path agrees, and follows new votes
    chooser = AutoGrouping(lab.log)
    assert chooser.choose() == "guidance" and chooser.total == 10 and chooser.between["model"] == 0
    served = Standings(lab.log, "guidance").table()
    assert list(served["votes"]) == [9, 9] and served.attrs["votes_within"] == 1 and served.attrs["note"] == board.attrs["note"]
    assert Standings(lab.log, "model").table().attrs["votes_within"] == 10
    twins = [lab.generate("a fox 9", seed=s, guidance=9.0, **FAST).id for s in (1, 2)]
    for _ in range(12):  # now most votes compare takes of one prompt: no field splits them, each clip stands alone
        lab.vote(*twins)
    assert chooser.choose() == "run" and chooser.total == 22
    assert leaderboard(lab, bootstrap=0).attrs["by"] == "run"


def test_leaderboard_per_clip_and_auto_without_votes(lab):
    from explorer.review.standings import AutoGrouping, run_table

    takes = [lab.generate("a red fox", seed=i, **FAST).id for i in range(3)]
    assert AutoGrouping(lab.log).choose() == "model"  # nothing voted or rated yet
    lab.rate(takes[0], 4)
    assert AutoGrouping(lab.log).choose() == "run"  # rated clips share every field: one board row per clip
    for w, l in [(takes[0], takes[1])] * 3 + [(takes[1], takes[2])] * 2:
        lab.vote(w, l)
    board = leaderboard(lab, bootstrap=0)
    assert board.attrs["by"] == "run" and board.attrs["note"] == "" and board.attrs["votes_total"] == 5
    assert list(board["key"]) == takes and list(board["votes"]) == [3, 5, 2] and (board["runs"] == 1).all()
    assert board.loc[0, "label"] == f"a red fox · seed 0 · {takes[0][:8]}"
    served = run_table(lab.log)
    assert list(served["key"]) == takes and list(served["votes"]) == [3, 5, 2] and list(served["label"]) == list(board["label"])
    assert served.loc[0, "ratings"] == 1 and served.attrs["note"] == ""
    small = run_table(lab.log, limit=2)  # a bounded board says what it leaves out
    assert len(small) == 2 and small.attrs["votes_outside"] == 2 and "2 involve clips beyond" in small.attrs["note"]


def test_leaderboard_by_tag_and_unknown_field(battle):
    lab, low, high = battle
    tags = leaderboard(lab, "tag", bootstrap=0).set_index("key")
    assert list(tags.index)[-1] == "blurry" and set(tags.index) == {"crisp", "warm", "blurry"}
    assert tags.loc["crisp", "runs"] == 2 and tags.loc["warm", "runs"] == 1 and tags.loc["blurry", "runs"] == 1
    # high0 (crisp) and high1 (crisp, warm) each beat low0 (blurry): crisp>blurry twice, warm>blurry once;
    # high0 beat high1: crisp-vs-crisp is skipped, crisp>warm counts
    assert tags.loc["crisp", "votes"] == 3 and tags.loc["warm", "votes"] == 2 and tags.loc["blurry", "votes"] == 3
    assert tags.loc["crisp", "bt_score"] > tags.loc["blurry", "bt_score"]
    with pytest.raises(ValueError, match="can't group by 'colour'"):
        leaderboard(lab, "colour")
    with pytest.raises(ValueError):
        leaderboard(lab, "extra.")


def test_agreement_report_is_json_safe(battle):
    import json

    lab, low, high = battle
    report = agreement_report(lab)
    assert report["star_alpha"] is None  # one reviewer
    assert report["ratings"] == 3 and report["votes"] == 10
    assert report["reviewers"] == [{"author": "tester", "votes": 10, "compared": 0, "agreement": None}]
    json.dumps(report, allow_nan=False)


# -- next_pair -------------------------------------------------------------------------------


def test_next_pair_prefers_close_and_unvoted_pairs(lab):
    ids = [lab.generate(f"fox {i}", seed=i, **FAST).id for i in range(4)]
    a, b, c, d = ids
    # a >> b, c ≈ d, and each of the four pairs (a,b), (c,d), (a,c), (b,d) voted three times
    for w, l in [(a, b)] * 3 + [(c, d), (d, c), (c, d)] + [(a, c)] * 3 + [(d, b)] * 3:
        lab.vote(w, l)
    rng = random.Random(7)
    seen = Counter(frozenset(next_pair(lab, rng=rng)) for _ in range(100))
    assert set(seen) == {frozenset((a, d)), frozenset((b, c))}  # the two unvoted pairs only
    # both unvoted, so both are drawn; a-vs-d (gap ~5) a little more often than b-vs-c (gap ~6)
    assert min(seen.values()) > 10
    # once every pair has votes, the close contest c-vs-d is drawn more than the foregone a-vs-b
    for w, l in [(a, d)] * 3 + [(c, b)] * 3:
        lab.vote(w, l)
    seen = Counter(frozenset(next_pair(lab, rng=rng)) for _ in range(200))
    assert seen[frozenset((c, d))] > 2 * seen[frozenset((a, b))]


def test_next_pair_two_runs_exclude_and_none(lab):
    a, b, c = (lab.generate(f"fox {i}", seed=i, **FAST).id for i in range(3))
    rng = random.Random(0)
    orders = {next_pair(lab, [a, b], rng=rng) for _ in range(40)}
    assert orders == {(a, b), (b, a)}
    assert next_pair(lab, [a, b], exclude={frozenset((a, b))}) is None
    assert set(next_pair(lab, exclude={frozenset((a, b)), frozenset((a, c))}, rng=rng)) == {b, c}
    assert next_pair(lab, [a]) is None and next_pair(lab, []) is None


def test_next_pair_many_candidates_prefers_unvoted_runs(lab, monkeypatch):
    """10,000 candidates (how long a draw takes: bench/taste_math.py)."""
    ids = [f"run{k:05d}" for k in range(10_000)]
    rng = np.random.default_rng(0)
    heavy = ids[:200]  # only these have votes
    w = rng.choice(heavy, 5000)
    l = rng.choice(heavy, 5000)
    votes = pd.DataFrame({"winner_id": w, "loser_id": l, "tie": False}).query("winner_id != loser_id")
    monkeypatch.setattr(type(lab), "votes", lambda self: votes)
    drawn = [next_pair(lab, ids, rng=random.Random(k)) for k in range(20)]
    assert all(p[0] != p[1] and not (set(p) & set(heavy)) for p in drawn)


# -- next_pair: takes of one idea first ---------------------------------------------------------


@pytest.fixture
def ideas(lab):
    """Unrelated prompts beside takes of one idea: two foxes (one prompt, spelt two ways), a sweep over two
    prompts, a whale and its fork (new prompt), and two forks of one parent that is itself no candidate."""
    foxes = [lab.generate("A red fox", seed=0, **FAST).id, lab.generate("a red  fox!", seed=1, **FAST).id]
    sweep = lab.sweep("a paper boat", {"prompt": ["a paper boat", "a paper plane"]}, **FAST)
    whale = lab.generate("a blue whale", **FAST).id
    fork = lab.fork(whale, prompt="a whale at night", progress=False).id
    root = lab.generate("a comet", **FAST).id
    kids = [lab.fork(root, prompt=p, progress=False).id for p in ("comet over a city", "comet over the sea")]
    loners = [lab.generate(p, **FAST).id for p in ("a galaxy", "candy bubbles")]
    return {"foxes": foxes, "sweep": list(sweep["id"]), "fork": [whale, fork], "kids": kids, "loners": loners, "root": root}


def test_next_pair_battles_takes_of_one_idea_and_says_why(lab, ideas):
    candidates = [i for k, ids in ideas.items() if k != "root" for i in ids]
    expected = {frozenset(ideas["foxes"]): "same prompt", frozenset(ideas["sweep"]): "same sweep",
                frozenset(ideas["fork"]): "fork and parent", frozenset(ideas["kids"]): "forks of one parent"}
    rng = random.Random(5)
    shown = set()
    for _ in range(len(expected)):  # every related pair once, in some order, before any unrelated one
        pair = next_pair(lab, candidates, exclude=shown, rng=rng)
        assert pair.related and expected[frozenset(pair)] == pair.reason, (pair, pair.reason)
        shown.add(frozenset(pair))
    assert shown == set(expected)
    late = next_pair(lab, candidates, exclude=shown, rng=rng)  # nothing related left: unrelated, and flagged
    assert not late.related and late.reason == "no more takes of the same idea; this pair is unrelated"
    assert frozenset(late) not in shown


def test_next_pair_never_pairs_unrelated_prompts_while_takes_are_left(lab):
    galaxy, bubbles = lab.generate("a galaxy", **FAST).id, lab.generate("candy bubbles", **FAST).id
    takes = [lab.generate("a red fox", seed=i, **FAST).id for i in range(3)]
    for k in range(30):
        lab.vote(takes[k % 3], takes[(k + 1) % 3])  # the takes are well voted, the loners not at all
    rng = random.Random(0)
    pairs = [next_pair(lab, rng=rng) for _ in range(40)]
    assert all(set(p) <= set(takes) and p.related for p in pairs)
    assert galaxy not in {i for p in pairs for i in p} and bubbles not in {i for p in pairs for i in p}
    # still a tuple: unpacks, compares and hashes as before
    a, b = pairs[0]
    assert pairs[0] == (a, b) and {pairs[0]: 1}[(a, b)] == 1


def test_next_pair_related_prefers_fewest_votes_and_close_scores(lab):
    a, b, c, d = (lab.generate("a red fox", seed=i, **FAST).id for i in range(4))
    lab.generate("a galaxy", **FAST)
    for w, l in [(a, b)] * 3 + [(c, d), (d, c), (c, d)] + [(a, c)] * 3 + [(d, b)] * 3 + [(a, d)] * 3 + [(c, b)] * 3:
        lab.vote(w, l)  # every fox pair voted three times
    rng = random.Random(7)
    seen = Counter(frozenset(next_pair(lab, rng=rng)) for _ in range(200))
    assert all(len(p & {a, b, c, d}) == 2 for p in seen)
    assert seen[frozenset((c, d))] > 2 * seen[frozenset((a, b))]  # the close contest beats the foregone one


def test_next_pair_many_related_candidates_stays_related(lab, monkeypatch):
    ids = [f"run{k:05d}" for k in range(10_000)]
    # 10,000 runs of 50 prompts: 200 takes each, ~1M related pairs, far too many to list
    meta = pd.DataFrame({"id": ids, "prompt": [f"idea {k % 50}" for k in range(10_000)], "sweep_id": None, "parent_id": None})
    monkeypatch.setattr(type(lab), "sql", lambda self, q, p=None: meta if "prompt, sweep_id, parent_id" in q else pd.DataFrame())
    rng = np.random.default_rng(0)
    heavy = ids[:200]
    votes = pd.DataFrame({"winner_id": rng.choice(heavy, 5000), "loser_id": rng.choice(heavy, 5000), "tie": False}).query("winner_id != loser_id")
    monkeypatch.setattr(type(lab), "votes", lambda self: votes)
    drawn = [next_pair(lab, ids, rng=random.Random(k)) for k in range(20)]
    prompt = dict(zip(meta["id"], meta["prompt"]))
    assert all(p.related and prompt[p[0]] == prompt[p[1]] and not (set(p) & set(heavy)) for p in drawn)


def test_bradley_terry_survives_a_fit_that_does_not_converge(monkeypatch):
    """One-way votes can leave the iteration unsettled; the fit retries with a stronger pull instead of failing."""
    module = importlib.import_module("explorer.review.bradley_terry")

    real, calls = module._ilsr_batch, []

    def first_call_fails(comps, alpha, start, max_iter, tol):
        calls.append(alpha)
        fits, settled = real(comps, alpha, start, max_iter, tol)
        return fits, settled & (len(calls) > 1)

    monkeypatch.setattr(module, "_ilsr_batch", first_call_fails)
    ids = [f"r{i}" for i in range(6)]
    votes = pd.DataFrame({"winner_id": ids[1:], "loser_id": ids[:-1], "tie": False})
    bt = bradley_terry(votes, bootstrap=0)
    assert list(bt["item"]) == ids[::-1] and calls[1] > calls[0]


def test_bradley_terry_fit_gives_up_with_a_clear_error(monkeypatch):
    module = importlib.import_module("explorer.review.bradley_terry")

    monkeypatch.setattr(module, "_ilsr_batch", lambda comps, *a: (comps[:, 0] * 0, np.zeros(len(comps), dtype=bool)))
    with pytest.raises(RuntimeError, match="did not converge"):
        module.fit_scores(np.array([[0.0, 2.0], [1.0, 0.0]]), 0.01)


@pytest.mark.parametrize("size, alpha, seed", [(2, 0.01, 0), (5, 0.01, 1), (30, 0.01, 2), (30, 1.0, 3), (120, 0.001, 4)])
def test_fit_scores_matches_choix(size, alpha, seed):
    """Our NumPy fit is choix's ilsr_pairwise_dense step for step: the reference, imported only by the tests."""
    import choix

    from explorer.review.bradley_terry import fit_scores

    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, size)
    comp = np.zeros((size, size))
    for _ in range(size * 20):
        i, j = rng.choice(size, 2, replace=False)
        if rng.random() < 1 / (1 + np.exp(strength[j] - strength[i])):
            comp[i, j] += 1
        else:
            comp[j, i] += 1
    ours = fit_scores(comp, alpha)
    theirs = choix.ilsr_pairwise_dense(comp, alpha=alpha / (size - 1), max_iter=1000, tol=1e-7 * size)
    assert np.abs(ours - (theirs - theirs.mean())).max() < 1e-9


def test_student_t_quantile_matches_scipy_stats():
    from scipy.stats import t

    from explorer.review.ratings import student_t_975

    dof = np.concatenate([np.arange(1, 2000), [5_000, 10**5, 10**7]])
    assert np.abs(student_t_975(dof) / t.ppf(0.975, dof) - 1).max() < 1e-9
    assert student_t_975(7) == pytest.approx(2.364624251592785, rel=1e-12) and isinstance(student_t_975(7), float)
