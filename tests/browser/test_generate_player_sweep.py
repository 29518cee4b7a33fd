"""As a person would, in a real JupyterLab: generate with a live preview, ask for variations, cancel, play and step a clip,
watch a sweep fill in and play it on one transport, rate a cell."""

from __future__ import annotations

import json
import re
import time

from lab import open_notebook, output_text, run_all, run_cell, shot, wait_for_output, wait_for_widget, write_notebook

SETUP = "import explorer\nlab = explorer.open('browser.duckdb', author='tester')"


def _frame_of(video) -> float:
    return video.evaluate("v => v.currentTime")


def test_generate_preview_cancel_and_play(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "generate", [
        SETUP,
        "panel = lab.ui.generate('neon city in the rain', frames=24, fps=12, width=192, height=128, steps=12, extra={'pace': 0.15})\npanel",
        "print(lab.runs()[['id', 'status', 'author']].to_string())",
        "panel.extra = {'pace': 0.4}\npanel.fields = {**panel.fields, 'steps': 30}",
    ])
    open_notebook(page, jupyter_server, nb)
    run_cell(page, 0)
    run_cell(page, 1)
    panel = wait_for_widget(page, 1, ".cx-generate-panel")
    expect(panel.locator(".cx-field input[name=pace]")).to_have_value("0.15")  # controls drawn from the backend's parameters
    preview = panel.locator("img.cx-preview")
    # before the first preview: no <img> showing a broken-image icon, a placeholder instead
    expect(preview).to_be_hidden()
    expect(panel.locator(".cx-preview-empty")).to_be_visible()
    shot(page, "generate-01-form")

    # Generate: the preview image changes while it denoises, then the take lands in the strip and plays.
    panel.locator("button.cx-generate").click()
    steps_seen = set()
    deadline = time.time() + 20
    while time.time() < deadline and panel.locator(".cx-take").count() == 0:
        step = preview.get_attribute("data-step")
        if step:
            steps_seen.add(int(step))
        time.sleep(0.05)
    assert len(steps_seen) >= 3, f"previews seen at steps {sorted(steps_seen)}"
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(panel.locator(".cx-progress-text")).to_have_text(re.compile(r"^step 12/12 · [\d.]+ s · done$"))
    take = panel.locator(".cx-take").first
    video = take.locator("video")
    expect(video).to_have_js_property("readyState", 4, timeout=15000)
    take.locator("button.cx-play").click()
    page.wait_for_function("v => v.currentTime > 0.2", arg=video.element_handle(), timeout=10000)
    shot(page, "generate-02-take-playing")

    # Variations after that seed-0 take: the next seeds, each a child of the take (the take is not made again)
    first_id = take.get_attribute("data-id")
    panel.locator("input.cx-variations-n").fill("2")
    panel.locator("button.cx-variations").click()
    expect(panel.locator(".cx-take")).to_have_count(3, timeout=30000)
    expect(panel).to_have_attribute("data-running", "no", timeout=30000)
    metas = panel.locator(".cx-take .cx-meta").all_inner_texts()
    assert [m.split(" · ", 1)[1] for m in metas] == [f"seed 2 · from {first_id}", f"seed 1 · from {first_id}", "seed 0"], metas

    # Cancel mid-run: the run is logged as cancelled.
    run_cell(page, 3)  # slower and longer, so there is time to press Cancel
    panel.locator("button.cx-generate").click()
    expect(panel).to_have_attribute("data-running", "yes")
    page.wait_for_function("el => Number(el.dataset.step || 0) >= 2", arg=preview.element_handle(), timeout=15000)
    panel.locator("button.cx-cancel").click()
    expect(panel.locator(".cx-message")).to_contain_text("cancelled", timeout=15000)
    # the ETA does not stay frozen: the progress line says the run was cancelled, with no countdown
    expect(panel.locator(".cx-progress-text")).to_contain_text("cancelled")
    assert "eta" not in panel.locator(".cx-progress-text").inner_text()
    shot(page, "generate-03-cancelled")
    # a new error replaces the old message: one line of news, not both
    width = panel.locator(".cx-field input[name=width]")
    width.fill("63")
    width.press("Enter")
    panel.locator("button.cx-generate").click()
    expect(panel.locator(".cx-error")).to_contain_text("width: must be even")
    expect(panel.locator(".cx-message")).to_be_hidden()
    width.fill("192")
    width.press("Enter")
    run_cell(page, 2)
    table = output_text(page, 2)
    assert re.search(r"cancelled\s+tester", table) and re.search(r"succeeded\s+tester", table), table

    latencies = page.evaluate("window.__explorerPreviewLatency")
    assert latencies and all(0 <= x < 5 for x in latencies)


def test_player_steps_frames_by_keyboard(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "player", [
        SETUP,
        "run = lab.generate('spiral galaxy of stars', seed=2, frames=16, fps=8, width=160, height=96, progress=False)\nplayer = lab.ui.player(run)\nplayer",
        "print('frame', player.frame)",
    ])
    open_notebook(page, jupyter_server, nb)
    run_all(page)
    root = wait_for_widget(page, 1, ".cx-player")
    video = root.locator("video")
    expect(video).to_have_js_property("readyState", 4, timeout=15000)
    root.click(position={"x": 5, "y": 5})
    root.focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", ".", ","):
        page.keyboard.press(key)
    expect(root).to_have_attribute("data-frame", "3")
    assert abs(_frame_of(video) - 3.5 / 8) < 0.02
    expect(root.locator(".cx-counter")).to_contain_text("frame 4/16")
    run_cell(page, 2)
    wait_for_output(page, 2, "frame 3")  # the browser's frame reached Python
    shot(page, "player-01-stepped")


SPREAD_JS = "els => { const t = els.map(v => v.currentTime); return {min: Math.min(...t), max: Math.max(...t)}; }"


