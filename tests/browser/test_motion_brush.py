"""As a person would, in a real JupyterLab: paint two regions on a run's first frame with the motion brush (one by
clicking the points of a polygon, one freehand), set their sliders with the keyboard, Generate, and watch the take
play; the motion that reaches the log is read back through a notebook cell (only the kernel opens the log)."""

from __future__ import annotations

import json

from lab import open_notebook, output_text, run_cell, shot, wait_for_output, wait_for_widget, write_notebook

SETUP = "import explorer\nlab = explorer.open('browser.duckdb', author='tester')"
CHECK = """import json
take = brush.run
print('MOTION', json.dumps({"widget": brush.motion, "take": take.request.motion, "parent": take.request.parent,
                             "source": run.id, "status": take.status, "logged": lab.log.run(take.id)["request"]["motion"]}))"""


def _at(box, x, y):
    return box["x"] + box["width"] * x, box["y"] + box["height"] * y


def _slide(page, brush, name, presses, key):
    """Move a slider the way a person does with the keyboard: focus it, press an arrow key (each press: one 0.05 step)."""
    slider = brush.locator(f"input[type=range][name={name}]")
    slider.focus()
    for _ in range(presses):
        slider.press(key)
    return slider


def test_paint_two_regions_set_their_sliders_generate_and_play(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "motion", [
        SETUP,
        "run = lab.generate('a still city of squares', seed=3, frames=16, fps=8, width=192, height=128, steps=2, progress=False)\n"
        "brush = lab.ui.motion_brush(run)\nbrush",
        CHECK,
    ])
    open_notebook(page, jupyter_server, nb)
    run_cell(page, 0)
    run_cell(page, 1)
    brush = wait_for_widget(page, 1, ".cx-motion-brush")
    picture = brush.locator("img.cx-mb-picture")
    expect(picture).to_have_js_property("complete", True)
    assert picture.evaluate("img => img.naturalWidth") == 192  # the run's first frame, at its size
    expect(brush).to_have_attribute("data-regions", "0")
    overlay = brush.locator("svg.cx-mb-overlay")
    box = overlay.bounding_box()
    assert abs(box["width"] / box["height"] - 1.5) < 0.02  # the stage keeps the frame's shape

    # Region 1: click four corners, then the first one again to close the polygon.
    for x, y in ((0.15, 0.2), (0.45, 0.2), (0.45, 0.65), (0.15, 0.65)):
        page.mouse.click(*_at(box, x, y))
    expect(brush.locator(".cx-mb-draft")).to_have_count(1)
    page.mouse.click(*_at(box, 0.152, 0.202))
    expect(brush).to_have_attribute("data-regions", "1")
    expect(brush).to_have_attribute("data-selected", "0")
    expect(brush.locator(".cx-mb-draft")).to_have_count(0)
    _slide(page, brush, "horizontal", 8, "ArrowRight")   # 0.40: to the right
    _slide(page, brush, "ambient", 4, "ArrowRight")      # 0.20
    expect(brush.locator("input[name=horizontal] + .cx-mb-value")).to_have_text("+0.40")
    expect(brush.locator(".cx-mb-arrow")).to_have_count(1)
    shot(page, "motion-01-first-region")

    # Region 2: a freehand outline, dragged.
    page.mouse.move(*_at(box, 0.65, 0.25))
    page.mouse.down()
    for x, y in ((0.85, 0.25), (0.9, 0.5), (0.8, 0.75), (0.62, 0.7), (0.6, 0.45)):
        page.mouse.move(*_at(box, x, y), steps=5)
    page.mouse.up()
    expect(brush).to_have_attribute("data-regions", "2")
    expect(brush).to_have_attribute("data-selected", "1")
    expect(brush.locator("input[name=horizontal] + .cx-mb-value")).to_have_text("0.00")  # a new region starts still
    _slide(page, brush, "vertical", 6, "ArrowLeft")      # -0.30: down
    _slide(page, brush, "proximity", 10, "ArrowRight")   # 0.50: closer
    expect(brush.locator(".cx-mb-arrow")).to_have_count(2)
    expect(brush.locator(".cx-mb-end")).to_have_count(2)  # each region's outline where it ends
    expect(brush.locator(".cx-mb-chip")).to_have_count(2)

    # Selecting region 1 again shows its own amounts.
    brush.locator(".cx-mb-chip[data-index='0']").click()
    expect(brush).to_have_attribute("data-selected", "0")
    expect(brush.locator("input[name=horizontal] + .cx-mb-value")).to_have_text("+0.40")
    expect(brush.locator("input[name=ambient] + .cx-mb-value")).to_have_text("+0.20")
    shot(page, "motion-02-two-regions")

    # Generate: the take appears and plays.
    brush.locator("button.cx-mb-generate").click()
    video = brush.locator(".cx-mb-take video")
    expect(video).to_have_js_property("readyState", 4, timeout=30000)
    expect(brush).to_have_attribute("data-running", "no", timeout=30000)
    page.wait_for_function("v => !v.paused && v.currentTime > 0.3", arg=video.element_handle(), timeout=15000)
    expect(brush.locator(".cx-message")).to_contain_text("done")
    shot(page, "motion-03-take-playing")

    run_cell(page, 2)
    wait_for_output(page, 2, "MOTION")
    found = json.loads(output_text(page, 2).split("MOTION", 1)[1].strip().splitlines()[0])
    first, second = found["widget"]["regions"]
    assert (first["horizontal"], first["vertical"], first["proximity"], first["ambient"]) == (0.4, 0.0, 0.0, 0.2)
    assert (second["horizontal"], second["vertical"], second["proximity"], second["ambient"]) == (0.0, -0.3, 0.5, 0.0)
    xs = [p[0] for p in first["region"]]
    assert len(first["region"]) == 4 and abs(min(xs) - 0.15) < 0.02 and abs(max(xs) - 0.45) < 0.02
    assert 5 <= len(second["region"]) <= 64  # the freehand outline, thinned
    assert found["take"] == found["widget"] == found["logged"] and found["parent"] == found["source"] and found["status"] == "succeeded"
