"""The atlas: clips placed in 2-D by their metrics (deterministic, similar clips together), coloured by taste."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from explorer.atlas import GRID, atlas, layout
from explorer.request import RequestError

SMALL = {"frames": 6, "width": 64, "height": 48, "steps": 2, "fps": 6}


def _clusters(seed: int = 0) -> pd.DataFrame:
    """Three tight groups of clips in a 5-metric space, on very different scales (as real metrics are)."""
    rng = np.random.default_rng(seed)
    centres = {"still": [0.1, 2.0, 900.0, 0.5, 20.0], "drift": [3.0, 2.5, 300.0, 0.4, 60.0], "zoom": [9.0, 8.0, 100.0, 0.7, 90.0]}
    scale = np.array([0.2, 0.2, 20.0, 0.02, 3.0])
    rows, index = [], []
    for name, centre in centres.items():
        for k in range(20):
            rows.append(np.array(centre) + rng.normal(size=5) * scale)
            index.append(f"{name}-{k}")
    return pd.DataFrame(rows, index=index, columns=["motion", "flicker", "sharpness", "exposure", "colourfulness"])


def test_similar_clips_land_together():
    values = _clusters()
    x, y, explained = layout(values)
    assert x.min() >= 0 and y.min() >= 0 and max(x.max(), y.max()) == pytest.approx(1.0)
    assert sum(explained) > 0.8
    xy = pd.DataFrame({"x": x, "y": y}, index=values.index)
    group = xy.index.str.split("-").str[0]
    centres = xy.groupby(group).mean()
    spread = max(float(np.hypot(*(xy[group == g] - centres.loc[g]).to_numpy().T).max()) for g in centres.index)
    gaps = [float(np.hypot(*(centres.loc[a] - centres.loc[b]))) for a in centres.index for b in centres.index if a < b]
    assert min(gaps) > 2 * spread  # every clip is nearer its own group's centre than any two groups are to each other


def test_the_layout_is_the_same_in_another_process():
    values = _clusters(seed=3)
    x, y, _ = layout(values)
    code = ("import sys, json, pandas as pd; from explorer.atlas import layout; v = pd.read_json(sys.stdin, orient='split'); "
            "x, y, _ = layout(v); print(json.dumps([x.tolist(), y.tolist()]))")
    out = subprocess.run([sys.executable, "-c", code], input=values.to_json(orient="split", double_precision=15), text=True,
                         capture_output=True, check=True, env={**os.environ})
    other_x, other_y = json.loads(out.stdout)
    np.testing.assert_allclose(other_x, x, atol=1e-9)
    np.testing.assert_allclose(other_y, y, atol=1e-9)
    x2, y2, _ = layout(values)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_degenerate_inputs_place_without_failing():
    assert layout(pd.DataFrame(columns=["motion"])) [0].size == 0
    x, y, _ = layout(pd.DataFrame({"motion": [1.0]}, index=["a"]))
    assert (x[0], y[0]) == (0.5, 0.5)
    x, y, _ = layout(pd.DataFrame({"motion": [1.0, 2.0, 3.0], "flat": [5.0, 5.0, 5.0]}, index=list("abc")))  # one usable metric
    assert list(np.round(x, 6)) == [0.0, 0.5, 1.0] and len(set(y)) == 1


def test_bad_input_names_the_field(lab):
    with pytest.raises(RequestError, match="colour_by"):
        atlas(lab, colour_by="loudness")
    with pytest.raises(RequestError, match="min_rating"):
        atlas(lab, min_rating=9)
    with pytest.raises(RequestError, match="size"):
        lab.ui.atlas(size=3)
    widget = lab.ui.atlas()
    widget.on_message({"type": "query", "colour_by": "loudness"}, [])  # from the browser: a message, never an exception
    assert widget.message.startswith("Error") and "colour_by" in widget.message


@pytest.fixture
def clips(lab):
    """Four measured sketch clips (two still, two fast zoom) and one unmeasured one."""
    made = {f"{p}-{s}": lab.generate(p, seed=s, progress=False, **SMALL) for p in ("still", "fast zoom") for s in (1, 2)}
    lab.compute_metrics = False
    made["unmeasured"] = lab.generate("kite", seed=1, progress=False, **SMALL)
    lab.compute_metrics = True
    return {k: r.id for k, r in made.items()}


def test_a_real_sketch_atlas_places_measured_clips_and_counts_the_rest(lab, clips):
    widget = lab.ui.atlas()
    points = widget.points
    assert sorted(points["ids"]) == sorted(v for k, v in clips.items() if k != "unmeasured")
    assert widget.unmeasured == 1 and widget.unmeasured_ids == [clips["unmeasured"]]
    # compact arrays, one per coordinate, integers on the 16-bit grid
    assert len(points["x"]) == len(points["y"]) == len(points["colour"]) == 4
    assert all(isinstance(v, int) and 0 <= v <= GRID for v in points["x"] + points["y"])
    assert set(widget.legend["features"]) >= {"motion", "flicker", "sharpness"}
    assert widget.legend["unknown"] == 4 and "no clip shown has stars" in widget.legend["note"]
    assert "4 clips placed, 1 unmeasured" in widget._fallback_html()
    again = lab.ui.atlas().points
    assert again == points  # the same log, the same picture


def test_colours_follow_stars_votes_and_the_taste_model(lab, clips):
    a, b, c = clips["still-1"], clips["fast zoom-1"], clips["fast zoom-2"]
    lab.rate(a, 5)
    lab.rate(b, 1)
    stars = atlas(lab, "stars")
    by_id = dict(zip(stars.ids, stars.colour))
    assert by_id[a] == 5 and by_id[b] == 1 and np.isnan(by_id[c])
    assert stars.legend()["low"] == 1 and stars.legend()["high"] == 5

    for _ in range(3):
        lab.vote(c, a)
        lab.vote(a, b)
    bt = dict(zip(*[(d := atlas(lab, "bt")).ids, d.colour]))
    assert bt[c] > bt[a] > bt[b] and np.isnan(bt[clips["still-2"]])

    assert np.isnan(atlas(lab, "taste").colour).all()  # too few comparisons: the model is not ready, and the note says so
    assert "not ready" in atlas(lab, "taste").note
    motion = lab.metrics()["metric_motion"]
    ids = list(motion.index)
    for i in ids:  # the team likes motion: enough votes for the model to learn it
        for j in ids:
            if motion[i] > motion[j]:
                lab.vote(i, j)
                lab.vote(i, j)
    from explorer.review.taste import predicted_taste

    taste = atlas(lab, "taste")
    np.testing.assert_allclose(taste.colour, predicted_taste(lab, taste.ids).to_numpy())
    assert taste.ids[int(np.argmax(taste.colour))] == motion.idxmax()

    widget = lab.ui.atlas(colour_by="stars")
    widget.colour_by = "bt"  # the switch
    now = atlas(lab, "bt")
    assert widget.legend["colour_by"] == "bt"
    np.testing.assert_allclose(widget.points["colour"], now.colour, rtol=1e-3)


def test_filters_like_the_gallery(lab, clips):
    lab.rate(clips["still-1"], 4)
    lab.rate(clips["fast zoom-2"], 3, tags=["keeper"])
    assert sorted(atlas(lab, text="zoom").ids) == sorted([clips["fast zoom-1"], clips["fast zoom-2"]])
    assert atlas(lab, min_rating=4).ids == [clips["still-1"]]
    assert atlas(lab, tag="keeper").ids == [clips["fast zoom-2"]]
    assert atlas(lab, text="kite").unmeasured == [clips["unmeasured"]]
    widget = lab.ui.atlas()
    widget.on_message({"type": "query", "text": "still", "min_rating": 0}, [])
    assert widget.message == "" and sorted(widget.points["ids"]) == sorted([clips["still-1"], clips["still-2"]])
    assert widget.unmeasured == 0


def test_lasso_selection_compares_and_battles(lab, clips):
    widget = lab.ui.atlas()
    a, b = clips["still-1"], clips["fast zoom-1"]
    widget.on_message({"type": "select", "ids": [a, b, clips["unmeasured"]]}, [])
    assert widget.selected == [a, b]  # an id not on the map is left out
    widget.on_message({"type": "compare", "ids": widget.selected}, [])
    assert [c["id"] for c in widget.comparing["clips"]] == [a, b] and widget.comparing["clips"][0]["sha256"]
    assert widget.compare().__class__.__name__ == "Compare"

    widget.on_message({"type": "battle", "ids": [a, b]}, [])
    shown = {widget.battle["left"]["id"], widget.battle["right"]["id"]}
    assert shown == {a, b} and "prompt" not in widget.battle["left"]  # blind
    widget.on_message({"type": "choose", "choice": "left", "left": widget.battle["left"]["id"], "right": widget.battle["right"]["id"]}, [])
    votes = lab.votes()
    assert len(votes) == 1 and {votes.winner_id[0], votes.loser_id[0]} == {a, b}
    assert widget.battle["votes"] == 1 and not widget.battle["left"]  # the only pair has been shown
    widget.on_message({"type": "hover", "id": a}, [])  # unknown messages are ignored
    assert widget.hover_clip(a)["sha256"] == lab.log.run(a)["media_sha256"]
    assert widget.pairwise().__class__.__name__ == "Pairwise"


def test_bradley_terry_colours_at_scale_keep_the_dense_fits_order():
    """Past DENSE_BT_ITEMS voted clips the colours come from a sparse fit of the same model: same order, in seconds."""
    from scipy.stats import spearmanr

    from explorer.atlas import bt_scores

    rng = np.random.default_rng(0)
    n = 60
    strength, ids = rng.normal(size=n), np.array([f"c{i}" for i in range(n)])
    a, b = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    a, b = a[a != b], b[a != b]
    a_wins = rng.random(len(a)) < 1 / (1 + np.exp(strength[b] - strength[a]))
    votes = pd.DataFrame({"winner_id": np.where(a_wins, ids[a], ids[b]), "loser_id": np.where(a_wins, ids[b], ids[a]),
                          "tie": rng.random(len(a)) < 0.1})
    dense, sparse = bt_scores(votes), bt_scores(votes, dense_items=0)
    assert set(dense.index) == set(sparse.index) == set(ids)
    assert spearmanr(dense[ids], sparse[ids]).statistic > 0.98
    assert abs(sparse.mean()) < 1e-9
