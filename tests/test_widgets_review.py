"""Compare, Rater and Annotator without a browser: the messages the browser sends, the rows they log, the errors shown."""

from __future__ import annotations

import json

import pytest

from explorer.widgets import UI
from explorer.widgets.annotate import Annotator
from explorer.widgets.compare import Compare
from explorer.widgets.rate import Rater


@pytest.fixture
def clips(lab):
    return [lab.generate(f"review clip {i}", seed=i, frames=6, width=64, height=48, steps=2, progress=False) for i in range(3)]


def _custom(widget, content):
    widget._on_custom(widget, content, [])


def _small_state(widget):
    state = widget.get_state(drop_defaults=False)
    assert len(state["_esm"]) < 3000, "the saved ESM must stay the small loader"
    for key, value in state.items():
        if key == "_esm":
            continue
        size = len(json.dumps(value, default=str))
        assert size < 2048, f"{key} holds {size} bytes of saved state"
    return state


# -- Compare -------------------------------------------------------------------------------


def test_compare_grid_state(lab, clips):
    widget = lab.ui.compare(clips, blind=True, width=200)
    assert isinstance(widget, Compare)
    assert [c["id"] for c in widget.clips] == [r.id for r in clips]
    assert widget.columns == 2 and widget.blind and widget.width == 200 and widget.view == "side"
    assert all(c["sha256"] and c["fps"] and c["frames"] == 6 for c in widget.clips)
    state = _small_state(widget)
    assert state["_module"] == "compare"

    widget.frame = 3
    assert widget.frame == 3
    widget.frame = 99  # clamped to the last frame
    assert widget.frame == 5
    with pytest.raises(Exception, match="needs exactly two clips"):
        widget.view = "wipe"
    assert "<video" in widget._fallback_html()


def test_compare_accepts_ids_and_two_views(lab, clips):
    widget = Compare(lab, [clips[0].id, clips[1].id[:8]])
    assert widget.columns == 2 and not widget.blind
    for view in ("wipe", "difference", "side"):
        widget.view = view
        assert widget.view == view
    with pytest.raises(Exception, match="view: one of"):
        widget.view = "overlay"


@pytest.mark.parametrize("count", [0, 1, 10])
def test_compare_needs_two_to_nine(lab, clips, count):
    runs = (clips * 4)[:count]
    with pytest.raises(ValueError, match="give 2 to 9 runs"):
        lab.ui.compare(runs)


def test_compare_nine_is_three_columns(lab, clips):
    assert Compare(lab, (clips * 3)[:9]).columns == 3


def test_compare_refuses_runs_without_media_and_unknown_runs(lab, clips):
    failed = lab.run(lab.log.start_run(clips[0].request, author="tester"))  # started, never finished: no clip
    with pytest.raises(ValueError, match=rf"no clip to show: {failed.id} \(running\)"):
        lab.ui.compare([clips[0], failed])
    with pytest.raises(ValueError, match="no run 'nope'"):
        lab.ui.compare([clips[0], "nope"])
    with pytest.raises(ValueError, match="list of 2 to 9"):
        lab.ui.compare(clips[0].id)


# -- Rater -----------------------------------------------------------------------------------


