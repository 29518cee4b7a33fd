"""Pairwise, Gallery and Lineage on the Python side (no browser): the pair sampler, logged votes and
ratings, server-side filtering and paging, lineage nodes, and small saved state."""

from __future__ import annotations

import json
import random

import pytest

from explorer.review import next_pair
from explorer.widgets.gallery import Gallery
from explorer.widgets.lineage import Lineage
from explorer.widgets.pairwise import Pairwise

FAST = dict(frames=6, width=64, height=48, steps=2, progress=False)


def clips(lab, n, prompt="a red fox"):
    return [lab.generate(f"{prompt} {i}", seed=i, **FAST).id for i in range(n)]


def send(widget, content):
    widget._on_custom(widget, content, [])


def saved_state_sizes(widget):
    state = widget.get_state()
    return {k: len(v) if isinstance(v, str) else len(json.dumps(v, default=str)) for k, v in state.items()}


# -- next_pair -------------------------------------------------------------------------------


def test_next_pair_needs_two(lab):
    assert next_pair(lab) is None
    (only,) = clips(lab, 1)
    assert next_pair(lab) is None
    assert next_pair(lab, [only]) is None
    assert next_pair(lab, []) is None


def test_next_pair_prefers_pairs_with_fewest_votes(lab):
    a, b, c = clips(lab, 3)
    lab.vote(a, b)
    lab.vote(b, a, tie=True)  # both orders count for the pair
    lab.vote(a, c)
    rng = random.Random(0)
    for _ in range(20):  # only (b, c) has no vote yet
        assert set(next_pair(lab, rng=rng)) == {b, c}
    # excluding it leaves the pair with one vote, never the one with two
    for _ in range(20):
        assert set(next_pair(lab, exclude={frozenset((b, c))}, rng=rng)) == {a, c}
    assert next_pair(lab, exclude={frozenset(p) for p in [(a, b), (a, c), (b, c)]}) is None


def test_next_pair_breaks_ties_at_random_and_shuffles_order(lab):
    ids = clips(lab, 3)
    rng = random.Random(1)
    seen = {next_pair(lab, rng=rng) for _ in range(60)}
    assert {frozenset(p) for p in seen} == {frozenset(p) for p in [(ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2])]}
    assert len(seen) == 6  # both orders appear


def test_next_pair_candidates_and_default_skip_runs_without_media(lab):
    a, b, c = clips(lab, 3)
    assert set(next_pair(lab, [a, c])) == {a, c}
    lab.log.start_run(lab.run(a).request, author="x")  # still running, no media: not a default candidate
    for _ in range(10):
        assert set(next_pair(lab)) <= {a, b, c}


# -- Pairwise --------------------------------------------------------------------------------


def test_pairwise_choices_log_votes_with_the_right_winner(lab):
    ids = clips(lab, 4)
    w = Pairwise(lab, rng=random.Random(3))
    assert w.left["id"] in ids and w.right["id"] in ids and w.left["id"] != w.right["id"]
    assert set(w.left) == {"id", "sha256", "frames", "fps", "width", "height"}  # blind: no prompt, seed or model
    expected = []
    for choice in ("right", "left", "tie"):
        left, right = w.left["id"], w.right["id"]
        send(w, {"type": "choose", "choice": choice, "left": left, "right": right})
        expected.append({"right": (right, left, False), "left": (left, right, False), "tie": (left, right, True)}[choice])
        assert frozenset((w.left["id"], w.right["id"])) != frozenset((left, right))  # the next pair is another one
    votes = lab.votes()
    assert [(r.winner_id, r.loser_id, bool(r.tie)) for r in votes.itertuples()] == expected
    assert set(votes.author) == {"tester"}
    assert w.votes == 3 and w.message == ""


def test_pairwise_skip_logs_nothing_and_stale_presses_are_ignored(lab):
    clips(lab, 3)
    w = Pairwise(lab)
    left, right = w.left["id"], w.right["id"]
    send(w, {"type": "choose", "choice": "skip", "left": left, "right": right})
    assert len(lab.votes()) == 0 and w.votes == 0
    assert frozenset((w.left["id"], w.right["id"])) != frozenset((left, right))
    send(w, {"type": "choose", "choice": "left", "left": left, "right": right})  # that pair is gone: ignored
    assert len(lab.votes()) == 0


def test_pairwise_runs_out_of_pairs_and_says_so(lab):
    a, b, c = clips(lab, 3)
    w = Pairwise(lab, runs=[a, lab.run(b)])  # ids or Run objects
    assert {w.left["id"], w.right["id"]} == {a, b}
    send(w, {"type": "choose", "choice": "left", "left": w.left["id"], "right": w.right["id"]})
    assert w.left == {} and w.right == {} and "No pairs left" in w.message
    assert w.votes == 1 and len(lab.votes()) == 1
    send(w, {"type": "choose", "choice": "left", "left": None, "right": None})  # nothing on screen: ignored
    assert len(lab.votes()) == 1
    assert "at least two" in Pairwise(lab, runs=[c]).message


def test_pairwise_filters_and_errors_stay_in_the_widget(lab):
    foxes = clips(lab, 2, "a red fox")
    clips(lab, 2, "a blue whale")
    w = Pairwise(lab, text="fox")
    assert {w.left["id"], w.right["id"]} == set(foxes)
    w._lab = None  # any fault in a handler: shown, not raised into the kernel
    send(w, {"type": "choose", "choice": "left", "left": w.left["id"], "right": w.right["id"]})
    assert w.message.startswith("Error:")