def test_sweep_fills_cell_by_cell_plays_on_one_transport_and_rates_a_cell(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "sweep", [
        SETUP,
        "grid = lab.ui.sweep('forest mountains', {'seed': [1, 2], 'guidance': [2.0, 9.0]}, frames=16, fps=8, width=96, height=64, steps=4, extra={'pace': 0.1})\ngrid",
        "import json\nprint('RATINGS', json.dumps([[r.run_id, r.author, int(r.score)] for r in lab.ratings().itertuples()]))",
    ])
    open_notebook(page, jupyter_server, nb)
    run_cell(page, 0)
    run_cell(page, 1)
    grid = wait_for_widget(page, 1, ".cx-sweep")
    expect(grid.locator(".cx-sweep-head")).to_have_count(2)  # headers at once
    statuses = []
    deadline = time.time() + 30
    while time.time() < deadline:
        done = grid.locator(".cx-sweep-cell[data-status=succeeded]").count()
        statuses.append(done)
        if done == 4:
            break
        time.sleep(0.1)
    assert statuses[-1] == 4 and len(set(statuses)) >= 3, statuses  # filled one by one, not all at once
    expect(grid.locator(".cx-sweep-shared")).to_contain_text("forest mountains")
    expect(grid.locator(".cx-sweep-taste-note")).to_contain_text("taste model: not ready")  # no votes in this log yet

    # one transport for the whole grid; a cell's own controls only on hover
    videos = grid.locator(".cx-sweep-cell video")
    expect(videos).to_have_count(4)
    assert grid.locator(".cx-play").count() == 1 and grid.locator(".cx-scrub").count() == 1 and grid.locator(".cx-speed").count() == 1
    page.wait_for_function("els => els.every(v => v.readyState >= 2)", arg=videos.element_handles(), timeout=15000)
    cell = grid.locator(".cx-sweep-cell[data-status=succeeded]").nth(3)
    tools = cell.locator(".cx-sweep-tools")
    page.mouse.move(0, 0)
    expect(tools).to_have_css("opacity", "0")
    cell.hover()
    expect(tools).to_have_css("opacity", "1")
    page.mouse.move(0, 0)
    expect(tools).to_have_css("opacity", "0")

    # play: every cell moves, on one clock
    grid.locator(".cx-play").click()
    expect(grid).to_have_class(re.compile(r"\bcx-playing\b"))
    page.wait_for_function("els => els.every(v => v.currentTime > 0.6)", arg=videos.element_handles(), timeout=15000)
    for _ in range(5):
        spread = videos.evaluate_all(SPREAD_JS)
        assert spread["max"] - spread["min"] <= 2 / 8 + 1e-3, spread  # within two frames (8 fps)
    shot(page, "sweep-01-playing")
    # the keyboard drives the same transport: "." pauses and steps every cell one frame
    grid.focus()
    page.keyboard.press(".")
    expect(grid).not_to_have_class(re.compile(r"\bcx-playing\b"))
    frame = int(grid.get_attribute("data-frame"))
    page.wait_for_function("els => els.every(v => !v.seeking)", arg=videos.element_handles())
    assert {round(t * 8 - 0.5) for t in videos.evaluate_all("els => els.map(v => v.currentTime)")} == {frame}

    # a star under a cell rates that cell's run, as the lab's author
    run_id = cell.get_attribute("data-id")
    cell.locator('.cx-star[data-score="3"]').click()
    expect(cell.locator(".cx-star.cx-on")).to_have_count(3)
    run_cell(page, 2)
    text = wait_for_output(page, 2, "RATINGS").inner_text()
    assert json.loads(text.split("RATINGS", 1)[1]) == [[run_id, "tester", 3]]

    # a cell's "open" shows it alone in a full player
    cell.hover()
    cell.locator(".cx-sweep-open").click()
    expect(grid.locator(".cx-sweep-detail .cx-player")).to_have_count(1)
    shot(page, "sweep-02-rated-open")


def _saved(path) -> tuple[dict, int]:
    """The notebook on disk and how many anywidget states it holds (the state that lets it reopen)."""
    try:
        saved = json.loads(path.read_text())
    except ValueError:
        return {}, 0
    state = saved.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return saved, sum(m.get("model_name") == "AnyModel" for m in state.values())


def test_a_notebook_with_20_clips_saved_grows_by_at_most_3_5kb_per_clip(page, jupyter_server, notebook_dir):
    """Saved with each widget's state (so a reopened notebook shows its clips): a 0.7 KB loader, clip metadata, no media."""
    setup = SETUP + "\nruns = [lab.generate('candy bubbles', seed=i, frames=8, width=96, height=64, steps=2, progress=False) for i in range(20)]"
    cells = [setup, *[f"lab.ui.player(runs[{i}])" for i in range(20)]]
    nb = write_notebook(notebook_dir, "twenty", cells)
    before = nb.stat().st_size
    open_notebook(page, jupyter_server, nb)
    run_all(page)
    wait_for_widget(page, 20, ".cx-player")
    page.keyboard.press("Control+s")
    # wait for the saved file to hold all 20 outputs and their widgets' state (an autosave during a slow run
    # can write the file earlier, with fewer)
    deadline = time.time() + 60
    while True:
        saved, widgets = _saved(nb)
        if sum(len(c.get("outputs", [])) for c in saved.get("cells", [])) >= 20 and widgets >= 20:
            break
        assert time.time() < deadline, f"the saved notebook holds {widgets} widget states"
        time.sleep(0.2)
    growth = (nb.stat().st_size - before) / 20
    print(f"notebook grew {growth:.0f} bytes per displayed clip")
    assert growth <= 3584
    assert "base64" not in nb.read_text() and "data:video" not in nb.read_text()