def test_rater_saves_every_change_as_a_rating(lab, clips):
    run = clips[0]
    widget = lab.ui.rate(run)
    assert isinstance(widget, Rater)
    assert widget.score == 0 and widget.tags == [] and widget.author == "tester"
    assert widget.status.startswith("give 1–5 stars")
    _small_state(widget)

    # tags and a note before stars: nothing logged yet, and the widget says why
    _custom(widget, {"type": "rate", "tags": ["Moody"]})
    _custom(widget, {"type": "rate", "note": "nice light"})
    assert lab.ratings(run).empty
    assert "give 1–5 stars to save the tags and note" in widget.status and not widget.error

    _custom(widget, {"type": "rate", "score": 4})  # the score brings the waiting tags and note along
    rows = lab.ratings(run, latest=False)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row.score, list(row.tags), row.note, row.author) == (4, ["moody"], "nice light", "tester")
    assert widget.status.startswith("saved ✓") and widget.saves == 1
    assert widget.tags == ["moody"]

    _custom(widget, {"type": "rate", "tags": ["moody", " Night "]})
    _custom(widget, {"type": "rate", "note": ""})
    rows = lab.ratings(run, latest=False)
    assert len(rows) == 3
    latest = lab.ratings(run).iloc[0]
    assert (latest.score, list(latest.tags), latest.note) == (4, ["moody", "night"], None)
    assert widget.tags == ["moody", "night"]
    assert "night" in widget.suggestions and "moody" in widget.suggestions

    widget.score = 2  # from Python: saved too
    assert lab.ratings(run).iloc[0].score == 2 and widget.saves == 4
    widget.note = "too dark after all"
    assert lab.ratings(run).iloc[0].note == "too dark after all"


def test_rater_shows_log_errors_and_keeps_the_kernel_alive(lab, clips):
    widget = Rater(lab, clips[0].id)
    _custom(widget, {"type": "rate", "score": 3})
    assert widget.score == 3 and not widget.error

    _custom(widget, {"type": "rate", "score": 7})
    assert widget.error == "not saved: score: must be a whole number from 1 to 5 (got 7)"
    assert widget.score == 3  # back to what the log holds
    _custom(widget, {"type": "rate", "tags": ["ok", "   "]})
    assert widget.error.startswith("not saved: tags: each tag must be non-empty text")
    assert widget.tags == []
    _custom(widget, {"type": "rate", "score": "lots"})
    assert "invalid literal" in widget.error
    widget.score = 0  # from Python: a rating cannot be taken back
    assert "cannot be taken back" in widget.error and widget.score == 3

    assert len(lab.ratings(clips[0], latest=False)) == 1
    _custom(widget, {"type": "rate", "score": 5})
    assert widget.error == "" and widget.status.startswith("saved ✓")
    _custom(widget, {"type": "something else"})  # ignored
    _custom(widget, "not even a dict")  # ignored, no exception
    assert widget.error == "" and widget.score == 5


def test_rater_shows_teammates_unless_blind(lab, clips):
    run = clips[1]
    lab.rate(run, 3, tags=["wobbly"], note="hands melt")  # as tester: becomes this widget's own rating
    lab.log.rate(run.id, 5, author="grace", tags=["keeper"], note="love it")
    lab.log.rate(run.id, 2, author="alan")

    widget = lab.ui.rate(run)
    assert (widget.score, widget.tags, widget.note) == (3, ["wobbly"], "hands melt")
    others = {o["author"]: o for o in widget.others}
    assert set(others) == {"grace", "alan"}
    assert (others["grace"]["score"], others["grace"]["tags"], others["grace"]["note"]) == (5, ["keeper"], "love it")
    assert others["alan"]["note"] is None

    lab.log.rate(run.id, 1, author="grace")
    _custom(widget, {"type": "rate", "score": 4})  # others refresh after each save
    assert {o["author"]: o["score"] for o in widget.others}["grace"] == 1

    blind = lab.ui.rate(run, blind=True)
    assert blind.others == [] and blind.blind
    _custom(blind, {"type": "rate", "score": 2})
    assert blind.others == []
    _small_state(widget)


# -- Annotator -----------------------------------------------------------------------------


