"""A notebook saved with widgets, reopened after the server restarts, shows its clips before any cell runs again."""

from __future__ import annotations

import json
import time

from lab import open_notebook, run_all, shot, start_jupyter_server, stop_jupyter_server, wait_for_widget, write_notebook


def _saved_widget_models(path) -> int:
    try:
        state = json.loads(path.read_text()).get("metadata", {}).get("widgets", {})
    except ValueError:  # caught mid-write
        return 0
    return len(state.get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))


def test_reopened_notebook_shows_playable_clips_without_running(browser, tmp_path):
    from playwright.sync_api import expect

    root = tmp_path / "root"
    nb = write_notebook(root, "saved", [
        "import explorer\nlab = explorer.open('saved.duckdb', author='tester')",
        "run = lab.generate('ocean waves at dawn', seed=4, frames=16, fps=8, width=160, height=96, progress=False)\nlab.ui.player(run)",
        "other = lab.fork(run, guidance=3.0, progress=False)\nlab.ui.compare([run, other])",
    ])
    first = start_jupyter_server(tmp_path / "first", root=root)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        open_notebook(page, first, nb)
        run_all(page)
        expect(wait_for_widget(page, 1, ".cx-player video", timeout=60_000)).to_have_js_property("readyState", 4, timeout=15000)
        wait_for_widget(page, 2, "video", timeout=60_000)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt").first.click()
        page.keyboard.press("Control+s")
        # saved with the widgets' state: wait for the file to hold it (a state, not a time)
        deadline = time.monotonic() + 30
        while _saved_widget_models(nb) < 2:
            assert time.monotonic() < deadline, "the notebook was not saved with its widget state"
            page.wait_for_timeout(100)
    finally:
        context.close()
        stop_jupyter_server(first)

    second = start_jupyter_server(tmp_path / "second", root=root)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        open_notebook(page, second, nb)  # no cell is run in this server
        player = wait_for_widget(page, 1, ".cx-player", timeout=60_000)
        video = player.locator("video")
        expect(video).to_have_js_property("readyState", 4, timeout=20000)
        video.evaluate("v => v.play()")
        page.wait_for_function("v => v.currentTime > 0.2", arg=video.element_handle(), timeout=10000)
        compare_videos = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(2).locator("video")
        expect(compare_videos).to_have_count(2, timeout=20000)
        expect(compare_videos.first).to_have_js_property("readyState", 4, timeout=20000)
        assert "model not found" not in page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").inner_text()
        prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt").all_inner_texts()
        assert all("[ ]" in p or p.strip() in ("[1]:", "[2]:", "[3]:") for p in prompts)
        shot(page, "reopen-after-restart")
    finally:
        context.close()
        stop_jupyter_server(second)
