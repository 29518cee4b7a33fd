"""The atlas in a real JupyterLab + Chromium: the points are drawn, hovering one plays its clip, a lasso selects
clips and Compare opens them, the colour switch recolours."""

from __future__ import annotations

import json
import re
from itertools import pairwise

from lab import (
    SCREENSHOTS,
    cell_output,
    open_notebook,
    output_text,
    run_all,
    run_cell,
    wait_for_output,
    wait_for_widget,
    write_notebook,
)

SETUP = """
import explorer
lab = explorer.open("clips.duckdb", author="browser")
FAST = dict(frames=8, width=96, height=72, steps=2, progress=False)
prompts = ["still", "slow drift", "fast zoom", "a red fox", "a blue whale", "fast zoom at night"]
runs = [lab.generate(p, seed=i, **FAST) for i, p in enumerate(prompts)]
lab.compute_metrics = False
lab.generate("never measured", seed=9, **FAST)
lab.rate(runs[0], 5); lab.rate(runs[1], 2)
print("READY", len(lab.runs()), len(lab.metrics()))
"""
VOTES = 'print("VOTES", json.dumps([[r.winner_id, r.loser_id] for r in lab.votes().itertuples()]))'
CELLS = [SETUP, "atlas = lab.ui.atlas()\natlas", 'import json; print("SELECTED", json.dumps(atlas.selected))', VOTES]


def _printed(page, index: int, key: str):
    text = output_text(page, index)
    m = re.search(rf"{key} (.*)", text)
    assert m, text
    return json.loads(m.group(1))


def test_atlas_hover_plays_and_a_lasso_opens_compare(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "atlas", CELLS)
    open_notebook(page, jupyter_server, nb)
    run_all(page)
    wait_for_output(page, 0, "READY 7 6")

    atlas = wait_for_widget(page, 1, ".cx-atlas")
    expect(atlas).to_have_attribute("data-points", "6")
    expect(atlas.locator(".cx-a-placed")).to_have_text("6 clips placed")
    expect(atlas.locator(".cx-a-unmeasured")).to_contain_text("1 unmeasured")
    expect(atlas.locator(".cx-a-legend-title")).to_have_text("mean stars")
    expect(atlas.locator(".cx-a-high")).to_have_text("5.00")
    canvas = atlas.locator(".cx-a-canvas")
    # the points are really drawn: some pixels are coloured (the canvas starts transparent)
    painted = canvas.evaluate("c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                              " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }")
    assert painted > 6 * 12, painted
    points = atlas.evaluate("root => root.cxPoints()")
    assert len(points) == 6
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")  # all of it on screen: the lasso starts at its corner
    box = canvas.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box

    # -- hover a point: the floating player plays that clip ------------------------------------------
    target = points[0]
    page.mouse.move(box["x"] + target["x"], box["y"] + target["y"])
    floating = atlas.locator(".cx-a-float.cx-a-on")
    expect(floating).to_have_attribute("data-id", target["id"])
    video = floating.locator("video")
    expect(video).to_have_js_property("paused", False, timeout=10_000)
    page.wait_for_function("v => v.currentTime > 0 && v.readyState >= 2", arg=video.element_handle(), timeout=10_000)
    assert re.search(r"/explorer/media/[0-9a-f]{64}\.mp4", video.get_attribute("src"))  # served like the gallery's clips
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cell_output(page, 1).screenshot(path=str(SCREENSHOTS / "atlas-hover.png"))
    page.mouse.move(box["x"] + box["width"] + 40, box["y"])  # leave: the player goes
    expect(atlas.locator(".cx-a-float.cx-a-on")).to_have_count(0)

    # -- lasso: a freehand loop round the two leftmost points --------------------------------------------
    ordered = sorted(points, key=lambda p: p["x"])
    assert ordered[2]["x"] - ordered[1]["x"] > 2, "points too close to lasso two apart"
    cut = (ordered[1]["x"] + ordered[2]["x"]) / 2
    corners = [(2, 2), (cut, 2), (cut, box["height"] - 2), (2, box["height"] - 2), (2, 3)]
    page.mouse.move(box["x"] + corners[0][0], box["y"] + corners[0][1])
    page.mouse.down()
    for (x0, y0), (x1, y1) in pairwise(corners):
        for t in (0.25, 0.5, 0.75, 1.0):  # several moves per side: a drawn loop, not a jump
            page.mouse.move(box["x"] + x0 + (x1 - x0) * t, box["y"] + y0 + (y1 - y0) * t)
    page.mouse.up()
    chosen = {ordered[0]["id"], ordered[1]["id"]}
    expect(atlas.locator(".cx-a-selinfo")).to_have_text("2 selected")
    run_cell(page, 2)
    assert set(_printed(page, 2, "SELECTED")) == chosen

    atlas.locator(".cx-a-compare").click()
    row = atlas.locator(".cx-a-comparerow")
    cells = row.locator(".cx-a-compare-cell")
    expect(cells).to_have_count(2)
    assert set(cells.evaluate_all("nodes => nodes.map(n => n.dataset.id)")) == chosen
    expect(row.locator("video").first).to_have_js_property("readyState", 4, timeout=10_000)
    expect(row.locator(".cx-a-compare-view")).to_have_class(re.compile("cx-playing"))  # one clock, playing
    cell_output(page, 1).screenshot(path=str(SCREENSHOTS / "atlas-compare.png"))

    # -- Battle: the same two, blind, side by side; a click is a logged vote -----------------------------------
    atlas.locator(".cx-a-battle").click()
    sides = atlas.locator(".cx-a-battle-side")
    expect(sides).to_have_count(2)
    pair = sides.evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    assert set(pair) == chosen
    atlas.locator(".cx-a-choose-left").click()
    expect(atlas.locator(".cx-a-battle-head strong")).to_have_text("Battle · 1 vote")
    run_cell(page, 3)
    assert _printed(page, 3, "VOTES") == [[pair[0], pair[1]]]

    # -- the colour switch: Bradley–Terry from that one vote colours just those two; the rest are grey ------------
    atlas.locator(".cx-a-colour-by").select_option("bt")
    expect(atlas.locator(".cx-a-legend-title")).to_have_text("Bradley–Terry score (votes)")
    expect(atlas.locator(".cx-a-legend-none")).to_contain_text("no value (4)")
    assert page.console_messages_seen == [] or not any("pageerror" in m for m in page.console_messages_seen)
