"""GeneratePanel and SweepGrid without a browser: the messages their buttons send, the runs they log, what they show."""

from __future__ import annotations

import json
import threading

import pytest

from explorer.request import Request
from explorer.widgets.generate_panel import GeneratePanel
from explorer.widgets.sweep_grid import SweepGrid


@pytest.fixture
def home(tmp_path):
    """These tests are about the generate widget, not where the log lives: a file log only (test_log, test_runs and test_api cover both homes)."""
    from homes import Home

    return Home("file", tmp_path)


FAST = dict(frames=4, width=64, height=48, steps=2)


def press(widget, content):
    """What the browser does when a button is pressed: a custom message to the widget."""
    widget._on_custom(widget, content, [])
    if isinstance(widget, GeneratePanel):
        widget.wait(60)


def logged(lab):
    rows = lab.sql("SELECT id, seed, parent_id, status, request FROM runs ORDER BY created_at")
    return [{"id": r.id, "seed": int(r.seed), "parent": r.parent_id if isinstance(r.parent_id, str) else None, "status": r.status,
             "request": json.loads(r.request)} for r in rows.itertuples()]


# -- Variations ------------------------------------------------------------------------------


def test_variations_after_a_seed_0_take_are_the_next_seeds_with_the_take_as_parent(lab):
    panel = GeneratePanel(lab, "neon city in the rain", seed=0, **FAST)
    press(panel, {"type": "generate"})
    [take] = logged(lab)
    assert take["seed"] == 0 and take["parent"] is None and panel.strip[0]["id"] == take["id"]

    press(panel, {"type": "variations", "n": 3})
    made = logged(lab)[1:]
    assert [r["seed"] for r in made] == [1, 2, 3]  # not 0–2: the clip on screen is not made again
    assert [r["parent"] for r in made] == [take["id"]] * 3
    # the same requests lab.variations(take, 3) makes
    expected = [Request.from_dict(take["request"]).replace(seed=s, parent=take["id"]).to_dict() for s in (1, 2, 3)]
    assert [r["request"] for r in made] == expected
    assert [c["id"] for c in panel.strip] == [r["id"] for r in reversed(logged(lab))]

    # again: the newest take is now seed 3, so the next seeds follow it; nothing is made twice
    press(panel, {"type": "variations", "n": 2})
    again = logged(lab)[4:]
    assert [r["seed"] for r in again] == [4, 5] and {r["parent"] for r in again} == {made[-1]["id"]}
    assert len({r["seed"] for r in logged(lab)}) == len(logged(lab))


def test_variations_start_from_a_forked_run_and_keep_the_forms_changes(lab):
    first = lab.generate("a lighthouse at dusk", seed=7, progress=False, **FAST)
    panel = GeneratePanel(lab, "something else", **FAST)
    press(panel, {"type": "fork", "id": first.id})
    assert panel.current_take() == first.id
    panel.fields = {**panel.fields, "guidance": 3.0}  # change one thing, then ask for variations
    press(panel, {"type": "variations", "n": 2})
    made = logged(lab)[1:]
    assert [(r["seed"], r["parent"], r["request"]["guidance"], r["request"]["prompt"]) for r in made] == [
        (8, first.id, 3.0, "a lighthouse at dusk"), (9, first.id, 3.0, "a lighthouse at dusk")]
    assert panel.parent == ""  # the fork is used up


def test_variations_before_any_take_are_the_seeds_after_the_forms(lab):
    panel = GeneratePanel(lab, "a paper boat", seed=10, **FAST)
    assert panel.current_take() is None
    panel.variations = 2
    press(panel, {"type": "variations"})  # no n: the panel's count
    assert [(r["seed"], r["parent"]) for r in logged(lab)] == [(11, None), (12, None)]


# -- messages, ETA ---------------------------------------------------------------------------


def test_a_new_error_replaces_the_old_message_and_a_new_run_clears_both(lab):
    panel = GeneratePanel(lab, "a red kite", **FAST)
    press(panel, {"type": "generate"})
    assert "done in" in panel.message and panel.error == ""
    panel.fields = {**panel.fields, "width": 63}
    press(panel, {"type": "generate"})
    assert "width" in panel.error and panel.message == ""  # only the error shows
    panel.fields = {**panel.fields, "width": 64}
    press(panel, {"type": "generate"})
    assert "done in" in panel.message and panel.error == ""


def test_the_eta_ends_with_the_run_and_says_how_it_ended(lab):
    panel = GeneratePanel(lab, "slow waves", frames=4, width=64, height=48, steps=40, extra={"pace": 0.05})
    stepped = threading.Event()
    panel.observe(lambda change: stepped.set() if (change["new"] or {}).get("eta") is not None else None, names="progress")
    panel._on_custom(panel, {"type": "generate"}, [])
    assert stepped.wait(30), "no ETA while running"
    assert panel.running and panel.progress["eta"] is not None
    press(panel, {"type": "cancel"})
    assert not panel.running
    assert panel.progress["eta"] is None and panel.progress["state"] == "cancelled"
    assert "cancelled" in panel.message and panel.error == ""
    press(panel, {"type": "generate"})
    assert panel.progress["eta"] is None and panel.progress["state"] == "succeeded"


def test_a_failed_run_in_a_batch_stays_shown(lab, monkeypatch):
    from explorer import backends

    sketch = backends.get("sketch")
    real = type(sketch).generate

    def fails_on_seed_1(self, request, control):
        if request.seed == 1:
            raise RuntimeError("boom")
        return real(self, request, control)

    monkeypatch.setattr(type(sketch), "generate", fails_on_seed_1)
    panel = GeneratePanel(lab, "flaky", seed=0, **FAST)
    with pytest.warns(RuntimeWarning, match="boom"):
        press(panel, {"type": "variations", "n": 2})
    assert [r["status"] for r in logged(lab)] == ["failed", "succeeded"]
    assert "1 of 2 runs failed" in panel.error and "boom" in panel.error and panel.message == ""


