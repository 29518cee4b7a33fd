"""Live mode, as a person would use it in a real JupyterLab: switch live on, drag the guidance slider, see a new preview;
a drag while a take is being made cancels that take (logged, hidden); Keep lists the take on show."""

from __future__ import annotations

import re

from lab import open_notebook, output_text, run_cell, shot, wait_for_widget, write_notebook

SETUP = "import explorer\nlab = explorer.open('browser.duckdb', author='tester')"
RUNS = ("runs = lab.runs(live=True, sort='oldest')\n"
        "print('\\n'.join(f'RUN {r.id} {r.status} live={bool(r.live)} guidance={r.guidance}' for r in runs.itertuples()))\n"
        "print('LISTED', len(lab.runs()))")


def _drag(page, slider, start: float, end: float, moves: int = 8) -> None:
    """A real mouse drag along the slider's track, from ``start`` to ``end`` (fractions of its width)."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(box["x"] + box["width"] * (start + (end - start) * i / moves), y)
    page.mouse.up()


def test_live_drag_makes_a_new_preview_and_cancels_the_stale_take(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "live", [
        SETUP,
        # a paced take (12 steps × 0.15 s) leaves time to drag again while it is being made
        "panel = lab.ui.generate('neon city in the rain', frames=24, fps=12, width=192, height=128, steps=12, extra={'pace': 0.15})\npanel",
        RUNS,
    ])
    open_notebook(page, jupyter_server, nb)
    run_cell(page, 0)
    run_cell(page, 1)
    panel = wait_for_widget(page, 1, ".cx-generate-panel")
    preview = panel.locator("img.cx-preview")
    slider = panel.locator("input.cx-slider[name=guidance]")
    expect(slider).to_be_visible()

    # live on: a first take of the form as it is, which lands in the strip marked live, with Keep offered
    panel.locator("input.cx-live").check()
    expect(panel).to_have_attribute("data-live", "yes")
    expect(panel.locator(".cx-take[data-live=yes]")).to_have_count(1, timeout=30000)
    expect(panel).to_have_attribute("data-running", "no", timeout=30000)
    first_take = panel.locator(".cx-take").first.get_attribute("data-id")
    expect(panel.locator("button.cx-keep")).to_be_enabled()

    # drag: a take of the new guidance starts, and its previews (answering the drag's edits) reach the page
    _drag(page, slider, 0.2, 0.5)
    page.wait_for_function("el => Number(el.dataset.seq || 0) >= 1", arg=preview.element_handle(), timeout=15000)
    expect(panel).to_have_attribute("data-running", "yes")
    seq_a = int(preview.get_attribute("data-seq"))
    shot(page, "live-01-dragging")

    # drag again while that take is being made: it is cancelled, the latest wins
    _drag(page, slider, 0.5, 0.9)
    page.wait_for_function(f"el => Number(el.dataset.seq || 0) > {seq_a}", arg=preview.element_handle(), timeout=15000)
    expect(panel).to_have_attribute("data-running", "no", timeout=30000)
    take = panel.locator(".cx-take").first
    expect(take).to_have_attribute("data-live", "yes")
    assert take.get_attribute("data-id") != first_take
    expect(panel.locator(".cx-take[data-live=yes]")).to_have_count(1)  # the new take replaced the one not kept
    assert preview.evaluate("img => img.complete && img.naturalWidth > 0")
    latencies = page.evaluate("window.__explorerLiveLatency")
    assert latencies and all(0 < x < 10_000 for x in latencies), latencies

    run_cell(page, 2)
    table = output_text(page, 2)
    statuses = re.findall(r"RUN \w+ (\w+) live=True guidance=([\d.]+)", table)
    assert [s for s, _ in statuses][:1] == ["succeeded"] and statuses[-1][0] == "succeeded", table
    assert "cancelled" in [s for s, _ in statuses[1:-1]], table  # the stale take: logged as cancelled, live
    assert float(statuses[-1][1]) > float(statuses[0][1])  # the last take has the dragged guidance
    assert "LISTED 0" in table  # none listed: live takes are hidden until kept

    # Keep: the take on show is listed from now on
    panel.locator("button.cx-keep").click()
    expect(panel.locator(".cx-message")).to_contain_text("kept")
    expect(take).to_have_attribute("data-live", "kept")
    run_cell(page, 2)
    assert "LISTED 1" in output_text(page, 2)
    shot(page, "live-02-kept")
