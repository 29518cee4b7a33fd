"""Pairwise, Gallery and Lineage in a real JupyterLab + Chromium, used as a person would:
keys to vote, typing to filter, hovering and clicking tiles, stars to rate, clicking lineage nodes."""

from __future__ import annotations

import json
import re

from lab import SCREENSHOTS, cell, cell_output, open_notebook, output_text, run_all, run_cell, wait_for_output, wait_for_widget, write_notebook

SETUP = """
import explorer
lab = explorer.open("clips.duckdb", author="browser")
FAST = dict(frames=8, width=96, height=72, steps=2, progress=False)
runs = [lab.generate(p, seed=i, **FAST) for i, p in enumerate(["a red fox", "a blue whale", "a red fox at dusk", "a green forest"])]
child = lab.fork(runs[0], seed=10, progress=False)
grandchild = lab.fork(child, seed=11, guidance=12.0, progress=False)
lab.rate(runs[3], 5, tags=["lush"])
print("READY", len(lab.runs()))
"""
VOTES = 'import json; print("VOTES", json.dumps([[r.winner_id, r.loser_id, bool(r.tie)] for r in lab.votes().itertuples()]))'
RATINGS = 'print("RATINGS", json.dumps([[r.run_id, int(r.score)] for r in lab.ratings().itertuples() if r.author == "browser"]))'
CELLS = [SETUP, "pw = lab.ui.pairwise()\npw", VOTES, "g = lab.ui.gallery()\ng", RATINGS, "lab.ui.lineage(child)",
         'print("LINEAGE", len(lab.lineage(child)))']


def _printed(page, index: int, key: str):
    text = output_text(page, index)
    m = re.search(rf"{key} (.*)", text)
    assert m, text
    return json.loads(m.group(1))


def _next_pair(page, sides, shown: list[str], timeout_s: float = 5.0) -> list[str]:
    """Wait until the two sides hold a pair other than ``shown``; returns its ids, left first."""
    for _ in range(int(timeout_s / 0.05)):
        # both ids in one read: two reads can straddle a redraw and pair the old left with the new right
        ids = sides.evaluate_all("nodes => nodes.map(n => n.dataset.id)")
        if len(ids) == 2 and len(set(ids)) == 2 and set(ids) != set(shown):
            return ids
        page.wait_for_timeout(50)
    raise AssertionError(f"the pair {shown} stayed on screen")