# -- SweepGrid ---------------------------------------------------------------------------------


def test_a_star_under_a_sweep_cell_rates_that_cells_run_as_the_author(lab):
    grid = SweepGrid(lab, "forest", {"seed": [1, 2], "guidance": [3.0, 9.0]}, **FAST)
    grid.wait(60)
    assert [c["status"] for c in grid.cells] == ["succeeded"] * 4 and all(c["my_rating"] == 0 for c in grid.cells)
    cell = next(c for c in grid.cells if c["cell"] == {"seed": 2, "guidance": 9.0})
    press(grid, {"type": "rate", "id": cell["clip"]["id"], "score": 4})
    latest = lab.ratings(cell["clip"]["id"])
    assert list(zip(latest.author, latest.score)) == [("tester", 4)]
    assert [c["my_rating"] for c in grid.cells] == [4 if c is cell or c["clip"]["id"] == cell["clip"]["id"] else 0 for c in grid.cells]
    press(grid, {"type": "rate", "id": cell["clip"]["id"], "score": 7})  # refused by the log: shown, the kernel stays up
    assert grid.message.startswith("Error:") and list(lab.ratings(cell["clip"]["id"]).score) == [4]
    # reopened from the log, the stars remember
    again = SweepGrid(lab, None, None, sweep_id=grid.sweep_id)
    assert {c["clip"]["id"]: c["my_rating"] for c in again.cells}[cell["clip"]["id"]] == 4
    assert "“forest”" in grid.shared and "guidance" not in grid.shared and "seed" not in grid.shared
    assert again.shared == grid.shared


def test_a_finished_sweep_ranks_its_cells_by_the_taste_model_once_it_is_ready(lab):
    from test_metrics import SMALL
    from test_taste import _voted_by_motion

    from explorer.review.taste import predicted_taste

    early = SweepGrid(lab, "forest", {"seed": [1, 2]}, **SMALL)
    early.wait(60)
    assert early.taste["ranks"] == {} and "not ready" in early.taste["note"]  # no votes yet: no ranks

    _voted_by_motion(lab)  # 36 votes, the more motion the better
    grid = SweepGrid(lab, "x", {"prompt": ["a still lake", "fast zoom"], "seed": [4, 5]}, **SMALL)
    grid.wait(60)
    ranks = grid.taste["ranks"]
    ids = [c["clip"]["id"] for c in grid.cells]
    assert sorted(ranks.values()) == [1, 2, 3, 4] and set(ranks) == set(ids)
    assert sorted(ids, key=ranks.get) == list(predicted_taste(lab, ids).sort_values(ascending=False).index)
    motion = lab.metrics().loc[ids, "metric_motion"]
    best, worst = min(ids, key=ranks.get), max(ids, key=ranks.get)
    assert motion[best] == motion.max() and motion[worst] == motion.min()  # the model learnt the votes' taste for motion
    assert "learnt from 36 votes" in grid.taste["note"]
    again = SweepGrid(lab, None, None, sweep_id=grid.sweep_id)  # reopened: ranked the same
    assert again.taste["ranks"] == ranks


# -- files attached in the panel ----------------------------------------------------------------


def test_files_picked_in_the_panel_are_stored_at_once_and_go_with_every_run(lab, tmp_path):
    import io

    import numpy as np
    from PIL import Image
    from test_audio import streams_of, write_clicks

    from explorer.media import read_frames

    panel = GeneratePanel(lab, "a kite", **FAST)
    picture = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), (200, 40, 40), np.uint8)).save(picture, format="PNG")
    # what the browser's file picker sends: the field, the file's name, its bytes as a buffer
    panel._on_custom(panel, {"type": "attach", "field": "image", "name": "red.png"}, [picture.getvalue()])
    sound = write_clicks(tmp_path / "clicks.wav", seconds=1.0, times=[0.2])
    panel._on_custom(panel, {"type": "attach", "field": "audio", "name": "clicks.wav"}, [sound.read_bytes()])
    assert set(panel.media) == {"image", "audio"} and panel.error == ""
    assert panel.media["image"]["source"] == "red.png" and panel.media["audio"]["name"] == "clicks.wav"
    sound.unlink()  # stored at once: the run does not need the file any more

    # a file that is not what the field needs is refused at once, naming the field; what was attached stays
    panel._on_custom(panel, {"type": "attach", "field": "last_image", "name": "notes.txt"}, [b"not a picture"])
    assert panel.error.startswith("RequestError") and "last_image" in panel.error and set(panel.media) == {"image", "audio"}
    panel._on_custom(panel, {"type": "attach", "field": "prompt", "name": "x.png"}, [picture.getvalue()])
    assert "attach: the field must be one of" in panel.error

    press(panel, {"type": "generate"})
    run = lab.run(panel.strip[0]["id"])
    assert run.ok and run.request.image["sha256"] == panel.media["image"]["sha256"] and run.request.audio["name"] == "clicks.wav"
    assert lab.log.media.path(run.request.image["sha256"], ".png").is_file()
    assert streams_of(run.media) == ["video", "audio"]
    first = read_frames(run.media)[0].reshape(-1, 3).mean(axis=0)
    assert first[0] > first[1] + 60  # the red first frame the clip starts from

    press(panel, {"type": "detach", "field": "audio"})
    press(panel, {"type": "generate"})
    plain = lab.run(panel.strip[0]["id"])
    assert plain.request.audio is None and plain.request.image == run.request.image
    panel.fork(run.id)  # forking a run brings its media back into the form
    assert panel.media == {"image": run.request.image, "audio": run.request.audio}