# -- Gallery ---------------------------------------------------------------------------------


def test_gallery_pages_filters_and_sorts_in_python(lab):
    foxes = clips(lab, 5, "a red fox")
    whales = clips(lab, 3, "a blue whale")
    g = Gallery(lab, page_size=3)
    assert g.total == 8 and g.page == 0
    assert [i["id"] for i in g.page_items] == (foxes + whales)[::-1][:3]  # newest first
    send(g, {"type": "query", "page": 2})
    assert g.page == 2 and [i["id"] for i in g.page_items] == foxes[::-1][3:]
    send(g, {"type": "query", "page": 99})
    assert g.page == 2  # clamped to the last page
    send(g, {"type": "query", "text": "WHALE", "page": 0})
    assert g.text == "WHALE" and g.total == 3 and {i["id"] for i in g.page_items} == set(whales)
    g.text = ""  # setting a trait from Python runs the query too, from the first page
    assert g.total == 8 and g.page == 0

    lab.rate(foxes[1], 5, tags=["crisp"])
    lab.rate(whales[0], 2, tags=["blurry"])
    send(g, {"type": "query", "sort": "rating", "page": 0})
    first = g.page_items[0]
    assert first["id"] == foxes[1] and first["rating"] == 5 and first["tags"] == ["crisp"] and first["ratings"] == 1
    assert g.page_items[1]["id"] == whales[0]
    g.min_rating = 3
    assert [i["id"] for i in g.page_items] == [foxes[1]]
    g.min_rating = 0
    g.tag = "blurry"
    assert [i["id"] for i in g.page_items] == [whales[0]]
    assert set(g.options["tags"]) == {"crisp", "blurry"} and g.options["authors"] == ["tester"]
    assert Gallery(lab, text="fox", sort="oldest").page_items[0]["id"] == foxes[0]
    with pytest.raises(TypeError):
        Gallery(lab, colour="red")


def test_gallery_rating_from_the_detail_pane_logs_a_row(lab):
    a, b = clips(lab, 2)
    g = Gallery(lab)
    send(g, {"type": "open", "id": a})
    assert g.detail["id"] == a and g.detail["my_rating"] == 0 and g.detail["prompt"] == "a red fox 0"
    send(g, {"type": "rate", "id": a, "score": 4})
    rows = lab.ratings(a)
    assert list(rows.score) == [4] and list(rows.author) == ["tester"]
    assert g.detail["my_rating"] == 4 and g.detail["rating"] == 4
    assert next(i for i in g.page_items if i["id"] == a)["rating"] == 4
    send(g, {"type": "rate", "id": a, "score": 9})  # refused by the log: shown in the widget
    assert g.message.startswith("Error:") and list(lab.ratings(a).score) == [4]
    send(g, {"type": "open", "id": None})
    assert g.detail == {}


def test_gallery_compare_selected(lab, monkeypatch):
    a, b, c = clips(lab, 3)
    g = Gallery(lab)
    with pytest.raises(ValueError):
        g.compare()
    g.selected = [a, c]
    calls = []
    monkeypatch.setattr(type(lab.ui), "compare", lambda self, runs, **kw: calls.append((runs, kw)) or "compare-widget")
    assert g.compare() == "compare-widget" and calls == [([a, c], {})]


# -- Lineage ---------------------------------------------------------------------------------


def test_lineage_nodes_match_lab_lineage(lab):
    root = lab.generate("a lighthouse", seed=1, **FAST)
    child = lab.fork(root, seed=2, progress=False)
    grandchild = lab.fork(child, seed=3, progress=False)
    sibling = lab.fork(root, seed=4, progress=False)
    clips(lab, 1, "unrelated")
    w = Lineage(lab, child)
    expected = lab.lineage(child)
    assert [(n["depth"], n["id"], n["parent_id"], n["seed"]) for n in w.nodes] == [
        (int(r.depth), r.id, r.parent_id if isinstance(r.parent_id, str) else None, int(r.seed)) for r in expected.itertuples()]
    assert {n["id"]: n["depth"] for n in w.nodes} == {root.id: -1, child.id: 0, grandchild.id: 1}
    assert all(n["sha256"] for n in w.nodes) and sibling.id not in {n["id"] for n in w.nodes}
    assert w.run_id == child.id and w.clip["id"] == child.id
    send(w, {"type": "play", "id": root.id})
    assert w.playing == root.id and w.clip["id"] == root.id and w.clip["sha256"] == root.sha256
    send(w, {"type": "play", "id": "nope"})
    assert w.message.startswith("Error:")
    assert len(Lineage(lab, root.id).nodes) == 4


# -- saved state -----------------------------------------------------------------------------


def test_saved_state_is_small(lab):
    root = lab.generate("a long prompt " * 30, seed=1, **FAST)
    lab.fork(root, seed=2, progress=False)
    ids = [root.id] + clips(lab, 12)
    for i in ids[:6]:
        lab.rate(i, 3, tags=["some-tag", "another-tag"])
    for widget in (Pairwise(lab), Gallery(lab), Lineage(lab, root)):
        sizes = saved_state_sizes(widget)
        assert sizes["_esm"] < 3000, sizes
        big = {k: v for k, v in sizes.items() if k != "_esm" and v > 3000}
        assert not big, (type(widget).__name__, big)
        assert len(widget._fallback_html() or "") < 3000