def _shot(locator, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")
    locator.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_pairwise_gallery_lineage(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "browse", CELLS)
    open_notebook(page, jupyter_server, nb)
    run_all(page)
    wait_for_output(page, 0, "READY 6")

    # -- pairwise: focus it, → then ↓ ----------------------------------------------------------
    pw = wait_for_widget(page, 1, ".cx-pairwise")
    sides = pw.locator(".cx-pw-side")
    expect(sides).to_have_count(2)
    expect(pw.locator(".cx-pw-side video").first).to_have_js_property("readyState", 4, timeout=10_000)
    pw.locator(".cx-pw-head strong").click()  # click to focus
    expect(pw).to_be_focused()
    first = sides.evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    page.keyboard.press("ArrowRight")
    expect(pw.locator(".cx-pw-status")).to_have_text("1 vote this session")
    second = _next_pair(page, sides, first)  # a new pair is on screen at once
    page.keyboard.press("ArrowDown")
    expect(pw.locator(".cx-pw-status")).to_have_text("2 votes this session")
    expect(pw).to_be_focused()  # JupyterLab did not take the keys (no cell inserted, no focus change)
    assert page.locator(".jp-Notebook .jp-Cell").count() == len(CELLS)
    _shot(cell_output(page, 1), "pairwise")
    run_cell(page, 2)
    assert _printed(page, 2, "VOTES") == [[first[1], first[0], False], [second[0], second[1], True]]

    # -- gallery: filter by typing, hover, open, rate ----------------------------------------------
    gallery = wait_for_widget(page, 3, ".cx-gallery")
    tiles = gallery.locator(".cx-g-tile")
    expect(tiles).to_have_count(6)
    expect(gallery.locator(".cx-g-thumb").first).to_have_js_property("complete", True)
    assert gallery.locator(".cx-g-thumb").first.evaluate("img => img.naturalWidth") > 0  # poster served by the media route
    _shot(cell_output(page, 3), "gallery")
    gallery.locator(".cx-g-text").click()
    page.keyboard.type("red fox")
    expect(tiles).to_have_count(4)  # the two foxes, the fox's fork and its fork
    for caption in tiles.locator(".cx-g-caption").all_inner_texts():
        assert "red fox" in caption
    page.keyboard.press("Control+a")
    page.keyboard.type("whale")
    expect(tiles).to_have_count(1)
    expect(tiles.first.locator(".cx-g-caption")).to_have_text("a blue whale")
    assert page.locator(".jp-Notebook .jp-Cell").count() == len(CELLS)  # typing did not trigger notebook shortcuts
    whale = tiles.first
    img = whale.locator(".cx-g-thumb")
    expect(img).to_have_attribute("src", re.compile(r"\.poster\.jpg"))
    whale.hover()
    expect(img).to_have_attribute("src", re.compile(r"\.thumb\.webp"))
    whale.click()
    detail = gallery.locator(".cx-g-detail")
    expect(detail.locator(".cx-g-prompt")).to_have_text("a blue whale")
    detail.locator('.cx-g-star[data-score="4"]').click()
    expect(detail.locator(".cx-g-star.cx-on")).to_have_count(4)
    expect(whale.locator(".cx-stars")).to_have_text("★★★★☆")
    page.mouse.move(0, 0)
    _shot(cell_output(page, 3), "gallery-filtered-rated")
    run_cell(page, 4)
    ratings = _printed(page, 4, "RATINGS")
    assert ratings[-1] == [whale.get_attribute("data-id"), 4] and len(ratings) == 2  # the setup's rating, then ours

    # tick two tiles, compare them in the gallery: one transport, both clips on one clock, labelled by what differs
    gallery.locator(".cx-g-text").fill("")
    expect(tiles).to_have_count(6)
    for i in (0, 1):
        tiles.nth(i).locator(".cx-g-select").check()
    expect(gallery.locator(".cx-g-compare")).to_have_text("Compare selected (2)")
    gallery.locator(".cx-g-compare").click()
    row = gallery.locator(".cx-g-comparerow")
    videos = row.locator(".cx-g-compare-clips video")
    expect(videos).to_have_count(2)
    assert row.locator(".cx-play").count() == 1
    expect(row.locator(".cx-g-compare-view")).to_have_class(re.compile(r"\bcx-playing\b"))
    page.wait_for_function("els => els.every(v => v.readyState >= 2 && v.currentTime > 0.3)", arg=videos.element_handles(), timeout=10_000)
    times = videos.evaluate_all("els => els.map(v => v.currentTime)")
    assert max(times) - min(times) <= 2 / 8 + 1e-3, times  # within two frames (8 fps)
    # the newest clips: grandchild and child, forks of the fox: only seed and guidance differ
    expect(row.locator(".cx-g-compare-label")).to_have_text(["seed 11 · guidance 12", "seed 10 · guidance 7.5"])
    expect(row.locator(".cx-g-compare-shared")).to_contain_text("a red fox")
    gallery.locator(".cx-g-close").click()  # close the detail pane for a tidy picture
    page.mouse.move(0, 0)
    page.set_viewport_size({"width": 1280, "height": 1000})  # room for the grid and the compare row in one picture
    _shot(cell_output(page, 3), "gallery-compare")
    page.set_viewport_size({"width": 1280, "height": 800})

    # -- lineage: three generations, click the ancestor to play it ------------------------------------------
    lineage = wait_for_widget(page, 5, ".cx-lineage")
    run_cell(page, 6)
    expect(lineage.locator(".cx-ln-node")).to_have_count(_printed(page, 6, "LINEAGE"))
    expect(lineage.locator(".cx-ln-node")).to_have_count(3)
    expect(lineage.locator(".cx-ln-self")).to_have_count(1)
    expect(lineage.locator(".cx-ln-lines path")).to_have_count(2)
    # each node says what sets it apart in the family; what they share is said once
    expect(lineage.locator(".cx-ln-caption")).to_have_text(["seed 0 · guidance 7.5", "seed 10 · guidance 7.5", "seed 11 · guidance 12"])
    expect(lineage.locator(".cx-ln-shared")).to_contain_text("“a red fox”")
    ancestor = lineage.locator('.cx-ln-row[data-depth="-1"] .cx-ln-node')
    ancestor.click()
    expect(lineage.locator(".cx-ln-meta strong")).to_have_text(ancestor.get_attribute("data-id"))
    expect(ancestor).to_have_class(re.compile("cx-ln-playing"))
    _shot(cell_output(page, 5), "lineage")
    assert not [m for m in page.console_messages_seen if "pageerror" in m], page.console_messages_seen
