"""Files picked in the Generate panel, in a real JupyterLab + Chromium: a picture chosen with the file picker is sent
to the kernel, stored, shown as a chip, and the next Generate starts from it; ✕ removes it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lab import SCREENSHOTS, add_cell, open_notebook, run_all, run_cell, wait_for_output, wait_for_widget, write_notebook

SETUP = """
import explorer
lab = explorer.open("clips.duckdb", author="browser")
panel = lab.ui.generate("a kite over the sea", frames=6, width=96, height=72, steps=2)
print("READY")
"""


def test_a_picture_picked_in_the_panel_is_where_the_next_clip_starts(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    picture = notebook_dir / "red.png"
    Image.fromarray(np.full((72, 96, 3), (210, 30, 30), np.uint8)).save(picture)
    nb = write_notebook(notebook_dir, "attach", [SETUP, "panel"])
    open_notebook(page, jupyter_server, nb)
    run_all(page)
    wait_for_output(page, 0, "READY")
    panel = wait_for_widget(page, 1, ".cx-generate-panel")

    panel.locator(".cx-media-field").select_option("image")
    panel.locator(".cx-media-file").set_input_files(str(picture))
    chip = panel.locator('.cx-chip[data-field="image"]')
    expect(chip).to_have_text("first frame: red.png✕")
    thumb = chip.locator("img.cx-chip-thumb")
    expect(thumb).to_have_js_property("complete", True)
    assert thumb.evaluate("img => img.naturalWidth") > 0  # the stored picture's thumbnail, served back

    panel.locator(".cx-generate").click()
    expect(panel.locator(".cx-take")).to_have_count(1, timeout=60_000)
    expect(panel.locator(".cx-progress-text")).to_have_attribute("data-state", "succeeded", timeout=60_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOTS / "generate-attach.png"))

    check = add_cell(page, "r = lab.run(panel.strip[0]['id']); "
                           "print('IMAGE', r.request.image['source'], r.request.image['sha256'] == panel.media['image']['sha256'])")
    run_cell(page, check)
    wait_for_output(page, check, "IMAGE red.png True")

    chip.locator(".cx-media-remove").click()
    expect(panel.locator(".cx-chip")).to_have_count(0)
    gone = add_cell(page, "print('MEDIA', panel.media)")
    run_cell(page, gone)
    wait_for_output(page, gone, "MEDIA {}")
