"""The live-preview path: what previews cost per step in the kernel, and how long one takes to reach the screen.

(1) Per-step time of the sketch backend (256×256, 24 frames, 48 steps) with nobody
    watching (no previews made) against the Generate panel's path: a preview per
    step, JPEG-encoded and handed to the comm (here a no-op send), alternating,
    median of --repeat.
(2) Latency from a preview being produced in the kernel (its timestamp) to the
    browser having decoded and drawn it, in a real JupyterLab + Chromium (the
    browser-test harness), p50/p95 over the previews of a paced run.

    python bench/preview_path.py [--repeat 9] [--previews 60]
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

from common import machine, median, pct  # noqa: E402
import explorer  # noqa: E402
from explorer.backends.base import RunControl  # noqa: E402
from explorer.backends.sketch import SketchBackend  # noqa: E402
from explorer.request import Request  # noqa: E402


def per_step(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lab = explorer.open(Path(folder) / "bench.duckdb")
        panel = lab.ui.generate("neon city rain")
        panel.preview_rate = 1e9  # every step, the worst case
        panel.send = lambda *args, **kwargs: None  # no front end here: measure making the message, not the socket
        request = Request(prompt="neon city rain", frames=24, width=256, height=256, steps=48)
        backend = SketchBackend()
        quiet, watched = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            backend.generate(request, RunControl())
            quiet.append((time.perf_counter() - t) / request.steps)
            t = time.perf_counter()
            backend.generate(request, RunControl(on_step=lambda step: panel._on_step(step, 0, 1)))
            watched.append((time.perf_counter() - t) / request.steps)
    q, w = median(quiet), median(watched)
    print(f"(1) per step, sketch 24 frames 256x256 / 48 steps: no previews {q * 1000:.2f} ms, "
          f"a JPEG preview every step {w * 1000:.2f} ms  (+{(w - q) * 1000:.2f} ms, {w / q:.2f}x); "
          f"at the panel's default 4 previews/s the added cost is {(w - q) * 4 * 1000:.1f} ms per second of generation")


def latency(previews: int) -> None:
    from lab import open_notebook, run_cell, start_jupyter_server, stop_jupyter_server, wait_for_widget, write_notebook  # noqa: E402
    from playwright.sync_api import sync_playwright

    from lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

    with tempfile.TemporaryDirectory() as folder:
        server = start_jupyter_server(Path(folder))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page()
                nb = write_notebook(server.root, "latency", [
                    "import explorer\nlab = explorer.open('latency.duckdb')",
                    f"panel = lab.ui.generate('neon city rain', frames=16, width=256, height=256, steps={previews}, extra={{'pace': 0.05}})\n"
                    "panel.preview_rate = 100\npanel",
                ])
                open_notebook(page, server, nb)
                run_cell(page, 0)
                run_cell(page, 1)
                widget = wait_for_widget(page, 1, ".cx-generate-panel")
                widget.locator("button.cx-generate").click()
                page.wait_for_function("el => el.dataset.running === 'yes'", arg=widget.element_handle(), timeout=30_000)
                page.wait_for_function("el => el.dataset.running === 'no'", arg=widget.element_handle(), timeout=120_000)
                page.wait_for_timeout(500)
                values = page.evaluate("window.__explorerPreviewLatency")
                browser.close()
        finally:
            stop_jupyter_server(server)
    print(f"(2) kernel -> drawn in the browser, {len(values)} previews of 128 px JPEG: "
          f"p50 {pct(values, 50) * 1000:.1f} ms, p95 {pct(values, 95) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--previews", type=int, default=60)
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {machine()}")
    per_step(args.repeat)
    if not args.skip_browser:
        latency(args.previews)


if __name__ == "__main__":
    main()
