"""Conditioning media in a real JupyterLab + Chromium: a run's pictures show as thumbnails on its gallery tile,
in the gallery's detail pane and under the player, served by the media route."""

from __future__ import annotations

from lab import cell_output, open_notebook, run_all, wait_for_output, wait_for_widget, write_notebook

SETUP = """
import explorer, numpy as np
lab = explorer.open("clips.duckdb", author="browser")
FAST = dict(frames=8, width=96, height=72, steps=2, progress=False)
source = lab.generate("a red fox", **FAST)
later = lab.extend(source, prompt="a green forest", last_image=np.full((72, 96, 3), 200, np.uint8), progress=False)
print("READY", later.ok, len(later.request.image["sha256"]))
"""
CELLS = [SETUP, "g = lab.ui.gallery()\ng", "lab.ui.player(later)"]


def _loaded(locator) -> None:
    """Every image of ``locator`` has loaded real pixels."""
    from playwright.sync_api import expect

    for index in range(locator.count()):
        expect(locator.nth(index)).to_have_js_property("complete", True)
        assert locator.nth(index).evaluate("img => img.naturalWidth") > 0


def test_conditioning_thumbnails_in_the_gallery_and_the_player(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "conditioning", CELLS)
    open_notebook(page, jupyter_server, nb)
    run_all(page)
    wait_for_output(page, 0, "READY True 64")

    gallery = wait_for_widget(page, 1, ".cx-gallery")
    tiles = gallery.locator(".cx-g-tile")
    expect(tiles).to_have_count(2)
    extended = tiles.filter(has_text="a green forest")
    inset = extended.locator(".cx-g-cond")
    expect(inset).to_have_count(1)  # the extended run shows what it started from; the source run shows none
    expect(tiles.filter(has_text="a red fox").locator(".cx-g-cond")).to_have_count(0)
    assert inset.get_attribute("title").startswith("image: frame 7 of run ") and "(+1 more)" in inset.get_attribute("title")
    _loaded(inset)

    extended.click()
    items = gallery.locator(".cx-g-detail .cx-conditioning-item")
    expect(items).to_have_count(2)
    assert items.evaluate_all("nodes => nodes.map(n => n.dataset.field)") == ["image", "last_image"]
    expect(items.locator("figcaption")).to_have_text(["image", "last image"])
    _loaded(items.locator("img"))

    player = wait_for_widget(page, 2, ".cx-clip-player")
    _loaded(player.locator(".cx-conditioning-item img"))
    expect(player.locator(".cx-conditioning-item")).to_have_count(2)
    cell_output(page, 1).evaluate("e => e.scrollIntoView({block: 'start'})")
