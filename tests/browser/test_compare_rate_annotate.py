"""Compare, Rater and Annotator in a real JupyterLab + Chromium, used the way a person would use them.

Scrub the compare grid and check every video sits on the same frame; play, pause, check again; toggle blind;
click stars, add a tag and a note and find the rating row in the log; drag a box on the annotator, write a
note and find the annotation row (read back through a notebook cell, so only the kernel opens the log).
"""

from __future__ import annotations

import json

from lab import SCREENSHOTS, cell_output, open_notebook, output_text, run_cell, wait_for_output, wait_for_widget, write_notebook

FPS = 8
FRAMES = 12

SETUP = f"""
import json, explorer
lab = explorer.open("review.duckdb", author="ada")
a, b, c = [lab.generate(p, seed=s, frames={FRAMES}, fps={FPS}, width=96, height=64, steps=2, progress=False)
           for p, s in (("red kite over dunes", 1), ("blue kite over sea", 2), ("green kite at dusk", 3))]
lab.log.rate(a.id, 2, author="grace", tags=["windy"], note="kite jitters")
print("ready", a.ok and b.ok and c.ok)
"""
CHECK = """
r = lab.ratings(a)
mine = r[r.author == lab.author]
notes = lab.annotations(a)
print(json.dumps({
    "ratings": [{"author": x.author, "score": int(x.score), "tags": list(x.tags), "note": x.note} for x in mine.itertuples()],
    "notes": [{"author": x.author, "frame": int(x.frame), "text": x.text, "region": json.loads(x.region) if x.region else None}
              for x in notes.itertuples()],
    "rating_rows": [int(x.score) for x in lab.ratings(a, latest=False).itertuples() if x.author == lab.author],
    "compare_frame": cmp.frame, "compare_blind": cmp.blind, "annotator_frame": ann.frame,
}))
cmp.frame = 7  # Python -> browser: every tile seeks
"""
GUIDANCE = f"""
g3, g9 = [lab.generate("red kite over dunes", seed=1, guidance=g, frames={FRAMES}, fps={FPS}, width=96, height=64, steps=2, progress=False)
          for g in (3.0, 9.0)]
lab.ui.compare([g3, g9], width=160)
"""
CELLS = [SETUP, "cmp = lab.ui.compare([a, b, c], width=200)\ncmp", "rater = lab.ui.rate(a)\nrater",
         "ann = lab.ui.annotate(a)\nann", "pair = lab.ui.compare([a, b], width=180)\npair", CHECK, GUIDANCE]
COMPARE, RATER, ANNOTATOR, PAIR, CHECK_CELL, GUIDANCE_CELL = 1, 2, 3, 4, 5, 6

FRAMES_JS = "els => els.map(v => ({t: v.currentTime, ready: v.readyState, seeking: v.seeking, w: v.videoWidth}))"