def test_annotator_adds_notes_with_frame_and_box(lab, clips):
    run = clips[2]
    widget = lab.ui.annotate(run)
    assert isinstance(widget, Annotator)
    assert widget.notes == [] and widget.author == "tester"
    sent = []
    widget.send = lambda content, buffers=None: sent.append(content)

    _custom(widget, {"type": "annotate", "text": "  hand glitch ", "frame": 3,
                     "region": {"x": 0.1, "y": 0.2, "w": 0.3333333, "h": 0.25}, "nonce": "n1"})
    assert sent[-1]["ok"] and sent[-1]["nonce"] == "n1"
    rows = lab.annotations(run)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row.frame, row.text, row.author) == (3, "hand glitch", "tester")
    assert json.loads(row.region) == {"x": 0.1, "y": 0.2, "w": 0.3333, "h": 0.25}
    assert row.time_s == pytest.approx(3 / clips[2].request.fps)
    assert widget.notes[0]["frame"] == 3 and widget.notes[0]["region"]["w"] == 0.3333 and widget.notes[0]["text"] == "hand glitch"
    assert widget.status.startswith("saved ✓")

    widget.frame = 1
    _custom(widget, {"type": "annotate", "text": "whole frame", "region": None})  # at the current frame, no box
    assert [n["frame"] for n in widget.notes] == [1, 3]
    assert widget.notes[0]["region"] is None
    assert widget.add("from python", frame=5)
    assert len(lab.annotations(run)) == 3 and len(widget.notes) == 3
    _small_state(widget)


@pytest.mark.parametrize("content, message", [
    ({"text": "", "frame": 0}, "an annotation needs some text"),
    ({"text": "late", "frame": 6}, "frame: must be a frame number from 0 to 5 (got 6)"),
    ({"text": "box", "frame": 0, "region": {"x": 0.8, "y": 0, "w": 0.5, "h": 0.5}}, "the box reaches outside the frame"),
    ({"text": "box", "frame": 0, "region": {"x": 0.1}}, "region: must be a dict with keys x, y, w, h"),
    ({"text": "box", "frame": "two"}, "frame: must be a frame number"),
])
def test_annotator_shows_log_errors(lab, clips, content, message):
    widget = Annotator(lab, clips[0].id)
    sent = []
    widget.send = lambda content, buffers=None: sent.append(content)
    _custom(widget, {"type": "annotate", "nonce": "x", **content})
    assert message in widget.error and widget.error.startswith("not saved: ")
    assert sent[-1]["ok"] is False and message in sent[-1]["error"]
    assert lab.annotations(clips[0]).empty


def test_annotator_sees_teammates_notes_and_clamps_frame(lab, clips):
    lab.log.annotate(clips[0].id, "from grace", author="grace", frame=2, region={"x": 0, "y": 0, "w": 1, "h": 1})
    widget = Annotator(lab, clips[0])
    assert widget.notes[0]["author"] == "grace" and widget.notes[0]["region"] == {"x": 0, "y": 0, "w": 1, "h": 1}
    widget.frame = 40
    assert widget.frame == 5


def test_ui_methods_take_run_objects(lab, clips):
    ui = UI(lab)
    assert ui.rate(clips[0]).clip["id"] == clips[0].id
    assert ui.annotate(clips[0]).clip["id"] == clips[0].id
    assert ui.compare(clips[:2], width=128).width == 128


# -- Pairwise: takes of one idea, and a notice when a pair is unrelated -----------------------------


def test_pairwise_battles_takes_of_one_idea_and_flags_an_unrelated_pair(lab):
    import random

    from explorer.widgets.pairwise import Pairwise

    fast = dict(frames=4, width=32, height=32, steps=1, progress=False)
    galaxy = lab.generate("a galaxy", **fast).id
    foxes = [lab.generate("a red fox", seed=s, **fast).id for s in (1, 2)]
    bubbles = lab.generate("candy bubbles", **fast).id
    w = Pairwise(lab, rng=random.Random(0))
    assert {w.left["id"], w.right["id"]} == set(foxes) and w.notice == "" and w.message == ""
    _custom(w, {"type": "choose", "choice": "left", "left": w.left["id"], "right": w.right["id"]})
    # no more fox-vs-fox: the next pair is unrelated, and the widget says so
    assert {w.left["id"], w.right["id"]} <= {galaxy, bubbles, *foxes} and {w.left["id"], w.right["id"]} != set(foxes)
    assert w.notice == "no more takes of the same idea; this pair is unrelated" and w.message == ""
    assert "notice" in w.get_state()  # synced to the browser, which shows it above the pair
