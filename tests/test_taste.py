"""The team's taste model (explorer.review.taste): it learns the function simulated reviewers follow, reads random votes
as chance, learns from stars, refits as votes arrive on a real log, and orders the Rate queue and the battles."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest
from test_metrics import SMALL, _simulated

from explorer.review import next_pair, rank_by_taste, taste_model
from explorer.review.taste import MIN_COMPARISONS, fit, order_by_taste


def _ceiling(values: pd.DataFrame, votes: pd.DataFrame, taste: pd.Series) -> float:
    """How often the reviewers' own noiseless taste agrees with their votes: the best any model can do."""
    played = votes[~votes["tie"]]
    return float((taste[played["winner_id"]].to_numpy() > taste[played["loser_id"]].to_numpy()).mean())


def test_held_out_accuracy_approaches_the_simulated_ceiling():
    values, votes, _ = _simulated(follow="-flicker", n_votes=1200)
    model = fit(values, votes)
    ceiling = _ceiling(values, votes, -values["flicker"])
    assert model.votes == int((~votes["tie"]).sum()) and model.held_out == model.votes
    assert ceiling - 0.04 <= model.accuracy <= ceiling + 0.03
    assert model.low < model.accuracy < model.high and model.high - model.low < 0.08
    assert model.weights.abs().idxmax() == "flicker" and model.weights["flicker"] < 0  # less flicker wins
    assert set(model.per_reviewer) == {"ann", "bob"} and all(r["votes"] > 500 for r in model.per_reviewer.values())
    assert model.ready and "held-out votes" in model.describe()


def test_random_votes_read_as_chance_with_an_interval_around_half():
    models = [fit(*_simulated(follow="random", seed=seed)[:2]) for seed in range(10)]
    assert abs(np.mean([m.accuracy for m in models]) - 0.5) < 0.03
    assert sum(m.low < 0.5 < m.high for m in models) >= 7  # a 95 % interval: most of them hold chance


def test_per_reviewer_accuracy_tells_a_consistent_reviewer_from_a_random_one():
    values, follows, _ = _simulated(follow="motion", seed=5, n_votes=1600)
    _, random_votes, _ = _simulated(follow="random", seed=6, n_votes=1600)
    votes = pd.concat([follows.assign(author="ann"), random_votes.assign(author="bob")], ignore_index=True)
    model = fit(values, votes)
    ann, bob = model.per_reviewer["ann"], model.per_reviewer["bob"]
    assert ann["accuracy"] > 0.75 and ann["low"] > 0.7
    assert bob["low"] < 0.5 < bob["high"]


def test_stars_alone_teach_it_but_do_not_claim_an_accuracy():
    values, _, stars = _simulated(follow="sharpness", seed=2, noise=0.3)
    model = fit(values, pd.DataFrame(columns=["winner_id", "loser_id", "tie", "author"]), stars)
    assert model.votes == 0 and model.star_pairs > 100
    assert model.weights.abs().idxmax() == "sharpness" and model.weights["sharpness"] > 0
    assert model.accuracy is None and "too few votes" in model.describe()


def _voted_by_motion(lab, n_votes=None):
    runs = [lab.generate(p, seed=s, progress=False, **SMALL) for p in ("slow drift", "fast zoom", "a still lake") for s in (1, 2, 3)]
    motion = lab.metrics()["metric_motion"]
    pairs = list(itertools.combinations(runs, 2))[:n_votes]
    for a, b in pairs:
        lab.vote(*((a, b) if motion[a.id] > motion[b.id] else (b, a)))
    return runs, motion


def test_on_a_log_it_refits_as_votes_arrive_and_ranks_a_sweep(lab):
    runs, motion = _voted_by_motion(lab, n_votes=10)
    first = taste_model(lab)
    assert first.votes == 10 and not first.ready  # under MIN_COMPARISONS: orders nothing
    ids = [r.id for r in runs]
    assert order_by_taste(lab, ids) == ids
    for a, b in list(itertools.combinations(runs, 2))[10:]:
        lab.vote(*((a, b) if motion[a.id] > motion[b.id] else (b, a)))
    model = taste_model(lab)
    assert model is not first and model.votes == 36 >= MIN_COMPARISONS and model.ready
    assert taste_model(lab) is model  # nothing new: not refitted
    assert model.accuracy > 0.8
    ranked = rank_by_taste(lab, runs)
    assert list(ranked["id"][:3]) == list(motion[ids].sort_values(ascending=False).index[:3])
    assert list(ranked["rank"]) == list(range(1, 10)) and "learnt from 36 votes" in ranked.attrs["model"]
    assert order_by_taste(lab, ids) == list(ranked["id"])


def test_battles_pick_pairs_the_model_is_least_sure_of(lab):
    runs, motion = _voted_by_motion(lab)
    fresh = [lab.generate("slow drift", seed=s, progress=False, **SMALL) for s in range(10, 16)]
    score = rank_by_taste(lab, fresh).set_index("id")["taste"]
    gaps = [abs(score[a.id] - score[b.id]) for a, b in itertools.combinations(fresh, 2)]
    drawn = [abs(score[a] - score[b]) for a, b in (next_pair(lab, fresh, rng=random.Random(i)) for i in range(60))]
    assert np.mean(drawn) < np.mean(gaps) * 0.8  # close contests drawn more often than chance would


@pytest.mark.parametrize("n", [0])
def test_the_module_examples_run(n):
    import doctest

    from explorer.review import taste

    assert doctest.testmod(taste).failed == n


def test_cli_says_what_it_learnt_and_ranks_a_sweep(tmp_path):
    import json

    import explorer
    from test_cli import explorer as cli

    db = tmp_path / "t.duckdb"
    lab = explorer.open(db, author="ann")
    cells = lab.sweep("fast zoom", {"seed": list(range(1, 8))}, progress=False, **SMALL)
    motion = lab.metrics()["metric_motion"]
    for a, b in itertools.combinations(cells["id"], 2):
        lab.vote(*((a, b) if motion[a] > motion[b] else (b, a)))
    sweep = lab.runs()["sweep_id"].iloc[0]
    lab.log.close()
    shown = cli("taste", "--db", db, "--sweep", sweep).stdout
    assert "learnt from 21 votes" in shown and "ann: right on" in shown and "weighs" in shown
    body = json.loads(cli("taste", "--db", db, "--sweep", sweep, "--json").stdout)
    assert body["votes"] == 21 and body["ready"] and [r["rank"] for r in body["ranked"]] == list(range(1, 8))
    assert body["ranked"][0]["id"] == motion[list(cells["id"])].idxmax()
    assert cli("taste", "--db", db, "--sweep", "nope", check=False).returncode == 2


def test_the_queue_never_waits_on_a_slow_refit(lab, monkeypatch):
    import threading

    from explorer.review import taste

    _voted_by_motion(lab)
    release, started = threading.Event(), threading.Event()
    real_fit = taste.fit

    def slow_fit(*args, **kwargs):
        started.set()
        release.wait()
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(taste, "fit", slow_fit)
    meanwhile = taste.taste_model(lab, wait=0)  # the refit runs on in the background
    assert started.is_set() or started.wait()
    assert meanwhile is taste.UNFITTED and not meanwhile.ready
    ids = list(lab.runs()["id"])
    assert taste.order_by_taste(lab, ids, wait=0) == ids  # nothing fitted yet: the queue keeps its order
    release.set()
    model = taste.taste_model(lab)  # waits for the same refit rather than starting another
    assert model.ready and model.votes == 36
