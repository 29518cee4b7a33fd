"""Live mode: latency from a slider change to the first preview of the take it asks for, on the screen.

In a real JupyterLab + Chromium (the browser-test harness): a Generate panel on the sketch backend at 256×256
(16 frames, 8 steps: the request defaults), live on. Each change is a real mouse click on the guidance slider's
track; the page timestamps the slider's input event (``performance.now()``) and the moment the preview that answers
that edit (its ``seq``) has been decoded into the <img> (``window.__explorerLiveLatency``, generate_panel.js).
So the figure holds everything a person waits for: the comm to the kernel, the debounce (``panel.live_delay``),
logging the run, the backend's first step, the JPEG, the comm back and the decode.

Two ways of changing:

- idle: one change, then wait until its take is done before the next (a person who looks, then moves on);
- mid-take: the next change as soon as the previous one's first preview shows, so each change cancels a take
  being made (the stale-take path: cancel, log it as cancelled, start the latest).

First, the kernel's share alone (no browser), to tell the kernel's time from the comm's and the page's.

    python bench/live_latency.py [--changes 40] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))

from common import load, machine, pct  # noqa: E402


def in_kernel(changes: int, delay: float) -> list[float]:
    """The kernel's share, no browser: from the form's trait changing (what the comm does on an edit) to the first
    preview of that take handed to the comm, in ms (each change after the previous take is done)."""
    import threading

    import explorer

    with tempfile.TemporaryDirectory() as folder:
        lab = explorer.open(Path(folder) / "bench.duckdb")
        panel = lab.ui.generate("neon city rain", width=256, height=256)
        panel.live_delay = delay
        arrived: dict[int, float] = {}
        got = threading.Event()

        def send(content, buffers=None):
            if content.get("type") == "preview" and content.get("seq") not in arrived:
                arrived[content["seq"]] = time.perf_counter()
                got.set()

        panel.send = send
        panel.live = True
        panel.wait(30)
        values = []
        for i in range(1, changes + 1):
            got.clear()
            asked = time.perf_counter()
            with panel.hold_trait_notifications():  # as ipywidgets applies a browser update: both traits, then observers
                panel.live_seq = i
                panel.fields = {**panel.fields, "guidance": 2.0 + (i * 7) % 17 * 0.5}
            got.wait(10)
            values.append((arrived[i] - asked) * 1000)
            panel.wait(30)
        panel.live = False
        lab.log.close()
    return values


def measure(changes: int, delay: float) -> dict[str, list[float]]:
    from lab import CHROMIUM, CHROMIUM_ARGS, open_notebook, run_cell, start_jupyter_server, stop_jupyter_server, wait_for_widget, write_notebook
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        server = start_jupyter_server(Path(folder))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                nb = write_notebook(server.root, "live-latency", [
                    "import explorer\nlab = explorer.open('latency.duckdb')",
                    f"panel = lab.ui.generate('neon city rain', width=256, height=256)\npanel.live_delay = {delay}\npanel",
                    "print('TAKES', len(lab.runs(live=True)), 'CANCELLED', len(lab.runs(live=True, status='cancelled')))",
                ])
                open_notebook(page, server, nb)
                run_cell(page, 0)
                run_cell(page, 1)
                panel = wait_for_widget(page, 1, ".cx-generate-panel")
                handle = panel.element_handle()
                slider = panel.locator("input.cx-slider[name=guidance]")
                panel.locator("input.cx-live").check()
                panel.locator(".cx-take").first.wait_for(timeout=30_000)  # the first take (switching on): warms the path
                page.wait_for_function("el => el.dataset.running === 'no'", arg=handle, timeout=30_000)
                from playwright.sync_api import TimeoutError as PlaywrightTimeout

                for mode in ("idle", "mid-take"):
                    page.evaluate("window.__explorerLiveLatency.length = 0")
                    missed = 0
                    for i in range(changes):
                        box = slider.bounding_box()  # again each time: the panel's layout may move (messages, the strip)
                        y = box["y"] + box["height"] / 2
                        before = page.evaluate("window.__explorerLiveLatency.length")
                        # a new value each time: positions cycle over the track, never the same twice in a row
                        x = box["x"] + box["width"] * (0.1 + 0.8 * ((i * 7) % 17) / 16)
                        page.mouse.click(x, y)
                        try:
                            page.wait_for_function(f"() => window.__explorerLiveLatency.length > {before}", timeout=10_000)
                        except PlaywrightTimeout:
                            missed += 1  # no preview answered this change within 10 s: counted, not timed
                        if mode == "idle":
                            page.wait_for_function("el => el.dataset.running === 'no'", arg=handle, timeout=30_000)
                    page.wait_for_function("el => el.dataset.running === 'no'", arg=handle, timeout=30_000)
                    results[mode] = page.evaluate("window.__explorerLiveLatency.slice()")
                    results[f"{mode} missed"] = missed
                run_cell(page, 2)
                from lab import output_text

                results["log"] = output_text(page, 2).strip()
                browser.close()
        finally:
            stop_jupyter_server(server)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=40, help="slider changes per mode")
    parser.add_argument("--delay", type=float, default=0.05, help="the panel's live_delay (debounce), seconds")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {machine()}; load {load()}")
    kernel = in_kernel(args.changes, args.delay)
    print(f"in the kernel only (trait change -> first preview handed to the comm), {len(kernel)} changes: "
          f"p50 {pct(kernel, 50):.0f} ms, p90 {pct(kernel, 90):.0f} ms, min {min(kernel):.0f} ms")
    results = measure(args.changes, args.delay)
    for mode in ("idle", "mid-take"):
        values = results[mode]
        print(f"slider change -> first preview on screen, sketch 256x256, debounce {args.delay * 1000:.0f} ms, {mode}, {len(values)} changes: "
              f"p50 {pct(values, 50):.0f} ms, p90 {pct(values, 90):.0f} ms, min {min(values):.0f} ms, max {max(values):.0f} ms, "
              f"{results[mode + ' missed']} unanswered  (target p50 <= 200 ms)")
    print(f"log: {results['log']}")


if __name__ == "__main__":
    main()
