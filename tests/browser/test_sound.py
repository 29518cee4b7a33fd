"""Sound in a real JupyterLab + Chromium: the player plays a clip's track (and mutes it), compare is muted until a
clip's sound is picked, then plays it on the shared clock; a clip without sound has no sound control at all.

Chromium counts the audio bytes it decodes (``webkitAudioDecodedByteCount``): more than zero means it played sound.
"""

from __future__ import annotations

from lab import open_notebook, run_cell, wait_for_output, wait_for_widget, write_notebook

SETUP = """
import wave, numpy as np, explorer
y = np.zeros(22050 * 4, np.float32)
for t in np.arange(0.25, 4, 0.25):
    y[int(t * 22050):int(t * 22050) + 220] = np.hanning(220) * np.sin(np.arange(220) * 0.7) * 0.9
with wave.open("clicks.wav", "wb") as out:
    out.setnchannels(1); out.setsampwidth(2); out.setframerate(22050); out.writeframes((y * 32767).astype("<i2").tobytes())
lab = explorer.open("sound.duckdb", author="ada")
loud = lab.generate("red kite over dunes", audio="clicks.wav", frames=24, fps=8, width=96, height=64, steps=2, progress=False)
quiet = lab.generate("blue kite over sea", frames=24, fps=8, width=96, height=64, steps=2, progress=False)
print("ready", loud.ok and quiet.ok)
"""
CELLS = [SETUP, "lab.ui.player(loud)", "lab.ui.player(quiet)", "lab.ui.compare([loud, quiet], width=160)"]
LOUD, QUIET, COMPARE = 1, 2, 3
HEARD = "v => v.webkitAudioDecodedByteCount > 0 && v.currentTime > 0.3"


def test_player_and_compare_play_the_sound(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "sound", CELLS)
    open_notebook(page, jupyter_server, nb)
    for i in range(len(CELLS)):
        run_cell(page, i)
    wait_for_output(page, 0, "ready True")

    # -- the player: sound on, one button mutes it ------------------------------------------------------
    player = wait_for_widget(page, LOUD, ".cx-player")
    video = player.locator("video")
    sound = player.locator(".cx-sound")
    expect(sound).to_have_count(1)
    expect(sound).to_have_attribute("title", "Sound: clicks.wav (click to mute)")
    assert video.evaluate("v => v.muted") is False
    player.locator(".cx-play").click()
    page.wait_for_function(HEARD, arg=video.element_handle(), timeout=15_000)
    sound.click()
    assert video.evaluate("v => v.muted") is True
    expect(sound).not_to_have_class("cx-sound cx-on")
    player.locator(".cx-play").click()

    silent = wait_for_widget(page, QUIET, ".cx-player")
    expect(silent.locator(".cx-sound")).to_have_count(0)
    assert silent.locator("video").evaluate("v => v.muted") is True

    # -- compare: muted by default; "sound: A" plays A's track while the transport plays ----------------------
    grid = wait_for_widget(page, COMPARE, ".cx-compare")
    pick = grid.locator(".cx-compare-sound")
    expect(pick.locator("option")).to_have_text(["muted", "sound: A"])  # B has no sound to offer
    assert pick.input_value() == ""
    track = grid.locator("audio.cx-compare-audio")
    grid.locator(".cx-play").click()
    page.wait_for_function("g => Number(g.dataset.frame) > 2", arg=grid.element_handle(), timeout=10_000)
    assert track.evaluate("a => a.paused && !a.src") is True  # playing, and still silent
    grid.locator(".cx-play").click()

    pick.select_option(label="sound: A")
    expect(grid).to_have_attribute("data-sound", "A")
    grid.locator(".cx-play").click()
    page.wait_for_function("a => !a.paused && " + HEARD.removeprefix("v => ").replace("v.", "a."), arg=track.element_handle(), timeout=15_000)
    grid.locator(".cx-play").click()
    page.wait_for_function("a => a.paused", arg=track.element_handle(), timeout=5_000)
    # paused on the shared clock's frame: the track waits there
    frame = int(grid.get_attribute("data-frame"))
    assert abs(track.evaluate("a => a.currentTime") - frame / 8) < 0.2