def snap(locator, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def shared_frame(page, grid) -> int:
    """Wait until every video has decoded the shared frame; return it after checking they all agree."""
    videos = grid.locator("video")
    page.wait_for_function(
        "els => els.every(v => v.readyState >= 2 && !v.seeking)", arg=videos.element_handles(), timeout=10_000)
    frame = int(grid.get_attribute("data-frame"))
    states = videos.evaluate_all(FRAMES_JS)
    assert len(states) == 3
    for s in states:
        assert s["w"] > 0, "the clip did not load"
        assert abs(s["t"] - (frame + 0.5) / FPS) < 1e-3, (frame, states)
        assert int(s["t"] * FPS) == frame
    return frame


def test_compare_rate_annotate(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "review", CELLS)
    open_notebook(page, jupyter_server, nb)
    for i in range(CHECK_CELL):
        run_cell(page, i)
    wait_for_output(page, 0, "ready True")

    # -- compare: scrub, step, play/pause: every tile on the same frame ----------------------------
    grid = wait_for_widget(page, COMPARE, ".cx-compare")
    expect(grid.locator(".cx-compare-tile")).to_have_count(3)
    expect(grid.locator(".cx-compare-grid")).to_have_css("grid-template-columns", "200px 200px")
    scrub = grid.locator(".cx-scrub")
    scrub.scroll_into_view_if_needed()
    box = scrub.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.62, box["y"] + box["height"] / 2)  # a person clicking on the scrubber
    scrubbed = shared_frame(page, grid)
    assert 4 <= scrubbed <= 9, scrubbed
    expect(grid.locator(".cx-counter")).to_contain_text(f"frame {scrubbed + 1}/{FRAMES}")
    grid.locator(".cx-step-forward").click()
    assert shared_frame(page, grid) == scrubbed + 1
    assert grid.locator(".cx-play").count() == 1  # one transport for all three
    grid.locator(".cx-play").click()
    expect(grid).to_have_class("cx-compare cx-playing")
    page.wait_for_function("a => Number(a[0].dataset.frame) !== a[1]", arg=[grid.element_handle(), scrubbed + 1])
    grid.locator(".cx-play").click()
    paused = shared_frame(page, grid)
    assert paused != scrubbed + 1, "playing did not move the shared frame"
    snap(grid, "compare-grid")

    metas = grid.locator(".cx-compare-meta")
    expect(metas.first).to_be_visible()
    expect(metas.first).to_contain_text("red kite over dunes")  # the prompts differ most: each is quoted
    expect(metas).to_contain_text(["seed 1", "seed 2", "seed 3"])
    expect(grid.locator(".cx-compare-shared")).to_contain_text("shared")
    grid.locator(".cx-compare-blind").click()
    for i in range(3):
        expect(metas.nth(i)).to_be_hidden()
    expect(grid.locator(".cx-compare-letter")).to_have_text(["A", "B", "C"])
    snap(grid, "compare-grid-blind")

    # -- two clips: wipe and difference --------------------------------------------------------------
    pair = wait_for_widget(page, PAIR, ".cx-compare")
    pair.locator(".cx-view-wipe").click()
    stage = pair.locator(".cx-compare-wipe")
    expect(stage.locator("video")).to_have_count(2)
    stage.scroll_into_view_if_needed()
    sb = stage.bounding_box()
    page.mouse.move(sb["x"] + sb["width"] * 0.5, sb["y"] + sb["height"] / 2)
    page.mouse.down()
    page.mouse.move(sb["x"] + sb["width"] * 0.3, sb["y"] + sb["height"] / 2, steps=4)
    page.mouse.up()
    clip_path = stage.locator("video.cx-compare-top").evaluate("v => v.style.clipPath")
    assert clip_path.startswith("inset(0px 0px 0px 3") or clip_path.startswith("inset(0 0 0 3"), clip_path
    snap(pair, "compare-wipe")
    pair.locator(".cx-view-difference").click()
    canvas = pair.locator("canvas.cx-compare-diff")
    page.wait_for_function("c => c.width > 0 && c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 < 3 && v > 0)",
                           arg=canvas.element_handle(), timeout=10_000)
    snap(pair, "compare-difference")

    # -- rater: stars, a tag, a note; each saved at once ---------------------------------------------
    rater = wait_for_widget(page, RATER, ".cx-rate")
    expect(rater.locator(".cx-rate-other")).to_have_count(1)
    expect(rater.locator(".cx-rate-other")).to_contain_text("grace")
    rater.locator(".cx-rate-tag-input").fill("Moody")
    rater.locator(".cx-rate-tag-input").press("Enter")
    expect(rater.locator(".cx-rate-status")).to_contain_text("give 1–5 stars to save the tags")
    rater.focus()
    page.keyboard.press("2")  # keys 1–5 set the stars when the widget has focus
    expect(rater.locator(".cx-rate-star.cx-on")).to_have_count(2)
    expect(rater.locator(".cx-rate-status")).to_contain_text("saved ✓ ★★☆☆☆")
    rater.locator('.cx-rate-star[data-score="4"]').click()
    expect(rater.locator(".cx-rate-status")).to_contain_text("saved ✓")
    expect(rater.locator(".cx-rate-chip")).to_have_count(1)
    expect(rater.locator(".cx-rate-chip")).to_contain_text("moody")
    rater.locator(".cx-rate-note").fill("lovely dusk light")
    rater.locator(".cx-rate-note").press("Enter")
    expect(rater.locator(".cx-rate-star.cx-on")).to_have_count(4)
    snap(rater, "rate")

    # -- annotator: step to a frame, drag a box, write a note, add it ----------------------------------
    ann = wait_for_widget(page, ANNOTATOR, ".cx-annot")
    for _ in range(3):
        ann.locator(".cx-step-forward").click()
    expect(ann.locator(".cx-player")).to_have_attribute("data-frame", "3")
    overlay = ann.locator(".cx-annot-overlay")
    overlay.scroll_into_view_if_needed()
    ob = overlay.bounding_box()
    page.mouse.move(ob["x"] + ob["width"] * 0.25, ob["y"] + ob["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(ob["x"] + ob["width"] * 0.75, ob["y"] + ob["height"] * 0.7, steps=6)
    page.mouse.up()
    expect(ann.locator(".cx-annot-draft")).to_be_visible()
    ann.locator(".cx-annot-text").fill("kite string vanishes")
    ann.locator(".cx-annot-add").click()
    expect(ann.locator(".cx-annot-note")).to_have_count(1)
    expect(ann.locator(".cx-annot-note")).to_contain_text("frame 4")
    expect(ann.locator(".cx-annot-note")).to_contain_text("kite string vanishes")
    expect(ann.locator(".cx-annot-status")).to_contain_text("saved ✓")
    # seek away, then click the note: back to its frame, its box shown
    ann.locator(".cx-step-back").click()
    ann.locator(".cx-annot-note").click()
    expect(ann.locator(".cx-player")).to_have_attribute("data-frame", "3")
    expect(ann.locator(".cx-annot-saved.cx-selected")).to_be_visible()
    snap(ann, "annotate")

    # -- the log, read through the kernel ------------------------------------------------------------
    run_cell(page, CHECK_CELL)
    wait_for_output(page, CHECK_CELL, '"ratings"')
    result = json.loads(output_text(page, CHECK_CELL).strip().splitlines()[-1])
    assert result["ratings"] == [{"author": "ada", "score": 4, "tags": ["moody"], "note": "lovely dusk light"}]
    assert result["rating_rows"] == [2, 4, 4]  # keyboard 2, star 4, then the note: each change its own row
    [note] = result["notes"]
    assert (note["author"], note["frame"], note["text"]) == ("ada", 3, "kite string vanishes")
    region = note["region"]
    assert abs(region["x"] - 0.25) < 0.03 and abs(region["y"] - 0.2) < 0.03, region
    assert abs(region["w"] - 0.5) < 0.03 and abs(region["h"] - 0.5) < 0.03, region
    assert result["compare_frame"] == paused and result["compare_blind"] is True
    assert result["annotator_frame"] == 3
    expect(grid).to_have_attribute("data-frame", "7")
    assert shared_frame(page, grid) == 7
    assert "Error" not in cell_output(page, COMPARE).inner_text()

    # -- two clips that differ only in guidance are labelled by it, not by their (equal) seeds ------------------
    run_cell(page, GUIDANCE_CELL)
    gpair = wait_for_widget(page, GUIDANCE_CELL, ".cx-compare")
    expect(gpair.locator(".cx-compare-difflabel")).to_have_text(["guidance 3", "guidance 9"])
    shared = gpair.locator(".cx-compare-shared")
    expect(shared).to_contain_text("red kite over dunes")
    expect(shared).to_contain_text("seed 1")
    assert "guidance" not in shared.inner_text()
    snap(gpair, "compare-labels")
